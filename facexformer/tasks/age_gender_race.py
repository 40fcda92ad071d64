"""Age (8 decade bins, plus years), gender and race: the released model's three demographic heads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer.geometry.crop import CropWindow
from facexformer.losses.age import AGE_BIN_CENTRES, AgeLoss
from facexformer.metrics.age import AgeMAE
from facexformer.tasks.base import Batch
from facexformer.tasks.classification import ClassificationTask, ClassPrediction
from facexformer.tasks.label import Label

#: decade bins 0-9, 10-19, ..., 60-69, 70+
NUM_AGE_GROUPS = 8


@dataclass
class AgePrediction(ClassPrediction):
    """An age-group prediction plus ``years``, the expected age (probabilities times the bins' centres,
    ``facexformer.losses.age.AGE_BIN_CENTRES``; None for another bin count)."""

    years: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``ClassPrediction`` fields (``years`` is written beside them, as ``age_years``)."""
        return super().to_dict()


def age_to_group(age: float) -> int:
    """Decade bin of an age in years: 0 for 0-9, ..., 6 for 60-69, 7 for 70 and over."""
    if not age >= 0:
        raise ValueError(f"age must be a non-negative number of years, got {age}")
    return min(int(age // 10), NUM_AGE_GROUPS - 1)


def age_group_of(labels: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The int64 () decade bin of a sample's ``age`` (years), for sources without an ``age_group``."""
    return torch.tensor(age_to_group(float(labels["age"])))


class Age(ClassificationTask):
    """Output (B, 8) logits over decade bins 0-9, 10-19, ..., 60-69, 70+.

    Labels ``age_group`` (B,) bins and ``age`` (B,) years (NaN where only the group is known). Loss: mean of
    CE on the bins and L1 on the expected age; metrics: MAE in years and bin accuracy.
    """

    name = "age"
    labels = (Label("age", "scalar", nan_missing=True), Label("age_group", "class", derive=age_group_of))
    class_names = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
    released_prefixes = {
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

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        counts = torch.bincount(batch["age_group"].long(), minlength=self.num_classes).float()
        return torch.log(counts / counts.sum() + 1e-6)[None]

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics["mae"].update(output.detach(), batch["age"].float())
        metrics["group_accuracy"].update(output.detach(), batch["age_group"].long())

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[AgePrediction]:
        """-> per face an ``AgePrediction``: the group and the expected age in years."""
        probs = self.decode(output)["probs"].cpu().double()
        years = None
        if probs.shape[-1] == len(AGE_BIN_CENTRES):
            years = (probs @ torch.tensor(AGE_BIN_CENTRES, dtype=torch.float64)).tolist()
        faces = []
        for i, row in enumerate(probs.float().tolist()):
            group = self.prediction(row)
            faces.append(AgePrediction(group.label, group.index, group.probs, years[i] if years else None))
        return faces

    @classmethod
    def json_fields(cls) -> tuple[str, ...]:
        return ("age", "age_years")

    @classmethod
    def to_json(cls, value: ClassPrediction) -> dict[str, Any]:
        """``{"age": {label, index, probs}, "age_years": years}`` (``age_years`` left out when unknown)."""
        years = getattr(value, "years", None)
        return {"age": value.to_dict(), **({"age_years": years} if years is not None else {})}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> AgePrediction:
        return AgePrediction(**record["age"], years=record.get("age_years"))


class Gender(ClassificationTask):
    """Output (B, 2) logits: 0 male, 1 female (UTKFace's encoding, as released)."""

    name = "gender"
    labels = (Label("gender", "class"),)
    class_names = ("male", "female")
    released_prefixes = {
        "face_decoder.gender_token.": "tokens.gender.",
        "face_decoder.gender_prediction_head.": "heads.gender.mlp.",
    }


class Race(ClassificationTask):
    """Output (B, 5) logits. Default order = UTKFace's raw ids, which the released checkpoint's behaviour fits
    (see docs/tasks.md: the paper lists Indian before Asian; the datasets take a ``race_order`` mapping)."""

    name = "race"
    labels = (Label("race", "class"),)
    class_names = ("white", "black", "asian", "indian", "others")
    released_prefixes = {
        "face_decoder.race_token.": "tokens.race.",
        "face_decoder.race_prediction_head.": "heads.race.mlp.",
    }
