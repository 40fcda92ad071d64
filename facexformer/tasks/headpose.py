"""Head pose: the released 3-angle head, or the paper's 9-token rotation-matrix head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.geometry import euler_to_matrix, flip_euler, matrix_to_euler
from facexformer.geometry.crop import CropWindow
from facexformer.losses.geodesic import GeodesicLoss
from facexformer.metrics.pose import PoseMAE
from facexformer.model.heads import Float32TokenHead
from facexformer.model.rotation import RotationHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.drawing import Box, Overlay
from facexformer.tasks.label import Label

ANGLE_NAMES = ("pitch", "yaw", "roll")
#: the face's x (red), up (green) and forward (blue) axes
AXIS_COLOURS = ((230, 40, 40), (40, 200, 40), (40, 90, 255))
_FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def pose_axes_2d(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """(3, 2) image-plane directions (dx, dy; y down) of the face's x, up and forward unit axes.

    Degrees, 300W-LP convention, R = Rz(roll) Ry(yaw) Rx(pitch). A face-frame vector v (x = image right of a
    frontal face, y = down, z = away from the camera) is drawn at ``F Rᵀ F v`` with F = diag(1, -1, -1),
    orthographically (the SyntheticFaces renderer's camera). Hence +yaw turns the forward axis towards the
    image's left, +pitch turns it up and +roll turns the face clockwise on screen. A frontal face gives
    x = (1, 0), up = (0, -1), forward = (0, 0).
    """
    matrix = euler_to_matrix(torch.tensor([pitch, yaw, roll], dtype=torch.float64)).numpy()
    to_camera = _FLIP_YZ @ matrix.T @ _FLIP_YZ
    face_axes = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    return (face_axes @ to_camera.T)[:, :2]


def draw_axes(
    overlay: Overlay, angles: Sequence[float], centre: Sequence[float], size: float, width: int | None = None
) -> None:
    """The head's x (red), up (green) and forward (blue) axes of (pitch, yaw, roll) degrees from ``centre``
    (pixels), each ``size`` pixels long when parallel to the image."""
    for (dx, dy), colour in zip(pose_axes_2d(*angles), AXIS_COLOURS, strict=True):
        overlay.line(centre, (centre[0] + size * dx, centre[1] + size * dy), colour, width)


class EulerVariant:
    """The released head: one token, an MLP to (B, 3) radians (pitch, yaw, roll)."""

    num_tokens = 1

    def build_head(self, dim: int) -> nn.Module:
        return Float32TokenHead(dim, (3,))

    def to_angles(self, output: torch.Tensor) -> torch.Tensor:
        """Raw output -> (B, 3) radians."""
        return output

    def to_matrix(self, output: torch.Tensor) -> torch.Tensor:
        """Raw output -> (B, 3, 3) rotations, in the output's precision."""
        return euler_to_matrix(output, degrees=False)

    def from_angles(self, angles: torch.Tensor) -> torch.Tensor:
        """(B, 3) radians -> the raw output that stands for them."""
        return angles


class RotationVariant:
    """The paper's head: 9 tokens, output (B, 3, 3) rotation matrices (``RotationHead``)."""

    num_tokens = 9

    def build_head(self, dim: int) -> nn.Module:
        return RotationHead(dim)

    def to_angles(self, output: torch.Tensor) -> torch.Tensor:
        return matrix_to_euler(output, degrees=False)

    def to_matrix(self, output: torch.Tensor) -> torch.Tensor:
        return output

    def from_angles(self, angles: torch.Tensor) -> torch.Tensor:
        return euler_to_matrix(angles, degrees=False)


class HeadPose(Task):
    """Labels ``headpose`` (B, 3) degrees (pitch, yaw, roll), R = Rz(roll) Ry(yaw) Rx(pitch) (300W-LP).

    ``head="euler"`` (released): output (B, 3) radians in the order (pitch, yaw, roll) as the released
    inference reads them. ``head="rotation"`` (paper v3): 9 tokens, output (B, 3, 3) rotation matrices.
    Losses: ``"geodesic"`` (angle of R_pred R_gtᵀ, radians) or ``"l1"`` on the angles (radians).
    Metric: MAE in degrees of pitch, yaw, roll and their mean, of the predictions decoded to the canonical
    Euler branch (``decode``).
    """

    name = "headpose"
    labels = (Label("headpose", "vector", (3,)),)
    rotation_invariant = False
    released_prefixes = {
        "face_decoder.pose_token.": "tokens.headpose.",
        "face_decoder.pose_prediction_head.": "heads.headpose.mlp.",
    }

    def __init__(self, head: str = "euler", loss: str = "geodesic", weight: float = 1.0):
        super().__init__(weight)
        if head not in ("euler", "rotation"):
            raise ValueError(f"headpose: head must be 'euler' or 'rotation', got {head!r}")
        if loss not in ("geodesic", "l1"):
            raise ValueError(f"headpose: loss must be 'geodesic' or 'l1', got {loss!r}")
        self.head, self.loss_name = head, loss
        self.variant = EulerVariant() if head == "euler" else RotationVariant()
        self.remember(head=head, loss=loss)

    @property
    def num_tokens(self) -> int:
        return self.variant.num_tokens

    def build_head(self, dim: int) -> nn.Module:
        return self.variant.build_head(dim)

    def build_loss(self) -> nn.Module:
        return GeodesicLoss() if self.loss_name == "geodesic" else nn.L1Loss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        target = torch.deg2rad(batch["headpose"].float())
        if self.loss_name == "l1":
            return criterion(self.variant.to_angles(output).float(), target)
        return criterion(self.variant.to_matrix(output.float()), euler_to_matrix(target, degrees=False))

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": PoseMAE()})

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(self.decode(output.detach()), batch["headpose"].float())

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        batch["headpose"][flipped] = flip_euler(batch["headpose"][flipped])

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        mean = torch.deg2rad(batch["headpose"].float().mean(0))[None]
        return self.variant.from_angles(mean)

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Raw output -> (B, 3) degrees (pitch, yaw, roll) on the canonical Euler branch.

        Through the rotation matrix, as 6DRepNet evaluates: yaw in [-90, 90], pitch and roll in (-180, 180].
        Euler outputs on another branch (e.g. pitch + 180, 180 - yaw, roll + 180, or any angle + 360) are the
        same rotation, to which the geodesic loss is blind; they decode to the same angles. Outputs already on
        the canonical branch come back unchanged (float64 round trip, ~1e-12 degrees; float32 on MPS).
        """
        precise = output.to(torch.float32 if output.device.type == "mps" else torch.float64)
        return matrix_to_euler(self.variant.to_matrix(precise)).float()

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[dict[str, float]]:
        """-> per face ``{"pitch", "yaw", "roll"}`` degrees (a crop does not rotate the face)."""
        return [dict(zip(ANGLE_NAMES, row, strict=True)) for row in self.decode(output).cpu().tolist()]

    @classmethod
    def to_json(cls, value: Mapping[str, float]) -> dict[str, Any]:
        return {cls.name: {k: float(v) for k, v in value.items()}}

    @classmethod
    def draw(cls, overlay: Overlay, value: Mapping[str, float], box: Box, reference: bool = False) -> None:
        """The head's axes (``pose_axes_2d``) from the centre of the face box, half the box's width long.

        The box centre, not a landmark, anchors them: it is there for every face, with or without a landmark
        task, and for a detector's box it lies near the nose."""
        x0, y0, x1, y1 = box
        draw_axes(overlay, [value[k] for k in ANGLE_NAMES], ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0) / 2)
