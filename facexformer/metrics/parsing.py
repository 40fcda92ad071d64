"""Face-parsing F1: per-class F1 from pixel counts pooled over the whole dataset, and their mean.

Protocol (``TASKS.md`` §2.5, SegFace ``inference.py``): predictions are the argmax over classes;
F1_c = 2·|P_c ∩ G_c| / (|P_c| + |G_c|) with the pixel counts summed over every image before dividing.
The reported mean is over the non-background classes (10 for the 11-class LaPa order, hair included).
Built on torchmetrics' ``MulticlassF1Score(average=None)``, whose tp/fp/fn states are summed across processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassF1Score


class ParsingF1(MulticlassF1Score):
    """Pooled per-class F1 and their mean: (B, C, H, W) logits or (B, H, W) labels vs (B, H, W) labels.

    ``compute()`` returns a dict: ``"f1"`` = mean F1 over the scored classes (all but class 0 when
    ``ignore_background``), and ``"f1_<name>"`` per class (background included, for reference). A class that
    is neither predicted nor present anywhere gets NaN and is left out of the mean; with no data at all every
    value is NaN. Pixels labelled ``ignore_index`` are not counted.
    """

    def __init__(
        self,
        num_classes: int = 11,
        ignore_background: bool = True,
        class_names: Sequence[str] | None = None,
        ignore_index: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            num_classes=num_classes,
            average="none",
            multidim_average="global",
            ignore_index=ignore_index,
            **kwargs,
        )
        if class_names is None:
            class_names = [f"class_{i}" for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(f"ParsingF1: {len(class_names)} class names for {num_classes} classes")
        self.class_names = tuple(class_names)
        self.ignore_background = ignore_background

    def per_class(self) -> Tensor:
        """(C,) pooled F1 from the current (synchronised) states; NaN where the class never occurs."""
        denominator = 2 * self.tp + self.fp + self.fn
        return torch.where(denominator > 0, 2 * self.tp / denominator.clamp(min=1), torch.nan)

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        f1 = self.per_class().float()
        scored = f1[1:] if self.ignore_background else f1
        result = {"f1": scored.nanmean()}
        result.update({f"f1_{name}": value for name, value in zip(self.class_names, f1, strict=True)})
        return result
