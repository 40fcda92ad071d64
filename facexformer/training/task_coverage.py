"""Warn when a configured task receives no training sample in an epoch: its head would ship untrained.

``WarnUntrainedTasks`` records which tasks each training batch has samples for (``task_mask``) and, at the end
of every training epoch, warns once per run about each configured task that got none (no dataset provides
it, ``tasks`` of the datamodule drops it, or its proportion is too small for the epoch); a task whose head is
frozen (``trainable``) is not reported. ``FaceXFormer`` adds it to every fit. Under DDP each process reports
what it saw (the warning is printed by rank 0).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn


class WarnUntrainedTasks(L.Callback):
    """At each training epoch's end, warn (once per run and task) about tasks without any training sample."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.warned: set[str] = set()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen = set()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        masks = batch.get("task_mask", {}) if isinstance(batch, dict) else {}
        self.seen.update(name for name, mask in masks.items() if bool(mask.any()))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        heads = getattr(getattr(pl_module, "net", None), "heads", None)
        configured = [task.name for task in getattr(pl_module, "tasks", [])]
        if heads is not None:  # a frozen head (``trainable`` leaves it out) is not meant to train
            configured = [
                n for n in configured if n not in heads or any(p.requires_grad for p in heads[n].parameters())
            ]
        missing = [name for name in configured if name not in self.seen and name not in self.warned]
        if not missing:
            return
        self.warned.update(missing)
        rank_zero_warn(
            f"task(s) {missing} received no training sample in epoch {trainer.current_epoch} (tasks seen: "
            f"{sorted(self.seen)}); their tokens and heads are not being trained. Add a dataset that labels "
            f"them, or remove them from the model's tasks.",
            category=UserWarning,
        )
