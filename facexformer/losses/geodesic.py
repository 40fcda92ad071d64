"""Geodesic loss between rotation matrices (the maps from raw head outputs to rotations: ``model/rotation.py``).

The loss is 6DRepNet's (``sixdrepnet/loss.py``; see ``TASKS.md`` §3.4): the angle of R_pred · R_gtᵀ,
θ = arccos(clamp((tr − 1) / 2, −1 + eps, 1 − eps)), in radians. The clamp keeps arccos' gradient finite.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _check_matrices(matrix: Tensor, name: str, what: str) -> None:
    if matrix.ndim < 2 or matrix.shape[-2:] != (3, 3):
        raise ValueError(f"{name}: {what} must be (..., 3, 3) rotations, got shape {tuple(matrix.shape)}")


def geodesic_distance(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """Rotation angle between (..., 3, 3) matrices ``pred`` and ``target`` -> (...) radians."""
    _check_matrices(pred, "geodesic_distance", "pred")
    _check_matrices(target, "geodesic_distance", "target")
    relative = pred @ target.transpose(-1, -2)
    trace = relative.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1) / 2).clamp(-1 + eps, 1 - eps))


class GeodesicLoss(nn.Module):
    """Mean (or per-sample, ``reduction="none"``) geodesic angle in radians between (B, 3, 3) rotations."""

    def __init__(self, eps: float = 1e-7, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"GeodesicLoss: reduction must be 'mean' or 'none', got {reduction!r}")
        self.eps = eps
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"GeodesicLoss: pred {tuple(pred.shape)} != target {tuple(target.shape)}")
        angle = geodesic_distance(pred, target, self.eps)
        return angle.mean() if self.reduction == "mean" else angle
