"""Landmark heatmaps from per-landmark tokens, refined by a small hourglass, and their soft-argmax.

Coordinates here are heatmap pixels: column j / row i of an H×W map is the point (x=j, y=i); the crop-frame
conversion lives in ``facexformer/tasks/landmarks.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facexformer.model.heads import HypernetworkMaps
from facexformer.model.hourglass import Hourglass

ACTIVATIONS = ("softmax", "none")
_MASS_FLOOR = 1e-6


class HeatmapHead(nn.Module):
    """One heatmap per landmark token: a hypernetwork MLP on each token dotted with the face tokens upscaled
    ``upscale`` times (the parsing head's design, 4x there), then refined by an hourglass that sees those
    maps, the features and two coordinate channels (x, y in [-1, 1], as in CoordConv: the face tokens carry
    position only weakly).

    forward(tokens (B, N, dim), image (B, dim, h, w)) -> heatmaps (B, N, H, W) with H = W = ``heatmap_size``,
    or upscale·h when None. Choose ``upscale`` no larger than ``heatmap_size`` needs: the maps are computed
    at upscale·h and then resized. ``activation``: "softmax" makes each map a distribution over its
    pixels (non-negative, sums to 1; for STAR); "none" leaves the maps raw, for regression onto Gaussian
    targets (a ReLU there can die on all-zero maps and a sigmoid saturates in that trivial solution).
    The refinement's last convolution starts at zero, so a fresh head outputs the hypernetwork maps.
    """

    def __init__(
        self,
        dim: int,
        num_points: int,
        heatmap_size: int | None = None,
        activation: str = "softmax",
        up_channels: tuple[int, int] = (64, 32),
        upscale: int = 4,
        hourglass_channels: int = 64,
        hourglass_depth: int = 3,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"HeatmapHead: activation must be one of {ACTIVATIONS}, got {activation!r}")
        if heatmap_size is not None and heatmap_size < 2:
            raise ValueError(f"HeatmapHead: heatmap_size must be at least 2, got {heatmap_size}")
        self.heatmap_size = heatmap_size
        self.activation = activation
        self.maps = HypernetworkMaps(dim, up_channels, upscale)
        features = up_channels[1]
        self.refine_in = nn.Conv2d(num_points + features + 2, hourglass_channels, kernel_size=1)
        self.hourglass = Hourglass(hourglass_channels, hourglass_depth)
        self.refine_out = nn.Conv2d(hourglass_channels, num_points, kernel_size=1)
        nn.init.zeros_(self.refine_out.weight)
        nn.init.zeros_(self.refine_out.bias)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        features = self.maps.upscale(image)
        size = self.heatmap_size
        if size is not None and features.shape[-2:] != (size, size):
            shrink = size < features.shape[-1]
            # in float32: the antialiased resize has no bfloat16 CPU kernel (bf16 models and bf16-mixed training)
            features = F.interpolate(
                features.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
            ).to(features.dtype)
        coarse = self.maps.project(tokens, features)
        refined = self.hourglass(self.refine_in(torch.cat([coarse, features, _coordinates(features)], dim=1)))
        logits = coarse + self.refine_out(refined)
        if self.activation == "none":
            return logits
        return logits.float().flatten(2).softmax(dim=-1).reshape(logits.shape)


def _coordinates(like: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) pixel-centre positions x, y in [-1, 1] (align_corners=False), like ``like``'s maps."""
    b, _, h, w = like.shape
    xs = (2 * torch.arange(w, dtype=like.dtype, device=like.device) + 1) / w - 1
    ys = (2 * torch.arange(h, dtype=like.dtype, device=like.device) + 1) / h - 1
    grid = torch.stack([xs.expand(h, w), ys.unsqueeze(-1).expand(h, w)])
    return grid.expand(b, 2, h, w)


def soft_argmax(heatmaps: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Centre of mass of each non-negative map: (B, N, H, W) -> (B, N, 2) heatmap pixels (x, y).

    Each map is divided by max(its sum, 1e-6), as STAR does, so an empty map gives the map's centre and
    the result equals STAR's ``heatmap_mean_cov`` mean in pixel units. With ``window`` = r, only the
    (2r + 1)² pixels around each map's argmax count (a local soft-argmax, robust to far-away mass).
    Differentiable in the map values.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"soft_argmax: expects heatmaps (B, N, H, W), got shape {tuple(heatmaps.shape)}")
    if heatmaps.dtype in (torch.float16, torch.bfloat16):
        heatmaps = heatmaps.float()
    height, width = heatmaps.shape[-2:]
    xs = torch.arange(width, dtype=heatmaps.dtype, device=heatmaps.device) - (width - 1) / 2
    ys = torch.arange(height, dtype=heatmaps.dtype, device=heatmaps.device) - (height - 1) / 2
    if window is not None:
        if window < 0:
            raise ValueError(f"soft_argmax: window must be non-negative, got {window}")
        peak = heatmaps.flatten(2).argmax(dim=-1)
        row = (peak // width).to(heatmaps.dtype) - (height - 1) / 2
        col = (peak % width).to(heatmaps.dtype) - (width - 1) / 2
        near_y = (ys - row.unsqueeze(-1)).abs() <= window
        near_x = (xs - col.unsqueeze(-1)).abs() <= window
        heatmaps = heatmaps * (near_y.unsqueeze(-1) & near_x.unsqueeze(-2))
    mass = heatmaps.sum(dim=(-2, -1)).clamp_min(_MASS_FLOOR)
    x = (heatmaps.sum(dim=-2) * xs).sum(dim=-1) / mass + (width - 1) / 2
    y = (heatmaps.sum(dim=-1) * ys).sum(dim=-1) / mass + (height - 1) / 2
    return torch.stack([x, y], dim=-1)


def render_gaussians(centres: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """Unnormalised Gaussians (peak 1 at each centre): (B, N, 2) heatmap pixels (x, y) -> (B, N, H, W).

    ``sigma`` is in heatmap pixels; centres may be fractional or lie outside the map (partial or empty maps).
    """
    if sigma <= 0:
        raise ValueError(f"render_gaussians: sigma must be positive, got {sigma}")
    if centres.shape[-1] != 2:
        raise ValueError(f"render_gaussians: expects centres (..., 2) as (x, y), got {tuple(centres.shape)}")
    xs = torch.arange(width, dtype=centres.dtype, device=centres.device)
    ys = torch.arange(height, dtype=centres.dtype, device=centres.device)
    dx2 = (xs - centres[..., :1]).pow(2)
    dy2 = (ys - centres[..., 1:]).pow(2)
    return torch.exp(-(dy2.unsqueeze(-1) + dx2.unsqueeze(-2)) / (2 * sigma**2))
