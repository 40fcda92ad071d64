"""Per-landmark occlusion (COFW's 29 points): 1 = occluded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy

from facexformer.geometry.crop import CropWindow
from facexformer.geometry.landmark_schemes import scheme_for
from facexformer.metrics.visibility import RecallAtPrecision
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.label import Label


class Visibility(Task):
    """Output (B, N) logits of P(occluded); label ``visibility`` (B, N) in {0, 1}.

    Loss: BCE with logits. Metrics: recall at 80% precision with occluded as positive (pooled over points)
    and point accuracy.
    """

    name = "visibility"
    labels = (Label("visibility", "vector", ("num_points",), values=(0, 1)),)
    released_prefixes = {
        "face_decoder.visibility_token.": "tokens.visibility.",
        "face_decoder.visibility_prediction_head.": "heads.visibility.mlp.",
    }

    def __init__(self, num_points: int = 29, min_precision: float = 0.8, weight: float = 1.0):
        super().__init__(weight)
        self.num_points, self.min_precision = num_points, min_precision
        self.remember(num_points=num_points, min_precision=min_precision)

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.num_points,))

    def build_loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return criterion(output, batch["visibility"].to(output.dtype))

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {
                "recall_at_precision": RecallAtPrecision(self.min_precision, from_logits=False),
                "accuracy": BinaryAccuracy(),
            }
        )

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(torch.sigmoid(output.detach().float()).flatten(), batch["visibility"].long().flatten())

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        index = torch.tensor(scheme_for(self.num_points).flip_index, device=flipped.device)
        batch["visibility"][flipped] = batch["visibility"][flipped][:, index]

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        rate = batch["visibility"].float().mean(0).clamp(1e-4, 1 - 1e-4)
        return torch.logit(rate)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Logits -> (B, N) probability that each point is occluded."""
        return torch.sigmoid(output.float())

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[np.ndarray]:
        """-> per face (N,) float32 probabilities that each point is occluded."""
        return list(self.decode(output).cpu().numpy())

    @classmethod
    def to_json(cls, value: np.ndarray) -> dict[str, Any]:
        return {cls.name: np.asarray(value, dtype=float).tolist()}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(record[cls.name], dtype=np.float32)
