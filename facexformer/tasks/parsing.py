"""Face parsing into LaPa's 11 classes: one token per class, masks at the input resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection

from facexformer.losses.dice import DiceCELoss
from facexformer.metrics.parsing import ParsingF1
from facexformer.model.heads import ParsingHead
from facexformer.tasks.base import Batch, Task

#: LaPa's label order; "left" is the side on the image's left
CLASS_NAMES = (
    "background",
    "skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
#: class id after a horizontal flip (left and right brows and eyes swap)
FLIP_CLASSES = (0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10)


class Parsing(Task):
    """Output (B, K, H, W) logits at the input resolution; label ``parsing`` (B, H, W) int64 class ids.

    Loss: mean of Dice and cross-entropy. Metric: per-class F1 pooled over the dataset and its mean over the
    non-background classes.
    """

    name = "parsing"
    label_keys = ("parsing",)
    mask_keys = ("parsing",)
    official_prefixes = {
        "face_decoder.mask_tokens.": "tokens.parsing.",
        "face_decoder.output_upscaling.": "heads.parsing.upscaling.",
        "face_decoder.output_hypernetwork_mlps.": "heads.parsing.hypernetwork.",
    }

    def __init__(self, num_classes: int = 11, weight: float = 1.0):
        super().__init__(weight)
        self.num_classes = num_classes
        self.remember(num_classes=num_classes)

    @property
    def num_tokens(self) -> int:
        return self.num_classes

    def build_head(self, dim: int) -> nn.Module:
        return ParsingHead(dim)

    def build_loss(self) -> nn.Module:
        return DiceCELoss()

    def _logits(self, output: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if output.shape[-2:] != size:
            output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
        return output

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        target = batch["parsing"].long()
        return criterion(self._logits(output, target.shape[-2:]).float(), target)

    def build_metrics(self) -> MetricCollection:
        names = CLASS_NAMES if self.num_classes == len(CLASS_NAMES) else None
        return MetricCollection({"f1": ParsingF1(self.num_classes, class_names=names)})

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module | None = None
    ) -> None:
        target = batch["parsing"].long()
        metrics.update(self._logits(output.detach(), target.shape[-2:]).argmax(1), target)

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        if self.num_classes != len(FLIP_CLASSES):
            raise ValueError(f"parsing: no left/right class swap is defined for {self.num_classes} classes")
        lut = torch.tensor(FLIP_CLASSES, device=flipped.device)
        labels = batch["parsing"][flipped]
        batch["parsing"][flipped] = torch.where(labels >= 0, lut[labels.clamp(min=0)], labels)

    def trivial_output(self, batch: Batch, criterion: nn.Module | None = None) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(batch["parsing"].long().clamp(min=0), self.num_classes)
        return torch.log(one_hot.float().mean(0).permute(2, 0, 1) + 1e-6)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Logits -> (B, H, W) class ids."""
        return output.argmax(1)
