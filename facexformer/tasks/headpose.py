"""Head pose: the released 3-angle head, or the paper's 9-token rotation-matrix head."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.geometry import euler_to_matrix, flip_euler, matrix_to_euler
from facexformer.losses.geodesic import GeodesicLoss, rotation_from_9d
from facexformer.metrics.pose import PoseMAE
from facexformer.model.heads import Float32TokenHead
from facexformer.tasks.base import Batch, Task


class RotationHead(nn.Module):
    """Nine tokens -> one number each -> the nearest rotation matrix (B, 3, 3)."""

    def __init__(self, dim: int):
        super().__init__()
        self.head = Float32TokenHead(dim, (9,), num_tokens=9)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return rotation_from_9d(self.head(tokens).float())


class HeadPose(Task):
    """Labels ``headpose`` (B, 3) degrees (pitch, yaw, roll), R = Rz(roll) Ry(yaw) Rx(pitch) (300W-LP).

    ``head="euler"`` (released): output (B, 3) radians in the order (pitch, yaw, roll) as the released
    inference reads them. ``head="rotation"`` (paper v3): 9 tokens, output (B, 3, 3) rotation matrices.
    Losses: ``"geodesic"`` (angle of R_pred R_gtᵀ, radians) or ``"l1"`` on the angles (radians).
    Metric: MAE in degrees of pitch, yaw, roll and their mean.
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
        self.remember(head=head, loss=loss)

    @property
    def num_tokens(self) -> int:
        return 9 if self.head == "rotation" else 1

    def build_head(self, dim: int) -> nn.Module:
        return RotationHead(dim) if self.head == "rotation" else Float32TokenHead(dim, (3,))

    def build_loss(self) -> nn.Module:
        return GeodesicLoss() if self.loss_name == "geodesic" else nn.L1Loss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        target = torch.deg2rad(batch["headpose"].float())
        if self.loss_name == "l1":
            angles = output if self.head == "euler" else matrix_to_euler(output, degrees=False)
            return criterion(angles.float(), target)
        matrix = euler_to_matrix(output.float(), degrees=False) if self.head == "euler" else output
        return criterion(matrix, euler_to_matrix(target, degrees=False))

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": PoseMAE()})

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(self.decode(output.detach()), batch["headpose"].float())

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        batch["headpose"][flipped] = flip_euler(batch["headpose"][flipped])

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        mean = torch.deg2rad(batch["headpose"].float().mean(0))[None]
        return mean if self.head == "euler" else euler_to_matrix(mean, degrees=False)

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Raw output -> (B, 3) degrees (pitch, yaw, roll)."""
        if self.head == "rotation":
            return matrix_to_euler(output.float())
        return torch.rad2deg(output.float())
