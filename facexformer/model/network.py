"""The whole network as a pure ``nn.Module``: backbone -> fusion -> two-way decoder -> task heads."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import torch
from torch import nn

from facexformer.model.backbone import Backbone
from facexformer.model.decoder import TwoWayDecoder
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.position import RandomFourierPositionEncoding
from facexformer.model.precision import compute_dtype


class FaceXFormerNet(nn.Module):
    """Every task owns ``num_tokens[name]`` learnable tokens and ``heads[name]``.

    All configured tokens always enter the decoder (they attend to each other, so dropping one would change
    the others' outputs); only the heads of the requested tasks run.

    ``released_tokens``: the token groups of a released model. They attend only to each other
    and the face tokens, and the face tokens attend only to them, so the released groups and the face tokens
    are computed exactly as in the released model; the other groups (new tasks) read everything. A released
    group may have no head (its task is not wanted): it stays in the decoder as context. ``None``: every
    token attends to every token, and every group needs a head.

    This is the network as trained; ``facexformer.inference.optimize.optimize_for_inference`` makes a faster
    copy for inference that shares its weights.
    """

    def __init__(
        self,
        backbone: Backbone,
        heads: Mapping[str, nn.Module],
        num_tokens: Mapping[str, int],
        dim: int = 256,
        depth: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        released_tokens: Collection[str] | None = None,
    ):
        super().__init__()
        released = list(num_tokens) if released_tokens is None else [n for n in num_tokens if n in released_tokens]
        unknown = set(released_tokens or ()) - set(num_tokens)
        headless = set(num_tokens) - set(heads) - set(released_tokens or ())
        if set(heads) - set(num_tokens) or headless or unknown:
            raise ValueError(
                f"heads {sorted(heads)}, tokens {sorted(num_tokens)} and released tokens {released_tokens} do not "
                "fit: every head needs tokens, and only released token groups may have no head"
            )
        self.backbone = backbone
        self.fusion = MultiScaleFusion(backbone.channels, dim)
        self.position = RandomFourierPositionEncoding(dim // 2)
        self.decoder = TwoWayDecoder(dim, depth, num_heads, mlp_dim)
        self.tokens = nn.ModuleDict({name: nn.Embedding(n, dim) for name, n in num_tokens.items()})
        self.heads = nn.ModuleDict(heads)
        self.released_tokens = released
        self.new_tokens = [n for n in num_tokens if n not in released]

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) normalised images -> task tokens (B, T, dim) and face tokens (B, dim, S/4, S/4).

        Images are cast to the backbone's dtype, so a model cast to bf16 takes float32 images too.
        """
        return self.run_decoder(self.fusion(self.backbone(images.to(compute_dtype(self.backbone)))))

    def run_decoder(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused face tokens (B, dim, h, w) -> task tokens (B, T, dim) and refined face tokens (B, dim, h, w).

        The decoder runs in its weights' dtype: float32 under autocast (only the backbone and fusion run in
        reduced precision there), bf16/fp16 in a model cast with ``.to(dtype)``.
        """
        dtype = compute_dtype(self.decoder)
        image = image.to(dtype)
        pe = self.position(*image.shape[-2:])
        tokens = self._token_weights(self.released_tokens, image.shape[0], dtype)
        extra = self._token_weights(self.new_tokens, image.shape[0], dtype)
        with torch.autocast(image.device.type, enabled=False):
            return self.decoder(image, pe, tokens, extra)

    def _token_weights(self, names: list[str], batch: int, dtype: torch.dtype) -> torch.Tensor | None:
        """The tokens of groups ``names`` in ``dtype``, (batch, T, dim); ``None`` for no group."""
        if not names:
            return None
        tokens = torch.cat([self.tokens[name].weight for name in names]).to(dtype)
        return tokens.unsqueeze(0).expand(batch, -1, -1)

    def run_head(self, name: str, queries: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Task ``name``'s head on its slice of the decoder's task tokens (any subset of the batch rows)."""
        return self.heads[name](queries[:, self._token_slices[name]], image)

    @property
    def _token_slices(self) -> dict[str, slice]:
        slices, start = {}, 0
        for name in self.released_tokens + self.new_tokens:
            size = self.tokens[name].num_embeddings
            slices[name] = slice(start, start + size)
            start += size
        return slices

    def forward(self, images: torch.Tensor, tasks: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) normalised images -> {task: raw head output (B, ...)} for the requested tasks.

        Images are cast to the backbone's dtype, so a model cast to bf16 takes float32 images too.
        """
        names = self.requested_tasks(tasks)
        queries, image = self.encode(images)
        return {name: self.run_head(name, queries, image) for name in names}

    def requested_tasks(self, tasks: Iterable[str] | None) -> list[str]:
        """``tasks`` as a list (None: all), checked against the heads."""
        names = self.task_names if tasks is None else list(tasks)
        unknown = [n for n in names if n not in self.heads]
        if unknown:
            raise KeyError(f"unknown task(s) {unknown}; this model has {self.task_names}")
        return names
