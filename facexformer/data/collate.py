"""Collate samples of different tasks and datasets into one batch: the contract the model's losses read.

The sample and batch layouts are the contract written down in ``facexformer/batch.py``: image, box, source,
tasks, a bool ``task_mask`` per task, and every other key stacked with a fill value where a sample lacks it:
the one its task declares (``Label.fill``), else NaN for floating dtypes and -1 for signed integer dtypes
(undeclared keys of other dtypes must be in every sample).

A loss selects its samples with ``task_mask[task]`` (or with a key's own fill value for keys that no task mask
covers). Values must be tensors or numbers; a key whose shape or dtype differs between samples raises
``ValueError`` naming the key, both shapes (or dtypes) and both sources.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from facexformer.batch import Sample
from facexformer.tasks.base import declared_labels
from facexformer.tasks.label import dtype_holds

REQUIRED_KEYS = ("image", "box", "source", "tasks")


def collate_multitask(samples: list[Sample]) -> dict[str, Any]:
    """Stack sample dicts (the dataset contract) into the batch described in the module docstring."""
    if not samples:
        raise ValueError("collate_multitask: empty list of samples")
    for index, sample in enumerate(samples):
        missing = [key for key in REQUIRED_KEYS if sample.get(key) is None]
        if missing:
            where = sample.get("source", f"sample {index} of the batch")
            raise KeyError(f"collate_multitask: {where} lacks required key(s) {missing}")
    sources = [str(sample["source"]) for sample in samples]
    tasks = [tuple(sample["tasks"]) for sample in samples]
    batch: dict[str, Any] = {
        "image": _stack("image", [s["image"] for s in samples], sources),
        "box": _stack("box", [s["box"] for s in samples], sources),
        "source": sources,
        "tasks": tasks,
        "task_mask": {
            name: torch.tensor([name in sample_tasks for sample_tasks in tasks])
            for name in dict.fromkeys(name for sample_tasks in tasks for name in sample_tasks)
        },
    }
    label_keys = dict.fromkeys(key for sample in samples for key in sample if key not in REQUIRED_KEYS)
    for key in label_keys:
        batch[key] = _stack(key, [sample.get(key) for sample in samples], sources)
    return batch


def _as_tensor(key: str, value: Any, source: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray | numbers.Number):
        return torch.as_tensor(value)
    kind = type(value).__name__
    raise TypeError(f"collate_multitask: key {key!r} of {source} is a {kind}, expected a tensor")


def _fill_value(key: str, dtype: torch.dtype, source: str) -> float:
    """The declared fill of ``key`` (``Label.fill``) where ``dtype`` can hold it, else NaN for floating dtypes and
    -1 for signed integer ones (an undeclared key, or a label a dataset gives in another dtype)."""
    label = declared_labels().get(key)
    if label is not None and dtype_holds(dtype, float(label.fill)):
        return float(label.fill)
    if dtype.is_floating_point or dtype.is_complex:
        return float("nan")
    if not dtype.is_signed or dtype == torch.bool:
        raise ValueError(
            f"collate_multitask: key {key!r} is missing from {source} and its dtype {dtype} has no fill "
            "value that cannot be mistaken for a label; give every sample this key or use a float or "
            "signed integer dtype"
        )
    return -1


def _stack(key: str, values: list[Any], sources: list[str]) -> torch.Tensor:
    """Stack ``values`` (None where a sample lacks ``key``) to ``(B, *shape)``, filling the gaps."""
    present = [(i, _as_tensor(key, v, sources[i])) for i, v in enumerate(values) if v is not None]
    if not present:
        raise KeyError(f"collate_multitask: no sample has a value for key {key!r}")
    first, reference = present[0]
    for i, tensor in present[1:]:
        if tensor.shape != reference.shape:
            raise ValueError(
                f"collate_multitask: key {key!r} has shape {tuple(reference.shape)} in {sources[first]} "
                f"but {tuple(tensor.shape)} in {sources[i]}"
            )
        if tensor.dtype != reference.dtype:
            raise ValueError(
                f"collate_multitask: key {key!r} has dtype {reference.dtype} in {sources[first]} "
                f"but {tensor.dtype} in {sources[i]}"
            )
    if len(present) == len(values):
        return torch.stack([tensor for _, tensor in present])
    absent = next(i for i, v in enumerate(values) if v is None)
    fill = _fill_value(key, reference.dtype, sources[absent])
    out = torch.full((len(values), *reference.shape), fill, dtype=reference.dtype)
    for i, tensor in present:
        out[i] = tensor
    return out
