"""A metric base whose list states are float64 on every process, also the empty one a process sends unused.

Under DDP torchmetrics gathers a list state with one tensor per process; a process that never updated sends an
empty tensor of the metric's dtype (float32 by default, and reset to it by every ``.to(device)``), and gloo
refuses to gather tensors of different dtypes ("Received data size doesn't match expected size"). Metrics
built on this class store every list state as float64 and keep the placeholder float64 too.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class Float64States(Metric):
    """``Metric`` whose dtype is float64, always (torchmetrics' public ``dtype`` property, overridden: the
    placeholder ``sync`` gathers from a process that saw no batch is built with it, and ``.to(device)`` would
    otherwise reset it to float32); store list states as float64 tensors."""

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64
