"""Age loss over the released model's 8 decade bins: L_a = (L1 + CE) / 2 (paper v3 §3.4).

The paper does not say what the L1 term acts on for a binned head (``TASKS.md`` §5.4 ⚠). Here it is the L1
distance in years between the *expected age* Σ softmax(logits)_k · centre_k and the true age. The default
bin centres (4.5, 14.5, …, 64.5, 75) are the decade midpoints with 75 for the open 70+ bin, as used by the
third-party reproduction kamrul28890/FaceXFormer-a-unified-transformer (``TASKS.md`` §5.4); they are a choice,
not a published value. The L1 term uses only samples whose age in years is known (FairFace gives only the
group, stored as NaN years); the CE term uses every sample's bin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

AGE_BIN_CENTRES: tuple[float, ...] = (4.5, 14.5, 24.5, 34.5, 44.5, 54.5, 64.5, 75.0)


def expected_age(logits: Tensor, centres: Tensor) -> Tensor:
    """(B, K) bin logits and (K,) bin centres in years -> (B,) expected age in years."""
    if logits.ndim != 2 or logits.shape[-1] != centres.numel():
        raise ValueError(
            f"expected_age: logits must be (B, {centres.numel()}) for {centres.numel()} bin centres, "
            f"got shape {tuple(logits.shape)}"
        )
    return logits.softmax(dim=-1) @ centres.to(logits.dtype)


class AgeLoss(nn.Module):
    """(L1 on the expected age in years + CE on the bins) / 2 -> scalar.

    ``forward(logits (B, K), age_group (B,) int64 bins, age (B,) float years, NaN when unknown)``.
    When no sample in the batch has a known age the L1 term is 0 (the loss is then CE / 2).
    """

    centres: Tensor

    def __init__(self, centres: tuple[float, ...] = AGE_BIN_CENTRES):
        super().__init__()
        self.register_buffer("centres", torch.tensor(centres, dtype=torch.float32), persistent=False)

    def forward(self, logits: Tensor, age_group: Tensor, age: Tensor) -> Tensor:
        batch = logits.shape[0]
        if age_group.shape != (batch,) or age.shape != (batch,):
            raise ValueError(
                f"AgeLoss: age_group and age must be ({batch},) for logits {tuple(logits.shape)}, "
                f"got {tuple(age_group.shape)} and {tuple(age.shape)}"
            )
        ce = F.cross_entropy(logits, age_group)
        known = ~torch.isnan(age)
        error = (expected_age(logits, self.centres) - torch.where(known, age, torch.zeros_like(age))).abs()
        l1 = (error * known).sum() / known.sum().clamp(min=1)
        return 0.5 * (l1 + ce)
