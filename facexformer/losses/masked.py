"""Missing landmarks in losses: a non-finite target point (the pipeline's NaN "missing" convention) is masked.

Every landmark loss reduces per point (regression: one value per (sample, point); heatmaps: one per channel)
and then averages over the points whose target is finite only, so a missing point adds neither to the loss
nor to its gradient and a sample whose landmarks are all missing drops out. Targets are made finite before
any arithmetic (the masked entries would otherwise send NaN gradients through ``torch.where``). A batch
without any annotated point gives a zero loss that is still connected to the output (so every parameter gets
a zero gradient, as distributed training expects).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facexformer.losses.shapes import check_same_shape


def finite_points(target: Tensor) -> Tensor:
    """(B, N, 2) coordinates -> (B, N) bool, True where both coordinates are finite."""
    return torch.isfinite(target).all(dim=-1)


def finite_channels(target: Tensor) -> Tensor:
    """(B, N, H, W) target heatmaps -> (B, N) bool, True where the whole map is finite."""
    return torch.isfinite(target).flatten(2).all(dim=-1)


def fill_missing(target: Tensor, valid: Tensor, value: float = 0.0) -> Tensor:
    """``target`` with the entries of invalid points (``valid`` (B, N) False) replaced by ``value``."""
    shape = valid.shape + (1,) * (target.ndim - valid.ndim)
    return torch.where(valid.reshape(shape), target, torch.full_like(target, value))


def masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` (B, N) over the entries where ``valid`` (B, N) is True; 0 (with a graph) if none."""
    kept = torch.where(valid, values, torch.zeros_like(values))
    return kept.sum() / valid.sum().clamp_min(1).to(values.dtype)


def masked_sum(values: Tensor, valid: Tensor) -> Tensor:
    """Sum of ``values`` (B, N) over the entries where ``valid`` (B, N) is True."""
    return torch.where(valid, values, torch.zeros_like(values)).sum()


class CoordinateL1Loss(nn.Module):
    """Mean absolute coordinate error (``torch.nn.L1Loss`` on (B, N, 2)) over the points with a finite target.

    ``forward(output, target)``: (B, N, 2) -> scalar; equals ``nn.L1Loss()`` when no point is missing.
    """

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_same_shape("CoordinateL1Loss", output, target, "(B, N, 2)")
        valid = finite_points(target)
        error = (output - fill_missing(target, valid)).abs().mean(dim=-1)
        return masked_mean(error, valid)


class HeatmapMSELoss(nn.Module):
    """Mean squared error of heatmaps (``torch.nn.MSELoss`` on (B, N, H, W)) over the channels whose target
    map is finite (a missing point renders a NaN map). Equals ``nn.MSELoss()`` when nothing is missing."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_same_shape("HeatmapMSELoss", output, target, "(B, N, H, W)")
        valid = finite_channels(target)
        error = (output - fill_missing(target, valid)).pow(2).flatten(2).mean(dim=-1)
        return masked_mean(error, valid)
