"""Geodesic loss between rotation matrices, and maps from raw head outputs to rotations in SO(3).

The loss is 6DRepNet's (``sixdrepnet/loss.py``; see ``TASKS.md`` §3.4): the angle of R_pred · R_gtᵀ,
θ = arccos(clamp((tr − 1) / 2, −1 + eps, 1 − eps)), in radians. The clamp keeps arccos' gradient finite.

The paper's head-pose head emits 9 tokens (one per matrix element) without saying how they become a rotation
(``TASKS.md`` §3.4 ⚠). ``rotation_from_9d`` projects them onto SO(3) with an SVD (the nearest rotation in the
Frobenius norm); ``rotation_from_6d`` is 6DRepNet's Gram–Schmidt map, for heads with 6 outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def rotation_from_6d(x: Tensor) -> Tensor:
    """(..., 6) outputs -> (..., 3, 3) rotations: columns = Gram–Schmidt of the two 3-vectors (6DRepNet)."""
    if x.shape[-1] != 6:
        raise ValueError(f"rotation_from_6d: expected (..., 6) inputs, got shape {tuple(x.shape)}")
    first = F.normalize(x[..., 0:3], dim=-1)
    third = F.normalize(torch.linalg.cross(first, x[..., 3:6], dim=-1), dim=-1)
    second = torch.linalg.cross(third, first, dim=-1)
    return torch.stack([first, second, third], dim=-1)


def rotation_from_9d(x: Tensor) -> Tensor:
    """(..., 9) row-major or (..., 3, 3) outputs -> the nearest rotation (..., 3, 3), det +1, via SVD.

    R = U · diag(1, 1, det(U Vᵀ)) · Vᵀ for M = U S Vᵀ. Differentiable; the gradient is undefined where two
    singular values of M coincide (measure zero for a network's raw output).
    """
    if x.shape[-1] == 9:
        matrix = x.reshape(*x.shape[:-1], 3, 3)
    elif x.ndim >= 2 and x.shape[-2:] == (3, 3):
        matrix = x
    else:
        raise ValueError(f"rotation_from_9d: expected (..., 9) or (..., 3, 3), got shape {tuple(x.shape)}")
    u, _, vh = torch.linalg.svd(matrix)
    sign = torch.linalg.det(u @ vh)
    ones = torch.ones_like(sign)
    correction = torch.diag_embed(torch.stack([ones, ones, sign], dim=-1))
    return u @ correction @ vh
