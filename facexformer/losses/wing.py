"""Wing and STAR's SmoothL1 losses on landmark coordinates, in STAR's per-point Euclidean form.

Reference: ZhenglinZhou/STAR @ 9b12574 ``lib/loss/wingLoss.py`` and ``lib/loss/smoothL1Loss.py``. Both act on
the Euclidean norm of each point's error (not on each coordinate): the squared norm is floored at 1e-6 before
the square root, so errors below 1e-3 count as 1e-3 in the linear parts and get no gradient from them.
Defaults are STAR's, for coordinates in its normalised [-1, 1] crop space (omega = 0.01 ~ 1.3 px at 256).

Points whose target is not finite (NaN: missing) are masked (``facexformer.losses.masked``): ``"mean"``
averages over the annotated points only, ``"sum"`` sums them, ``"none"`` gives 0 at missing points.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from facexformer.losses.masked import fill_missing, finite_points, masked_mean, masked_sum
from facexformer.losses.shapes import check_same_shape

_SQUARED_NORM_FLOOR = 1e-6
_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, valid: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return masked_mean(loss, valid)
    if reduction == "sum":
        return masked_sum(loss, valid)
    if reduction == "none":
        return torch.where(valid, loss, torch.zeros_like(loss))
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def smooth_l1_per_point(error: Tensor, scale: float = 0.01) -> Tensor:
    """STAR's SmoothL1 of each vector ``error`` (..., D) -> (...).

    With s² = squared norm and d = sqrt(max(s², 1e-6)): 0.5 / scale * s² where s² < scale²,
    else d - 0.5 * scale.
    """
    squared = error.pow(2).sum(dim=-1)
    norm = squared.clamp_min(_SQUARED_NORM_FLOOR).sqrt()
    return torch.where(squared < scale**2, (0.5 / scale) * squared, norm - 0.5 * scale)


def wing_per_point(error: Tensor, omega: float = 0.01, epsilon: float = 2.0) -> Tensor:
    """STAR's Wing of each vector ``error`` (..., D) -> (...).

    With d = sqrt(max(|error|², 1e-6)): omega * ln(1 + d / epsilon) where d < omega, else d - C with
    C = omega - omega * ln(1 + omega / epsilon) (the two pieces meet at d = omega).
    """
    norm = error.pow(2).sum(dim=-1).clamp_min(_SQUARED_NORM_FLOOR).sqrt()
    offset = omega - omega * math.log(1.0 + omega / epsilon)
    return torch.where(norm < omega, omega * torch.log(1.0 + norm / epsilon), norm - offset)


class SmoothL1Loss(nn.Module):
    """STAR's SmoothL1 on per-point Euclidean errors (not ``torch.nn.SmoothL1Loss``, which is per coordinate).

    ``forward(output, target)``: (B, N, 2) coordinates in any unit consistent with ``scale`` (STAR: normalised
    [-1, 1] crop space) -> scalar (``reduction="mean"`` over the B*N points, or ``"sum"``), or (B, N) for
    ``"none"``; points with a non-finite target are left out (module docstring).
    """

    def __init__(self, scale: float = 0.01) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"SmoothL1Loss: scale must be positive, got {scale}")
        self.scale = float(scale)

    def forward(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        check_same_shape("SmoothL1Loss", output, target, "(..., D)")
        valid = finite_points(target)
        error = output - fill_missing(target, valid)
        return _reduce(smooth_l1_per_point(error, self.scale), valid, reduction, "SmoothL1Loss")

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class WingLoss(nn.Module):
    """Wing loss (Feng et al., CVPR 2018) on per-point Euclidean errors, as in STAR.

    ``forward(output, target)``: (B, N, 2) coordinates (STAR: normalised [-1, 1] crop space) -> scalar mean
    over B*N (``reduction="sum"``, or ``"none"`` -> (B, N)), missing (non-finite) target points left out.
    The paper's per-coordinate pixel form with omega = 10, epsilon = 2 is a different parameterisation.
    """

    def __init__(self, omega: float = 0.01, epsilon: float = 2.0) -> None:
        super().__init__()
        if omega <= 0 or epsilon <= 0:
            raise ValueError(f"WingLoss: omega and epsilon must be positive, got {omega}, {epsilon}")
        self.omega = float(omega)
        self.epsilon = float(epsilon)

    def forward(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        check_same_shape("WingLoss", output, target, "(..., D)")
        valid = finite_points(target)
        error = output - fill_missing(target, valid)
        return _reduce(wing_per_point(error, self.omega, self.epsilon), valid, reduction, "WingLoss")

    def extra_repr(self) -> str:
        return f"omega={self.omega}, epsilon={self.epsilon}"
