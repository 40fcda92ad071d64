"""The two-way "FaceX" decoder: task tokens and face tokens attend to each other (SAM's two-way transformer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with an internal width ``dim // downsample`` (q, k, v and out projections)."""

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
        q, k, v = (self._split_heads(proj(x)) for proj, x in ((self.q_proj, q), (self.k_proj, k), (self.v_proj, v)))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(rearrange(out, "b h n d -> b n (h d)"))

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b n (h d) -> b h n d", h=self.num_heads)


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
