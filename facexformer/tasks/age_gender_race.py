"""Age (8 decade bins, plus years), gender and race: the released model's three demographic heads."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer.losses.age import AgeLoss
from facexformer.metrics.age import AgeMAE
from facexformer.tasks.base import Batch
from facexformer.tasks.classification import ClassificationTask


class Age(ClassificationTask):
    """Output (B, 8) logits over decade bins 0-9, 10-19, ..., 60-69, 70+.

    Labels ``age_group`` (B,) bins and ``age`` (B,) years (NaN where only the group is known). Loss: mean of
    CE on the bins and L1 on the expected age; metrics: MAE in years and bin accuracy.
    """

    name = "age"
    label_keys = ("age", "age_group")
    class_names = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
    official_prefixes = {
        "face_decoder.age_token.": "tokens.age.",
        "face_decoder.age_prediction_head.": "heads.age.mlp.",
    }

    def build_loss(self) -> nn.Module:
        return AgeLoss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return criterion(output, batch["age_group"].long(), batch["age"].float())

    def build_metrics(self) -> MetricCollection:
        return MetricCollection(
            {"mae": AgeMAE(), "group_accuracy": MulticlassAccuracy(self.num_classes, average="micro")}
        )

    def trivial_output(self, batch: Batch, criterion: nn.Module | None = None) -> torch.Tensor:
        counts = torch.bincount(batch["age_group"].long(), minlength=self.num_classes).float()
        return torch.log(counts / counts.sum() + 1e-6)[None]

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module | None = None
    ) -> None:
        metrics["mae"].update(output.detach(), batch["age"].float())
        metrics["group_accuracy"].update(output.detach(), batch["age_group"].long())


class Gender(ClassificationTask):
    """Output (B, 2) logits: 0 male, 1 female (UTKFace's encoding, as released)."""

    name = "gender"
    label_keys = ("gender",)
    class_names = ("male", "female")
    official_prefixes = {
        "face_decoder.gender_token.": "tokens.gender.",
        "face_decoder.gender_prediction_head.": "heads.gender.mlp.",
    }


class Race(ClassificationTask):
    """Output (B, 5) logits. Default order = UTKFace's raw ids, which the released checkpoint's behaviour fits
    (see docs/tasks.md: the paper lists Indian before Asian; the datasets take a ``race_order`` mapping)."""

    name = "race"
    label_keys = ("race",)
    class_names = ("white", "black", "asian", "indian", "others")
    official_prefixes = {
        "face_decoder.race_token.": "tokens.race.",
        "face_decoder.race_prediction_head.": "heads.race.mlp.",
    }
