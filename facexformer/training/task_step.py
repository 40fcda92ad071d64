"""One training or evaluation step of a multi-task model: each task's loss and metrics on the samples labelled
for it, summed into the weighted total loss.

The model is a ``FaceXFormer`` (passed in, so this module never imports ``facexformer.module``): it gives
``tasks``, ``criteria`` (one loss module per task), ``net`` (``FaceXFormerNet``), ``normalize``,
``stage_metrics`` (``StageMetrics``) and Lightning's ``log``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from facexformer.batch import Batch, select_samples
from facexformer.tasks.label_check import check_batch_labels


def task_step(
    model: L.LightningModule,
    batch: Batch,
    stage: str,
    dataloader_idx: int = 0,
    outputs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """One step of ``model`` on a collated ``batch`` (``facexformer.batch``; images (B, 3, S, S) floats in [0, 1])
    -> the weighted total loss, a scalar, differentiable in training.

    ``stage``: "train", "val" or "test"; ``dataloader_idx`` picks the dataset of a separately evaluated
    evaluation loader. Each task's loss and metrics see only the samples its ``task_mask`` marks; the losses
    are logged (train) or averaged over the epoch (val, test). ``outputs``, when given, receives
    ``{task: (mask (B,) bool, raw output of the masked samples)}``.
    """
    prefix = model.stage_metrics.prefix(stage, dataloader_idx)
    if batch["image"].shape[0] == 0:  # a process with no evaluation batch takes part with an empty one
        return batch["image"].new_zeros((), dtype=torch.float32)
    check_batch_labels(batch, model.tasks, training=stage == "train")  # names a bad label's task and sample
    images = model.normalize(batch["image"])
    queries, image = model.net.encode(images)
    masks: dict[str, torch.Tensor] = batch.get("task_mask", {})
    metrics = model.stage_metrics.metrics(prefix)
    losses = model.stage_metrics.loss_means(prefix) if stage != "train" else None
    total = images.new_zeros(())
    batch_size = images.shape[0]
    for task in model.tasks:
        mask = masks.get(task.name)
        if mask is None or not bool(mask.any()):
            # every head takes part in every step, so DDP finds no unused parameters
            total = total + sum(p.sum() for p in model.net.heads[task.name].parameters()) * 0.0
            continue
        output = model.net.run_head(task.name, queries[mask], image[mask])
        if outputs is not None:
            outputs[task.name] = (mask, output.detach())
        sub = select_samples(batch, mask)
        loss = task.loss(model.criteria[task.name], output, sub)
        total = total + task.weight * loss
        if losses is None:
            model.log(f"{prefix}/{task.name}/loss", loss, batch_size=int(mask.sum()), add_dataloader_idx=False)
        else:
            losses["tasks"][task.name].update(loss.detach(), int(mask.sum()))
            model.stage_metrics.count(prefix, task.name, int(mask.sum()))
        task.update_metrics(metrics[task.name], output, sub, **task.criterion_kwargs(model.criteria[task.name]))
    if losses is None:
        model.log(f"{prefix}/loss", total, batch_size=batch_size, prog_bar=True, add_dataloader_idx=False)
    else:
        losses["total"].update(total.detach(), batch_size)
    return total
