"""``TinyConv``: a small convolutional backbone, declared by entry point as ``tiny_conv``.

Any ``nn.Module`` with ``channels`` (the widths of the maps it returns) whose forward maps (B, 3, S, S)
normalised images to NCHW maps, finest first, is a backbone; ``mean``/``std`` give its input normalisation.
Once the package is installed a config names it ``backbone: tiny_conv`` (or
``backbone: {class_path: tiny_conv, init_args: {width: 32}}``), and checkpoints of models built on it open
without a trust flag.
"""

from __future__ import annotations

import torch
from torch import nn


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=stride, stride=stride),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.GELU(),
    )


class TinyConv(nn.Module):
    """Three stages of strided convolutions: (B, 3, S, S) -> maps at strides 4, 8 and 16 with ``width``,
    ``2 * width`` and ``4 * width`` channels."""

    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def __init__(self, width: int = 16):
        super().__init__()
        self.channels = [width, 2 * width, 4 * width]
        self.stages = nn.ModuleList([_stage(3, width, 4), _stage(width, 2 * width, 2), _stage(2 * width, 4 * width, 2)])

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) -> [(B, width, S/4, S/4), (B, 2 width, S/8, S/8), (B, 4 width, S/16, S/16)]."""
        maps = []
        for stage in self.stages:
            images = stage(images)
            maps.append(images)
        return maps
