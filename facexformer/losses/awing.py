"""Adaptive Wing loss (Wang et al., ICCV 2019) on landmark heatmaps, as in STAR.

Reference: ZhenglinZhou/STAR @ 9b12574 ``lib/loss/awingLoss.py`` (defaults omega 14, theta 0.5, epsilon 1,
alpha 2.1, weight map on). Per element, with delta = |output - target| and a = alpha - target:
omega * ln(1 + (delta / epsilon)^a) where delta < theta, else A * delta - C, where A and C make the two pieces
meet with equal slope at delta = theta. The weight map is 11 where the 3x3 max-pool of the target is >= 0.2,
1 elsewhere. The result is the mean of loss * weight over all elements of the channels whose target map is
finite: a missing point (NaN target map) is left out (``facexformer.losses.masked``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facexformer.losses.masked import fill_missing, finite_channels, masked_mean
from facexformer.losses.shapes import check_same_shape

_WEIGHT_THRESHOLD = 0.2
_WEIGHT_BOOST = 10.0


def foreground_weight(target: Tensor) -> Tensor:
    """AWing's weight map for heatmaps (B, N, H, W): 11 near the peaks (3x3 max-pool >= 0.2), 1 elsewhere."""
    pooled = F.max_pool2d(target, kernel_size=3, stride=1, padding=1)
    return (pooled >= _WEIGHT_THRESHOLD).to(target.dtype) * _WEIGHT_BOOST + 1.0


class AdaptiveWingLoss(nn.Module):
    """Adaptive Wing loss with STAR's defaults.

    ``forward(output, target)``: heatmaps (B, N, H, W), target values in [0, 1] -> scalar mean over all
    elements.
    """

    def __init__(
        self,
        omega: float = 14.0,
        theta: float = 0.5,
        epsilon: float = 1.0,
        alpha: float = 2.1,
        use_weight_map: bool = True,
    ) -> None:
        super().__init__()
        if min(omega, theta, epsilon) <= 0:
            raise ValueError(
                f"AdaptiveWingLoss: omega, theta, epsilon must be positive, got {omega}, {theta}, {epsilon}"
            )
        if alpha <= 1:
            raise ValueError(f"AdaptiveWingLoss: alpha must exceed 1 (exponent alpha - target), got {alpha}")
        self.omega = float(omega)
        self.theta = float(theta)
        self.epsilon = float(epsilon)
        self.alpha = float(alpha)
        self.use_weight_map = bool(use_weight_map)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        check_same_shape("AdaptiveWingLoss", output, target, "(B, N, H, W)")
        valid = finite_channels(target)
        target = fill_missing(target, valid)
        delta = (output - target).abs()
        exponent = self.alpha - target
        ratio = self.theta / self.epsilon
        ratio_pow = torch.pow(ratio, exponent)
        slope = self.omega / (1.0 + ratio_pow) * exponent * torch.pow(ratio, exponent - 1.0) / self.epsilon
        offset = self.theta * slope - self.omega * torch.log(1.0 + ratio_pow)
        loss = torch.where(
            delta < self.theta,
            self.omega * torch.log(1.0 + torch.pow(delta / self.epsilon, exponent)),
            slope * delta - offset,
        )
        if self.use_weight_map:
            loss = loss * foreground_weight(target)
        return masked_mean(loss.flatten(2).mean(dim=-1), valid)

    def extra_repr(self) -> str:
        return (
            f"omega={self.omega}, theta={self.theta}, epsilon={self.epsilon}, alpha={self.alpha}, "
            f"use_weight_map={self.use_weight_map}"
        )
