"""MLP fusion of the backbone's feature scales into one map of face tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MultiScaleFusion(nn.Module):
    """Per-scale Linear(C_i -> dim), bilinear resize to the finest scale, concat deepest first, 1x1 conv to dim
    (the released layout and order of operations)."""

    def __init__(self, in_channels: Sequence[int], dim: int = 256):
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(c, dim) for c in in_channels)
        self.fuse = nn.Conv2d(dim * len(in_channels), dim, kernel_size=1, bias=False)
        self.dim = dim

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """List of (B, C_i, H_i, W_i) maps, finest first -> (B, dim, H_0, W_0) face tokens."""
        size = features[0].shape[-2:]
        projected = []
        for x, proj in zip(features, self.proj, strict=True):
            y = proj(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            projected.append(y)
        return self.fuse(torch.cat(projected[::-1], dim=1))
