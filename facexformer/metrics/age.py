"""Age mean absolute error in years, from the binned age head's expected age.

The head predicts 8 decade bins; its age in years is the expected value over the bin centres
(``facexformer.losses.age.expected_age``, the same decoding the loss trains). Samples whose age in years is
unknown (NaN, e.g. FairFace, which has only groups) are skipped. The FairFace age-group accuracy needs no
class of its own: use ``torchmetrics.classification.MulticlassAccuracy(num_classes=8, average="micro")``
on the bin logits and ``age_group`` labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics.regression import MeanAbsoluteError

from facexformer.losses.age import AGE_BIN_CENTRES, expected_age


class AgeMAE(MeanAbsoluteError):
    """MAE in years of (B, K) bin logits (or (B,) years) against (B,) float years, NaN = unknown -> scalar.

    NaN before any sample with a known age; summed states, correct under DDP.
    """

    centres: Tensor

    def __init__(self, centres: tuple[float, ...] = AGE_BIN_CENTRES, **kwargs: Any):
        super().__init__(**kwargs)
        self.register_buffer("centres", torch.tensor(centres, dtype=torch.float32), persistent=False)

    def update(self, preds: Tensor, target: Tensor) -> None:  # type: ignore[override]
        years = expected_age(preds, self.centres) if preds.ndim == 2 else preds
        if years.shape != target.shape or target.ndim != 1:
            raise ValueError(
                f"AgeMAE: preds must be (B, {self.centres.numel()}) logits or (B,) years for (B,) target "
                f"years, got preds {tuple(preds.shape)} and target {tuple(target.shape)}"
            )
        known = ~torch.isnan(target)
        super().update(years[known].float(), target[known].float())
