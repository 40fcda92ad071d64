"""Head-pose mean absolute error in degrees, per angle (pitch, yaw, roll) and their mean.

``TASKS.md`` §3.6: MAE over test images for each angle separately; the reported "MAE" is the mean of the
three. Inputs are (B, 3) degrees in (pitch, yaw, roll) order, or (B, 3, 3) rotation matrices, which are
converted with ``facexformer.geometry.matrix_to_euler`` (R = Rz(roll) Ry(yaw) Rx(pitch)), which returns the
canonical Euler branch (yaw in [-90, 90]) as 6DRepNet evaluates. Angles are compared as given: predictions
should be decoded to that branch first (``HeadPose.decode`` does), since one rotation has several Euler
triples and a geodesic loss does not prefer any.

``rule`` says how a difference d = pred - target becomes an error:

- ``"plain"`` (default, the paper's MAE and the tables it compares with): |d|.
- ``"wrap"``: d on the circle, mapped into [-180, 180) before taking |·| (179° vs -179° counts 2°).
- ``"6drepnet"``: 6DRepNet's ``test.py`` rule, min(|d|, |d + 360|, |d - 360|, |d + 180|, |d - 180|): a
  prediction off by 180° (e.g. an upside-down pitch) counts as right. It gives lower numbers than the paper's
  rule on the same predictions; the table names it (``MAE (6drepnet)``).
Built on torchmetrics' ``MeanAbsoluteError(num_outputs=3)``: summed states, correct under DDP.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics.regression import MeanAbsoluteError

from facexformer.geometry import matrix_to_euler

POSE_ANGLES: tuple[str, ...] = ("pitch", "yaw", "roll")
#: the difference rules of ``PoseMAE`` (see the module docstring)
POSE_RULES: tuple[str, ...] = ("plain", "wrap", "6drepnet")


def _as_degrees(angles_or_matrices: Tensor, what: str) -> Tensor:
    if angles_or_matrices.ndim == 3 and angles_or_matrices.shape[1:] == (3, 3):
        return matrix_to_euler(angles_or_matrices, degrees=True)
    if angles_or_matrices.ndim == 2 and angles_or_matrices.shape[1] == 3:
        return angles_or_matrices
    raise ValueError(
        f"PoseMAE: {what} must be (B, 3) degrees (pitch, yaw, roll) or (B, 3, 3) rotations, "
        f"got shape {tuple(angles_or_matrices.shape)}"
    )


class PoseMAE(MeanAbsoluteError):
    """MAE in degrees of (B, 3) angles or (B, 3, 3) rotations; ``compute()`` -> dict.

    Keys: ``"mae"`` (mean of the three), ``"mae_pitch"``, ``"mae_yaw"``, ``"mae_roll"``; NaN before any
    update.
    """

    def __init__(self, rule: str = "plain", **kwargs: Any):
        super().__init__(num_outputs=3, **kwargs)
        if rule not in POSE_RULES:
            raise ValueError(f"PoseMAE: rule must be one of {POSE_RULES}, got {rule!r}")
        self.rule = rule

    def update(self, preds: Tensor, target: Tensor) -> None:  # type: ignore[override]
        pred_deg = _as_degrees(preds, "preds").double()
        target_deg = _as_degrees(target, "target").double()
        if pred_deg.shape != target_deg.shape:
            raise ValueError(f"PoseMAE: preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
        difference = pred_deg - target_deg
        if self.rule == "wrap":
            difference = torch.remainder(difference + 180.0, 360.0) - 180.0
        elif self.rule == "6drepnet":
            shifts = difference.new_tensor([0.0, 360.0, -360.0, 180.0, -180.0])
            difference = (difference[..., None] + shifts).abs().amin(dim=-1)
        super().update(difference.abs(), torch.zeros_like(difference))

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        per_angle = self.sum_abs_error / self.total
        result = {"mae": per_angle.mean()}
        result.update({f"mae_{name}": value for name, value in zip(POSE_ANGLES, per_angle, strict=True)})
        return result
