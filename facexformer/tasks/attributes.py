"""The 40 CelebA binary attributes from one token."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MultilabelAccuracy

from facexformer.geometry.crop import CropWindow
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.label import Label

ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)


class Attributes(Task):
    """Output (B, 40) logits in CelebA's column order; label ``attributes`` (B, 40) in {0, 1}.

    Loss: BCE with logits. Metric: mean over attributes of the per-attribute accuracy (the paper's).
    """

    name = "attributes"
    labels = (Label("attributes", "vector", ("num_attributes",), values=(0, 1)),)
    released_prefixes = {
        "face_decoder.attribute_token.": "tokens.attributes.",
        "face_decoder.attribute_prediction_head.": "heads.attributes.mlp.",
    }

    def __init__(self, num_attributes: int = 40, weight: float = 1.0):
        super().__init__(weight)
        self.num_attributes = num_attributes
        self.remember(num_attributes=num_attributes)

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.num_attributes,))

    def build_loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return criterion(output, batch["attributes"].to(output.dtype))

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"accuracy": MultilabelAccuracy(self.num_attributes, average="macro")})

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(torch.sigmoid(output.detach().float()), batch["attributes"].long())

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        rate = batch["attributes"].float().mean(0).clamp(1e-4, 1 - 1e-4)
        return torch.logit(rate)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Logits -> (B, 40) probabilities that each attribute is present."""
        return torch.sigmoid(output.float())

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[dict[str, float]]:
        """-> per face ``{attribute name: probability}`` (``attribute_i`` for a count other than CelebA's)."""
        probs = self.decode(output).cpu()
        known = ATTRIBUTE_NAMES if probs.shape[-1] == len(ATTRIBUTE_NAMES) else None
        names = [known[i] if known else f"attribute_{i}" for i in range(probs.shape[-1])]
        return [dict(zip(names, row, strict=True)) for row in probs.tolist()]
