"""The Sample/Batch contract between datasets, the collate function, tasks and the training step.

A **sample** (what a dataset's ``__getitem__`` returns) is a dict with at least:

- ``image``: (3, H, W) uint8 (or float in [0, 1]) RGB: the original photo as a dataset reads it, the face
  crop after ``facexformer.data.crop.CropFace``;
- ``box``: (4,) float32 face box (x0, y0, x1, y1) in the original photo's pixels;
- ``source``: a string saying where the sample came from (file, line or index), used in every error;
- ``tasks``: the names of the tasks the sample has labels for;

and the labels of those tasks as each task declares them (``Task.labels``: key, kind, shape, dtype, e.g.
``landmarks`` (N, 2) float32 pixels, ``parsing`` (H, W) int64, ``age`` () float32), plus optional extras
(``crop`` (4,), ``landmarks_norm`` (), ...).

A **batch** of B samples (``facexformer.data.collate.collate_multitask``) is a dict:

- ``image``: (B, 3, H, W), stacked as the samples hold them; the datamodule turns uint8 into float [0, 1]
  after moving the batch to the device, so ``FaceXFormer.step`` always reads float [0, 1];
- ``box``: float32 (B, 4); ``source``: ``list[str]``; ``tasks``: ``list[tuple[str, ...]]`` (length B);
- ``task_mask``: ``dict[str, Tensor]``, for every task some sample has, a bool (B,) tensor, True where the
  sample has that task (a task no sample has gets no entry: read it with ``.get``);
- every other key found in any sample, stacked to (B, *shape); samples without it get the fill value its
  task declares (``Label.fill``), or for a key no task declares NaN for floating dtypes and -1 for signed
  integer ones, so a missing label never looks like a real one.

A task's loss and metrics see the **sub-batch** of its samples, ``select_samples(batch, task_mask[task])``.
This module imports nothing else of facexformer, so every layer may use the contract.
"""

from __future__ import annotations

from typing import Any

import torch

Sample = dict[str, Any]
Batch = dict[str, Any]


def select_samples(batch: Batch, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The tensors of ``batch`` with one row per sample, restricted to the rows where ``mask`` (B,) is true
    (e.g. ``batch["task_mask"][task]``: the sub-batch a task's loss and metrics see)."""
    return {k: v[mask] for k, v in batch.items() if isinstance(v, torch.Tensor) and v.shape[:1] == mask.shape}
