"""A metric base whose list states are float64 on every process, also the empty one a process sends unused.

Under DDP torchmetrics gathers a list state with one tensor per process; a process that never updated sends an
empty tensor of the metric's dtype (float32 by default, and reset to it by every ``.to(device)``), and gloo
refuses to gather tensors of different dtypes ("Received data size doesn't match expected size"). Metrics
built on this class store every list state as float64 and keep the placeholder float64 too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchmetrics import Metric


class Float64States(Metric):
    """``Metric`` whose dtype stays float64 across moves; store list states as float64 tensors."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_dtype(torch.float64)

    def _apply(self, fn: Callable, exclude_state: Sequence[str] = "") -> torch.nn.Module:
        this = super()._apply(fn, exclude_state)
        this._dtype = torch.float64
        return this
