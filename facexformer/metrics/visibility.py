"""Occlusion detection metric: recall at a fixed precision (COFW, ``TASKS.md`` §7).

Convention (inferred from RCPR practice; the paper does not spell it out): occluded = the positive class; all
points of all images are pooled; the threshold on P(occluded) is swept and the metric is the highest recall
among the operating points whose precision is at least ``min_precision`` (0 when none reaches it).
Wraps torchmetrics' exact ``BinaryRecallAtFixedPrecision(thresholds=None)``, whose score lists are gathered
across processes (the 0/1 targets stored as float32, the dtype of the empty list a process without samples sends).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics.classification import BinaryRecallAtFixedPrecision


class RecallAtPrecision(BinaryRecallAtFixedPrecision):
    """Recall of occluded points at precision >= ``min_precision``; NaN before any update.

    ``update(preds (B, N) logits — or probabilities with from_logits=False —, target (B, N) 1 = occluded)``.
    The threshold chosen is ``compute_with_threshold()[1]`` (a probability).
    """

    higher_is_better = True

    def __init__(self, min_precision: float = 0.8, from_logits: bool = True, **kwargs: Any):
        super().__init__(min_precision=min_precision, thresholds=None, **kwargs)
        self.from_logits = from_logits

    def update(self, preds: Tensor, target: Tensor) -> None:  # type: ignore[override]
        if preds.shape != target.shape:
            raise ValueError(f"RecallAtPrecision: preds {tuple(preds.shape)} != target {tuple(target.shape)}")
        probs = preds.sigmoid() if self.from_logits else preds
        super().update(probs.flatten().float(), target.flatten().long())
        # kept as float32 like the scores: a process that saw no sample contributes an empty float32 placeholder
        # (the metric's dtype) to the DDP gather, and gloo refuses to gather int64 with float32
        self.target[-1] = self.target[-1].float()

    def compute_with_threshold(self) -> tuple[Tensor, Tensor]:
        """(recall, threshold on P(occluded)); both NaN before any update."""
        # a list before synchronisation, one concatenated tensor after it
        if sum(part.numel() for part in (self.preds if isinstance(self.preds, list) else [self.preds])) == 0:
            nan = torch.tensor(float("nan"), device=self.device)
            return nan, nan
        return super().compute()

    def compute(self) -> Tensor:  # type: ignore[override]
        return self.compute_with_threshold()[0]
