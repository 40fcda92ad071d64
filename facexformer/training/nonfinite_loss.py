"""Stop training at the first non-finite loss, before its gradients reach the weights.

A NaN or infinite training loss (a label with NaN/inf values that no loss masks, a learning rate that is too
high, a broken sample) poisons every parameter at the next optimizer step; the run would then go on and
report success with NaN weights. ``StopOnNonFiniteLoss`` checks the loss before the backward pass and raises
``NonFiniteLossError`` naming the step, the task(s) whose loss is not finite and the batch's ``source``s.
``FaceXFormer`` adds it to every fit unless built with ``stop_on_nonfinite_loss=False``.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

_SHOWN_SOURCES = 8


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step, the task(s) and the sources."""


class StopOnNonFiniteLoss(L.Callback):
    """Raise ``NonFiniteLossError`` when a training step's loss is not finite (checked before backward)."""

    def __init__(self) -> None:
        self._tasks: dict[str, list[str]] = {}
        self._batch: dict = {}
        self._sources: list[str] = []
        self._module: L.LightningModule | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        sources = [str(s) for s in batch.get("source", [])] if isinstance(batch, dict) else []
        masks = batch.get("task_mask", {}) if isinstance(batch, dict) else {}
        self._tasks = {
            name: [source for source, used in zip(sources, mask.tolist(), strict=False) if used]
            for name, mask in masks.items()
            if bool(mask.any())
        }
        self._batch, self._sources, self._module = batch, sources, pl_module

    def _non_finite_label_sources(self, name: str) -> list[str]:
        """Sources of the task's samples whose label tensors hold NaN/inf (keypoint labels excepted: their NaN
        rows mark missing points)."""
        batch, sources = self._batch if isinstance(self._batch, dict) else {}, self._sources
        try:
            task = self._module.task(name)
            keys = [key for key in task.label_keys if key not in task.keypoint_keys]
        except (AttributeError, KeyError):
            return []
        mask = batch.get("task_mask", {}).get(name)
        if mask is None:
            return []
        bad = torch.zeros_like(mask)
        for key in keys:
            value = batch.get(key)
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                bad |= ~torch.isfinite(value.reshape(value.shape[0], -1)).all(dim=1).to(mask.device)
        return [source for source, flag in zip(sources, (bad & mask).tolist(), strict=False) if flag]

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        raise NonFiniteLossError(self.describe(trainer, float(loss.detach().float().sum())))

    def describe(self, trainer: L.Trainer, total: float) -> str:
        """The error message: step, total loss, per-task losses that are not finite, their samples' sources."""
        logged = trainer.callback_metrics
        culprits = {}
        for name in self._tasks:
            value = logged.get(f"train/{name}/loss")
            if value is not None and not math.isfinite(float(value)):
                culprits[name] = float(value)
        named = culprits or dict.fromkeys(self._tasks, math.nan)
        parts = []
        for name in named:
            sources = self._tasks[name]
            shown = ", ".join(sources[:_SHOWN_SOURCES])
            more = f" and {len(sources) - _SHOWN_SOURCES} more" if len(sources) > _SHOWN_SOURCES else ""
            value = f" = {named[name]}" if name in culprits else ""
            flagged = self._non_finite_label_sources(name)
            labels = f" (non-finite labels in: {', '.join(flagged[:_SHOWN_SOURCES])})" if flagged else ""
            parts.append(f"task {name!r}{value} on {len(sources)} sample(s): {shown}{more}{labels}")
        which = "; ".join(parts) if parts else "no task labels in the batch"
        return (
            f"training loss is {total} at epoch {trainer.current_epoch}, global step {trainer.global_step}: "
            f"{which}. Look for NaN/inf labels in these samples or lower the learning rate; build the model "
            f"with stop_on_nonfinite_loss=False to train on regardless."
        )
