"""Face parsing into LaPa's 11 classes: one token per class, masks at the input resolution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection

from facexformer.geometry.crop import CropWindow
from facexformer.losses.dice import DiceCELoss
from facexformer.metrics.parsing import ParsingF1
from facexformer.model.heads import ParsingHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.drawing import Box, Overlay
from facexformer.tasks.label import Label

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
#: LaPa's colormap.txt, the released ``inference.py`` colours, in LaPa's class order (RGB)
LAPA_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (0, 153, 255),
    (102, 255, 153),
    (0, 204, 153),
    (255, 255, 102),
    (255, 255, 204),
    (255, 153, 0),
    (255, 102, 255),
    (102, 0, 51),
    (255, 204, 255),
    (255, 0, 102),
)
#: class id after a horizontal flip (left and right brows and eyes swap)
FLIP_CLASSES = (0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10)


class Parsing(Task):
    """Output (B, K, H, W) logits at the input resolution; label ``parsing`` (B, H, W) int64 class ids.

    Loss: mean of Dice and cross-entropy. Metric: per-class F1 pooled over the dataset and its mean over the
    non-background classes.
    """

    name = "parsing"
    labels = (Label("parsing", "mask"),)
    released_prefixes = {
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

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        target = batch["parsing"].long()
        metrics.update(self._logits(output.detach(), target.shape[-2:]).argmax(1), target)

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        if self.num_classes != len(FLIP_CLASSES):
            raise ValueError(f"parsing: no left/right class swap is defined for {self.num_classes} classes")
        lut = torch.tensor(FLIP_CLASSES, device=flipped.device)
        labels = batch["parsing"][flipped]
        batch["parsing"][flipped] = torch.where(labels >= 0, lut[labels.clamp(min=0)], labels)

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(batch["parsing"].long().clamp(min=0), self.num_classes)
        return torch.log(one_hot.float().mean(0).permute(2, 0, 1) + 1e-6)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Logits -> (B, H, W) class ids."""
        return output.argmax(1)

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[np.ndarray]:
        """-> per face (H, W) class ids of its whole photo (uint8; int32 past 256 classes): the crop's logits
        resized bilinearly to the crop's size in photo pixels, arg-maxed and pasted into a map of 0
        (background); a crop reaching past the photo's border is cut there."""
        dtype = torch.uint8 if output.shape[1] <= 256 else torch.int32
        faces = []
        for logits, crop in zip(output, crops, strict=True):
            width, height = crop.region[2:]
            resized = F.interpolate(logits[None].float(), size=(height, width), mode="bilinear", align_corners=False)
            faces.append(crop.paste_mask(resized[0].argmax(0).to(dtype).cpu()).numpy())
        return faces

    @classmethod
    def to_json(cls, value: np.ndarray) -> dict[str, Any]:
        """The map as a run-length code (``rle_encode``)."""
        return {cls.name: rle_encode(value)}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> np.ndarray:
        return rle_decode(record[cls.name])

    @classmethod
    def draw(cls, overlay: Overlay, value: np.ndarray, box: Box, reference: bool = False) -> None:
        """LaPa's colours blended over the photo, the classes present in the legend."""
        overlay.label_map(value, LAPA_PALETTE, CLASS_NAMES, key=cls.name)


def rle_encode(labels: np.ndarray) -> dict[str, Any]:
    """(H, W) integer map -> ``{"encoding": "rle", "size": [H, W], "values", "counts"}`` (row-major runs)."""
    flat = np.asarray(labels).reshape(-1)
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], starts]) if flat.size else starts
    counts = np.diff(np.concatenate([starts, [flat.size]]))
    return {
        "encoding": "rle",
        "size": [int(s) for s in labels.shape],
        "values": flat[starts].astype(int).tolist(),
        "counts": counts.astype(int).tolist(),
    }


def rle_decode(code: dict[str, Any]) -> np.ndarray:
    """Inverse of ``rle_encode`` -> (H, W) uint8 (int32 when a value exceeds 255)."""
    if code.get("encoding") != "rle" or len(code.get("size", ())) != 2:
        raise ValueError(f"not a parsing run-length code (need encoding 'rle' and size [H, W]): {list(code)}")
    height, width = code["size"]
    values, counts = np.asarray(code["values"]), np.asarray(code["counts"])
    if values.shape != counts.shape or int(counts.sum()) != height * width:
        total = int(counts.sum())
        raise ValueError(f"parsing run-length code: counts sum to {total}, size is {height}x{width}")
    dtype = np.uint8 if values.size == 0 or values.max() < 256 else np.int32
    return np.repeat(values, counts).astype(dtype).reshape(height, width)
