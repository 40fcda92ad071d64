"""The two-way "FaceX" decoder: task tokens and face tokens attend to each other (SAM's two-way transformer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from facexformer.model.precision import softmax_last_dim


class Attention(nn.Module):
    """Multi-head attention with an internal width ``dim // downsample`` (q, k, v and out projections).

    When one side is ``fold_ratio`` times shorter than the other (the task tokens reading the face tokens, or
    the face tokens reading the task tokens), the long side's projections are folded into the short side's
    tokens: the same attention up to rounding, as a few large matrix products, with no per-head projection of
    the thousands of face tokens and no attention kernel over rows of 18 (slow on CPU, worse still in bf16).
    """

    fold_ratio = 4

    def __init__(self, dim: int, num_heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        if inner % num_heads:
            raise ValueError(f"attention width {inner} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, dim), k and v (B, Nk, dim) -> (B, Nq, dim)."""
        if k.shape[1] * self.fold_ratio <= q.shape[1]:
            return self._few_keys(q, k, v)
        if q.shape[1] * self.fold_ratio <= k.shape[1]:
            return self._few_queries(q, k, v)
        q, k, v = (self._split_heads(proj(x)) for proj, x in ((self.q_proj, q), (self.k_proj, k), (self.v_proj, v)))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(rearrange(out, "b h n d -> b n (h d)"))

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b n (h d) -> b h n d", h=self.num_heads)

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
        ignores, but it stays in the graph: DDP expects every parameter to take part in the loss."""
        queries = self._split_heads(self.q_proj(q))  # (B, h, T, d)
        scaled = queries * queries.shape[-1] ** -0.5
        readers = torch.einsum("bhtd,hdc->bhtc", scaled, self._head_weights(self.k_proj)).flatten(1, 2)
        key_bias = torch.einsum("bhtd,hd->bht", scaled, self.k_proj.bias.view(self.num_heads, -1)).flatten(1)
        weights = softmax_last_dim(torch.baddbmm(key_bias.unsqueeze(-1), readers, k.transpose(1, 2)))  # (B, h·T, Nk)
        read = torch.bmm(weights, v).unflatten(1, (self.num_heads, -1))  # (B, h, T, dim)
        values = torch.einsum("bhtc,hdc->bthd", read, self._head_weights(self.v_proj)).flatten(2) + self.v_proj.bias
        return self.out_proj(values)


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, tokens -> image, token MLP, image -> tokens; post-norm after each step.

    The first block runs its self-attention without positional term and without residual, as released.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, downsample: int, skip_first_layer_pe: bool):
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.add_module("lin1", nn.Linear(dim, mlp_dim))
        self.mlp.add_module("act", nn.ReLU())
        self.mlp.add_module("lin2", nn.Linear(mlp_dim, dim))
        self.norm3 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample)
        self.norm4 = nn.LayerNorm(dim)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        key_pe: torch.Tensor,
        extra: torch.Tensor | None = None,
        extra_pe: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """queries (B, T, dim) task tokens, keys (B, HW, dim) face tokens, with their positional terms.

        ``extra`` (B, E, dim) with ``extra_pe``: tokens that read the task tokens, each other and the face
        tokens, but that neither the task tokens nor the face tokens read; ``queries`` and ``keys`` come out
        exactly as without them. Returns the new queries, keys and extra tokens.
        """
        k = keys + key_pe
        new_queries = self._update_tokens(queries, query_pe, queries, query_pe, keys, k)
        if extra is not None:
            context, context_pe = torch.cat([queries, extra], 1), torch.cat([query_pe, extra_pe], 1)
            extra = self._update_tokens(extra, extra_pe, context, context_pe, keys, k)
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, new_queries + query_pe, new_queries))
        return new_queries, keys, extra

    def _update_tokens(
        self,
        tokens: torch.Tensor,
        tokens_pe: torch.Tensor,
        context: torch.Tensor,
        context_pe: torch.Tensor,
        keys: torch.Tensor,
        keys_with_pe: torch.Tensor,
    ) -> torch.Tensor:
        """Self-attention of ``tokens`` over ``context`` (which includes them), then tokens -> image and MLP."""
        if self.skip_first_layer_pe:
            tokens = self.self_attn(tokens, context, context)
        else:
            tokens = tokens + self.self_attn(tokens + tokens_pe, context + context_pe, context)
        tokens = self.norm1(tokens)
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(tokens + tokens_pe, keys_with_pe, keys))
        return self.norm3(tokens + self.mlp(tokens))


class TwoWayDecoder(nn.Module):
    """``depth`` two-way blocks, then a final tokens -> image attention (the paper's unified head)."""

    def __init__(self, dim: int = 256, depth: int = 2, num_heads: int = 8, mlp_dim: int = 2048, downsample: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(dim, num_heads, mlp_dim, downsample, skip_first_layer_pe=i == 0) for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(dim, num_heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(
        self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, dim, h, w) face tokens, image_pe (1, dim, h, w), tokens (B, T, dim).

        ``extra`` (B, E, dim): tokens that attend to everything but that nothing attends to (new tasks on a
        released model): the task tokens and face tokens come out bit-for-bit as without them.
        Returns the refined task tokens (B, T + E, dim), extra ones last, and face tokens (B, dim, h, w).
        """
        height, width = image.shape[-2:]
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2).to(keys.dtype)
        queries, extra_queries = tokens, extra
        for layer in self.layers:
            queries, keys, extra_queries = layer(queries, keys, tokens, key_pe, extra_queries, extra)
        k = keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(queries + tokens, k, keys))
        if extra is not None:
            attn = self.final_attn_token_to_image(extra_queries + extra, k, keys)
            queries = torch.cat([queries, self.norm_final_attn(extra_queries + attn)], 1)
        return queries, keys.transpose(1, 2).reshape(keys.shape[0], -1, height, width)
