"""A small hourglass (Newell et al., ECCV 2016): pool down ``depth`` times, come back up, add skips.

Normalisation is GroupNorm, so a block's output never depends on the other samples of the (task-masked)
batch. Any spatial size works: pooling rounds up and each upsampled map is resized to its skip's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """Two pre-activation 3x3 convolutions (GroupNorm, ReLU, conv) plus the identity; keeps (B, C, H, W)."""

    def __init__(self, channels: int, groups: int = 8):
        super().__init__()
        if channels % groups:
            raise ValueError(f"ResidualBlock: {channels} channels cannot form {groups} GroupNorm groups")
        self.body = nn.Sequential(
            nn.GroupNorm(groups, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Hourglass(nn.Module):
    """Recursive encoder-decoder: (B, C, H, W) -> (B, C, H, W).

    At each of the ``depth`` levels: a skip block at the current resolution, plus a 2x max-pool, a block,
    the next level (a single block at the bottom), a block and a nearest upsampling back to the skip's size.
    """

    def __init__(self, channels: int, depth: int = 3, groups: int = 8):
        super().__init__()
        if depth < 1:
            raise ValueError(f"Hourglass: depth must be at least 1, got {depth}")
        self.skip = ResidualBlock(channels, groups)
        self.down = ResidualBlock(channels, groups)
        self.inner = Hourglass(channels, depth - 1, groups) if depth > 1 else ResidualBlock(channels, groups)
        self.up = ResidualBlock(channels, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.down(F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True))
        low = self.up(self.inner(low))
        return self.skip(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")
