"""The whole network as a pure ``nn.Module``: backbone -> fusion -> two-way decoder -> task heads."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import torch
from torch import nn

from facexformer.model.backbone import Backbone
from facexformer.model.decoder import TwoWayDecoder
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.onednn_linear import use_onednn_linears
from facexformer.model.position import RandomFourierPositionEncoding
from facexformer.model.precision import compute_dtype


class FaceXFormerNet(nn.Module):
    """Every task owns ``num_tokens[name]`` learnable tokens and ``heads[name]``.

    All configured tokens always enter the decoder (they attend to each other, so dropping one would change
    the others' outputs); only the heads of the requested tasks run.

    ``released_tokens``: the token groups of a released model (official mode). They attend only to each other
    and the face tokens, and the face tokens attend only to them, so the released groups and the face tokens
    are computed exactly as in the released model; the other groups (new tasks) read everything. A released
    group may have no head (its task is not wanted): it stays in the decoder as context. ``None``: every
    token attends to every token, and every group needs a head.

    ``cpu_inference_chunk``: on CPU without autograd, ``forward`` runs everything after the backbone on this
    many samples at a time, so the (dim, 56, 56) face tokens and their intermediates stay in cache (about 15%
    less time after the backbone at batch 8 on 2 cores; outputs equal to float rounding). ``None``: whole batch.

    Every ``nn.Linear`` inside (backbone and heads included) becomes a ``OneDnnLinear`` sharing its parameters:
    CPU inference runs oneDNN with packed weights (float32, all tasks 1.77x faster on an AMD EPYC), training runs
    ``F.linear`` as before.
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
        cpu_inference_chunk: int | None = 2,
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
        self.cpu_inference_chunk = cpu_inference_chunk
        self.released_tokens = released
        self.new_tokens = [n for n in num_tokens if n not in released]
        use_onednn_linears(self)

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def decode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) normalised images -> task tokens (B, T, dim) and face tokens (B, dim, S/4, S/4)."""
        return self.decode_features(self.backbone(images))

    def decode_features(
        self, features: list[torch.Tensor], folded_fusion: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's maps -> task tokens (B, T, dim) and face tokens (B, dim, h, w).

        The decoder runs in its weights' dtype: float32 under autocast (only the backbone and fusion run in
        reduced precision there), bf16/fp16 in a model cast with ``.to(dtype)``.
        """
        dtype = compute_dtype(self.decoder)
        image = self.fusion(features, folded_fusion).to(dtype)
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
        """Task ``name``'s head on its slice of the decoded task tokens (any subset of the batch rows)."""
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
        names = self.task_names if tasks is None else list(tasks)
        unknown = [n for n in names if n not in self.heads]
        if unknown:
            raise KeyError(f"unknown task(s) {unknown}; this model has {self.task_names}")
        features = self.backbone(images.to(compute_dtype(self.backbone)))
        step = self._chunk_size(images)
        if step >= images.shape[0]:
            queries, image = self.decode_features(features)
            return {name: self.run_head(name, queries, image) for name in names}
        folded = self.fusion.folded_weights()
        chunks = []
        for start in range(0, images.shape[0], step):
            queries, image = self.decode_features([f[start : start + step] for f in features], folded)
            chunks.append({name: self.run_head(name, queries, image) for name in names})
        return {name: torch.cat([c[name] for c in chunks]) for name in names}

    def _chunk_size(self, images: torch.Tensor) -> int:
        if self.cpu_inference_chunk and images.device.type == "cpu" and not torch.is_grad_enabled():
            return self.cpu_inference_chunk
        return images.shape[0]
