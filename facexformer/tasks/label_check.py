"""Label values checked against their tasks' declarations before any loss or metric reads them.

``check_batch_labels`` runs at the start of every training and evaluation step (``FaceXFormer.step``), on the
rows each task's ``task_mask`` marks, and names the task, the label and the sample (its ``source``: file and
line or index) instead of failing deep inside torch or torchmetrics:

=====================================================  ==========================  ==========================
value                                                  training                    evaluation
=====================================================  ==========================  ==========================
class / mask id outside ``0 .. classes - 1`` (not fill)  error                       error
a value outside the declared ``values`` (attribute 2)  error                       error
NaN or ±inf in a label with declared ``values``        error                       sample left out, warning
NaN or ±inf in another label without ``nan_missing``   the non-finite loss stop    sample left out of that
                                                       names task and sample       task's metrics, warning
a keypoint more than 2 image sides outside the image   error (refused)             error (refused)
=====================================================  ==========================  ==========================

Labels declaring ``nan_missing`` (keypoints, the age in years) take NaN and ±inf as "missing": their losses and
metrics leave them out.

A point at 1e6 px is a broken annotation, not a hard sample: it is refused rather than skipped, so it is
fixed at its source instead of silently thinning the data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from facexformer.tasks.label import Label

#: keypoints may lie outside the image (faces cut by the border, augmentation), by at most this many sides
KEYPOINT_REACH = 2.0


class LabelValueError(ValueError):
    """A label value its task cannot take; the message names the task, the label, the sample and the value."""


def check_batch_labels(batch: dict[str, Any], tasks: Sequence[Any], training: bool) -> dict[str, list[str]]:
    """Check every task's labels on the samples its ``batch["task_mask"]`` marks (see the module docstring).

    Raises ``LabelValueError`` for a value no task can take. In evaluation, samples with a non-finite label their
    task does not take as missing are removed from that task's mask (``batch["task_mask"]`` is updated) and a
    warning names them; returns ``{task name: [sources left out]}``.
    """
    masks: dict[str, torch.Tensor] = batch.get("task_mask") or {}
    sources = list(batch.get("source") or [])
    side = float(batch["image"].shape[-1]) if "image" in batch else None
    left_out: dict[str, list[str]] = {}
    for task in tasks:
        mask = masks.get(task.name)
        if mask is None:
            continue
        for label in task.labels:
            values = batch.get(label.key)
            if not isinstance(values, torch.Tensor) or values.shape[:1] != mask.shape:
                continue
            wrong, nonfinite = _problems(label, values, task, side)
            rows = mask & wrong
            if bool(rows.any()):
                row = int(rows.nonzero()[0])
                raise LabelValueError(_message(task, label, values[row], _source(sources, row), side))
            rows = mask & nonfinite
            if not bool(rows.any()):
                continue
            row = int(rows.nonzero()[0])
            if training and label.values is not None:
                raise LabelValueError(
                    f"task {task.name!r}, label {label.key!r} of {_source(sources, row)}: a non-finite value, but "
                    f"values must be {' or '.join(f'{v:g}' for v in label.values)}"
                )
            if training:
                continue  # the loss turns non-finite: StopOnNonFiniteLoss names the task and the sample
            names = [_source(sources, int(i)) for i in rows.nonzero().flatten()]
            masks[task.name] = mask = mask & ~rows
            left_out.setdefault(task.name, []).extend(names)
            warnings.warn(
                f"task {task.name!r}, label {label.key!r}: a non-finite value in {len(names)} sample(s), left out "
                f"of this task's metrics: {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}",
                UserWarning,
                stacklevel=2,
            )
    return left_out


def _problems(label: Label, values: torch.Tensor, task: Any, side: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) bool rows with a value no task can take, and (B,) rows with a non-finite value the label does not
    take as missing."""
    flat = values.reshape(values.shape[0], -1)
    if not flat.is_floating_point():
        bound = getattr(task, label.classes, None)
        wrong = (flat < 0) | (flat >= bound) if isinstance(bound, int) else flat < 0
        return (wrong & (flat != label.fill)).any(1), torch.zeros_like(flat[:, 0], dtype=torch.bool)
    finite = flat.isfinite()
    wrong = torch.zeros_like(finite)
    if label.values is not None:
        wrong |= finite & ~torch.isin(flat, torch.tensor(label.values, dtype=flat.dtype, device=flat.device))
    if label.kind == "keypoints" and side is not None:
        wrong |= finite & ((flat < -KEYPOINT_REACH * side) | (flat > (1 + KEYPOINT_REACH) * side))
    nonfinite = torch.zeros_like(finite[:, 0]) if label.nan_missing else (~finite).any(1)
    return wrong.any(1), nonfinite


def _message(task: Any, label: Label, value: torch.Tensor, source: str, side: float | None) -> str:
    """What is wrong with one sample's ``value`` (a row ``_problems`` found invalid), in words."""
    head = f"task {task.name!r}, label {label.key!r} of {source}"
    flat = value.reshape(-1)
    if not flat.is_floating_point():
        bound = getattr(task, label.classes, None)
        bad = flat[(flat != label.fill) & ((flat < 0) | ((flat >= bound) if isinstance(bound, int) else False))]
        allowed = f"0 .. {bound - 1} ({label.classes} {bound})" if isinstance(bound, int) else "0 or more"
        return f"{head}: class id {int(bad[0])} is outside {allowed}"
    finite = flat.isfinite()
    if label.values is not None:
        allowed = torch.tensor(label.values, dtype=flat.dtype, device=flat.device)
        bad = flat[finite & ~torch.isin(flat, allowed)]
        return f"{head}: value {float(bad[0]):g}, but values must be {' or '.join(f'{v:g}' for v in label.values)}"
    worst = float(flat[finite].abs().max())
    return (
        f"{head}: a point at {worst:g} px, more than {KEYPOINT_REACH:g} image sides ({side:g} px) outside the "
        "image: a broken annotation (refused)"
    )


def _source(sources: list[str], row: int) -> str:
    return sources[row] if row < len(sources) else f"sample {row} of the batch"
