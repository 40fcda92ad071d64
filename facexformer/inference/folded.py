"""The decoder's attention and the multi-scale fusion computed in a cheaper order: the same functions up to
float rounding, with the same parameters, for inference (``optimize_for_inference`` swaps them in).

Both move a linear map from the many face tokens (56 x 56 at 224 px) onto the few task tokens or onto the
weights, so fewer multiply-adds touch the face tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facexformer.inference.softmax import softmax_last_dim
from facexformer.model.decoder import Attention
from facexformer.model.fusion import MultiScaleFusion


class FoldedAttention(Attention):
    """``Attention`` where, when one side is ``fold_ratio`` times shorter than the other (the task tokens reading
    the face tokens, or the face tokens reading the task tokens), the long side's projections are folded into
    the short side's tokens: a few large matrix products, with no per-head projection of the thousands of face
    tokens and no attention kernel over rows of a few task tokens. Otherwise it runs ``Attention`` itself.
    """

    fold_ratio = 4

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, dim), k and v (B, Nk, dim) -> (B, Nq, dim)."""
        if k.shape[1] * self.fold_ratio <= q.shape[1]:
            return self._few_keys(q, k, v)
        if q.shape[1] * self.fold_ratio <= k.shape[1]:
            return self._few_queries(q, k, v)
        return super().forward(q, k, v)

    def _head_weights(self, proj: nn.Linear) -> torch.Tensor:
        """A q/k/v projection's weight as (heads, head_dim, dim)."""
        return proj.weight.view(self.num_heads, -1, proj.weight.shape[-1])

    def _few_keys(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Scores x_n·(s·Wq_h^T k_ht) + s·bq_h·k_ht, then sum_ht p_nht (Wo_h v_ht) + bo: the query and output
        projections act on the few keys and values instead of on every query."""
        keys, values = self._split_heads(self.k_proj(k)), self._split_heads(self.v_proj(v))  # (B, h, T, d)
        scale = keys.shape[-1] ** -0.5
        to_scores = torch.einsum("bhtd,hdc->bcht", keys, self._head_weights(self.q_proj) * scale).flatten(2)
        bias = torch.einsum("bhtd,hd->bht", keys, self.q_proj.bias.view(self.num_heads, -1) * scale).flatten(1)
        scores = torch.baddbmm(bias.unsqueeze(1), q, to_scores)  # (B, Nq, h·T)
        weights = softmax_last_dim(scores.unflatten(-1, (self.num_heads, -1))).flatten(2)
        out_weight = self.out_proj.weight.view(self.out_proj.weight.shape[0], self.num_heads, -1)  # (dim, h, d)
        outputs = torch.einsum("bhtd,chd->bhtc", values, out_weight).flatten(1, 2)  # (B, h·T, dim)
        return torch.baddbmm(self.out_proj.bias, weights, outputs)

    def _few_queries(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Scores (s·Wk_h^T q_ht)·x_n + s·q_ht·bk_h, then Wv_h (sum_n p_htn x_n) + bv: the key and value
        projections act on the few queries' results. The key bias adds a constant per row, which softmax
        ignores, but it stays in the graph, so that every parameter takes part in a loss computed through it
        (DDP expects that)."""
        queries = self._split_heads(self.q_proj(q))  # (B, h, T, d)
        scaled = queries * queries.shape[-1] ** -0.5
        readers = torch.einsum("bhtd,hdc->bhtc", scaled, self._head_weights(self.k_proj)).flatten(1, 2)
        key_bias = torch.einsum("bhtd,hd->bht", scaled, self.k_proj.bias.view(self.num_heads, -1)).flatten(1)
        weights = softmax_last_dim(torch.baddbmm(key_bias.unsqueeze(-1), readers, k.transpose(1, 2)))  # (B, h·T, Nk)
        read = torch.bmm(weights, v).unflatten(1, (self.num_heads, -1))  # (B, h, T, dim)
        values = torch.einsum("bhtc,hdc->bthd", read, self._head_weights(self.v_proj)).flatten(2) + self.v_proj.bias
        return self.out_proj(values)


class FoldedFusion(MultiScaleFusion):
    """``MultiScaleFusion`` in a cheaper order: the 1x1 conv is linear and bilinear resizing acts on each channel
    alone, so both commute with the per-scale Linear. Each scale is projected straight to ``dim`` channels with
    the folded weights ``W_fuse[:, slice_i] @ W_i`` at its own resolution and only then resized and summed:
    about 4x fewer multiply-adds than projecting, resizing and convolving 4·dim channels at the finest scale.
    """

    def folded_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per scale, finest first: the (dim, C_i) weight and (dim,) bias of ``fuse`` applied after ``proj[i]``."""
        dtype = self.fuse.weight.dtype
        wide = torch.promote_types(dtype, torch.float32)  # a bf16/fp16 model folds in float32, then rounds once
        fuse = self.fuse.weight.flatten(1).to(wide)
        n = len(self.proj)
        folded = []
        for i, proj in enumerate(self.proj):
            block = fuse[:, (n - 1 - i) * self.dim : (n - i) * self.dim]  # concat order is deepest first
            weight, bias = block @ proj.weight.to(wide), block @ proj.bias.to(wide)
            folded.append((weight.to(dtype), bias.to(dtype)))
        return folded

    def forward(
        self, features: list[torch.Tensor], folded: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """List of (B, C_i, H_i, W_i) maps, finest first -> (B, dim, H_0, W_0) face tokens.

        ``folded``: ``folded_weights()`` computed once by a caller that runs many chunks of a batch.
        """
        size = features[0].shape[-2:]
        out = None
        for x, (weight, bias) in zip(features, folded or self.folded_weights(), strict=True):
            y = F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            out = y if out is None else out + y
        return out
