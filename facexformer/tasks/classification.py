"""Single-label classification from one token (gender, race, expression ...): cross-entropy, accuracy."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task


class ClassificationTask(Task):
    """Output (B, num_classes) logits; label ``batch[name]`` (B,) int64 class ids."""

    class_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, num_classes: int | None = None, weight: float = 1.0):
        super().__init__(weight)
        self.num_classes = num_classes or len(self.class_names)
        if self.num_classes < 2:
            raise ValueError(f"{self.name}: need at least 2 classes, got {self.num_classes}")
        self.remember(num_classes=self.num_classes)

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.num_classes,))

    def build_loss(self) -> nn.Module:
        return nn.CrossEntropyLoss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return criterion(output, batch[self.name].long())

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"accuracy": MulticlassAccuracy(self.num_classes, average="micro")})

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module | None = None
    ) -> None:
        metrics.update(output.detach(), batch[self.name].long())

    def trivial_output(self, batch: Batch, criterion: nn.Module | None = None) -> torch.Tensor:
        counts = torch.bincount(batch[self.name].long().flatten(), minlength=self.num_classes).float()
        return torch.log(counts / counts.sum() + 1e-6)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> dict[str, torch.Tensor]:
        """Logits -> ``{"label": (B,) ids, "probs": (B, num_classes)}``."""
        probs = F.softmax(output.float(), dim=-1)
        return {"label": probs.argmax(-1), "probs": probs}
