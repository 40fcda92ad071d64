"""Head pose: the released 3-angle head, or the paper's 9-token rotation-matrix head."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.geometry import euler_to_matrix, flip_euler, matrix_to_euler
from facexformer.losses.geodesic import GeodesicLoss
from facexformer.metrics.pose import PoseMAE
from facexformer.model.heads import Float32TokenHead
from facexformer.model.rotation import RotationHead
from facexformer.tasks.base import Batch, Task


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
    label_keys = ("headpose",)
    rotation_invariant = False
    official_prefixes = {
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

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module | None = None
    ) -> None:
        metrics.update(self.decode(output.detach()), batch["headpose"].float())

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        batch["headpose"][flipped] = flip_euler(batch["headpose"][flipped])

    def trivial_output(self, batch: Batch, criterion: nn.Module | None = None) -> torch.Tensor:
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
