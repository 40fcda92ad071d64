"""Single-label classification from one token (gender, race, expression ...): cross-entropy, accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer.geometry.crop import CropWindow
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.drawing import Box, Overlay


@dataclass
class ClassPrediction:
    """A single-label prediction: ``label`` (class name), ``index``, ``probs`` ``{name: probability}``."""

    label: str
    index: int
    probs: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "probs": dict(self.probs)}


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

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(output.detach(), batch[self.name].long())

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        counts = torch.bincount(batch[self.name].long().flatten(), minlength=self.num_classes).float()
        return torch.log(counts / counts.sum() + 1e-6)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> dict[str, torch.Tensor]:
        """Logits -> ``{"label": (B,) ids, "probs": (B, num_classes)}``."""
        probs = F.softmax(output.float(), dim=-1)
        return {"label": probs.argmax(-1), "probs": probs}

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[ClassPrediction]:
        """-> per face a ``ClassPrediction`` (``class_i`` for classes without a name)."""
        return [self.prediction(row) for row in self.decode(output)["probs"].cpu().tolist()]

    def prediction(self, probs: Sequence[float]) -> ClassPrediction:
        """One face's class probabilities -> its ``ClassPrediction``."""
        known = self.class_names
        names = [known[i] if i < len(known) else f"class_{i}" for i in range(len(probs))]
        index = max(range(len(probs)), key=probs.__getitem__)
        return ClassPrediction(names[index], index, dict(zip(names, probs, strict=True)))

    @classmethod
    def to_json(cls, value: ClassPrediction) -> dict[str, Any]:
        return {cls.name: value.to_dict()}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> ClassPrediction:
        return ClassPrediction(**record[cls.name])

    @classmethod
    def draw(cls, overlay: Overlay, value: ClassPrediction, box: Box, reference: bool = False) -> None:
        """The class name above the face box."""
        overlay.caption(box, value.label)
