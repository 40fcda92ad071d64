"""The whole network as a pure ``nn.Module``: backbone -> fusion -> two-way decoder -> task heads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from facexformer.model.backbone import TimmBackbone
from facexformer.model.decoder import TwoWayDecoder
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.position import RandomFourierPositionEncoding


class FaceXFormerNet(nn.Module):
    """Every task owns ``num_tokens[name]`` learnable tokens and ``heads[name]``.

    All configured tokens always enter the decoder (they attend to each other, so dropping one would change
    the others' outputs); only the heads of the requested tasks run.
    """

    def __init__(
        self,
        backbone: TimmBackbone,
        heads: Mapping[str, nn.Module],
        num_tokens: Mapping[str, int],
        dim: int = 256,
        depth: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 2048,
    ):
        super().__init__()
        if set(heads) != set(num_tokens):
            raise ValueError(f"heads {sorted(heads)} and tokens {sorted(num_tokens)} name different tasks")
        self.backbone = backbone
        self.fusion = MultiScaleFusion(backbone.channels, dim)
        self.position = RandomFourierPositionEncoding(dim // 2)
        self.decoder = TwoWayDecoder(dim, depth, num_heads, mlp_dim)
        self.tokens = nn.ModuleDict({name: nn.Embedding(n, dim) for name, n in num_tokens.items()})
        self.heads = nn.ModuleDict(heads)

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def decode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) normalised images -> task tokens (B, T, dim) and face tokens (B, dim, S/4, S/4).

        Under autocast only the backbone and fusion run in reduced precision: the decoder, a small share of
        the time, stays in float32 (bf16 there moves landmark outputs by ~1e-2 on the parity fixture).
        """
        image = self.fusion(self.backbone(images)).float()
        pe = self.position(*image.shape[-2:])
        tokens = torch.cat([emb.weight for emb in self.tokens.values()]).float()
        tokens = tokens.unsqueeze(0).expand(images.shape[0], -1, -1)
        with torch.autocast(images.device.type, enabled=False):
            return self.decoder(image, pe, tokens)

    def run_head(self, name: str, queries: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Task ``name``'s head on its slice of the decoded task tokens (any subset of the batch rows)."""
        return self.heads[name](queries[:, self._token_slices[name]], image)

    @property
    def _token_slices(self) -> dict[str, slice]:
        slices, start = {}, 0
        for name, emb in self.tokens.items():
            slices[name] = slice(start, start + emb.num_embeddings)
            start += emb.num_embeddings
        return slices

    def forward(self, images: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) normalised images -> {task: raw head output (B, ...)} for the requested tasks."""
        names = self.task_names if tasks is None else list(tasks)
        unknown = [n for n in names if n not in self.heads]
        if unknown:
            raise KeyError(f"unknown task(s) {unknown}; this model has {self.task_names}")
        queries, image = self.decode(images)
        return {name: self.run_head(name, queries, image) for name in names}
