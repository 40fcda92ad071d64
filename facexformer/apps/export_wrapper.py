"""The graph ``facexformer export`` writes: a model's network with a fixed list of output tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class ExportWrapper(nn.Module):
    """``model.net`` with a fixed task list: (B, 3, S, S) normalised images -> tuple of raw outputs."""

    def __init__(self, model: Any, tasks: Sequence[str]):
        super().__init__()
        for name in tasks:
            model.task(name)
        self.net = model.net
        self.tasks = tuple(tasks)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.net(images, self.tasks)
        return tuple(outputs[name] for name in self.tasks)
