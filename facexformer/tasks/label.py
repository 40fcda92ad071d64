"""``Label``: what one label of a task is (kind, shape, dtype, fill value), declared once on the task.

The crop, the augmentation, the collate function and the Hugging Face adapter read these declarations, so a
new task's labels are moved, warped, filled and checked without any edit outside the task's file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: kind -> (default shape, default dtype); a ``None`` dimension takes any size
KINDS: dict[str, tuple[tuple[None, ...], torch.dtype]] = {
    "keypoints": ((None, 2), torch.float32),  # (N, 2) pixels (x, y), NaN rows = missing points
    "mask": ((None, None), torch.int64),  # (H, W) label map the size of the image
    "vector": ((None,), torch.float32),  # (D,) or any fixed-size tensor, not moved by geometry
    "class": ((), torch.int64),  # scalar class id
    "scalar": ((), torch.float32),  # scalar value (years, ...)
}
#: a dimension: a fixed size, the name of a task attribute holding the size (``"num_points"``), or None (any)
Dim = int | str | None


def dtype_holds(dtype: torch.dtype, value: float) -> bool:
    """Whether a tensor of ``dtype`` holds ``value`` exactly (NaN only in floating dtypes, never in bool)."""
    if dtype.is_floating_point or dtype.is_complex:
        return True
    if dtype == torch.bool or not math.isfinite(value) or value != int(value):
        return False
    return torch.iinfo(dtype).min <= value <= torch.iinfo(dtype).max


@dataclass(frozen=True)
class Label:
    """One batch key a task reads, declared on the task class (``Task.labels``).

    Args:
        key: the sample / batch key (``"landmarks"``).
        kind: ``"keypoints"`` ((N, 2) pixels, moved with the image by the crop and the augmentation),
            ``"mask"`` ((H, W) label map, cut and warped with nearest sampling), ``"vector"``, ``"class"``
            (scalar int) or ``"scalar"`` (scalar float).
        shape: the shape of one sample's value; a dimension is an int, the name of the task attribute that
            holds it (``"num_points"``: checked where a task instance is at hand) or None (any size).
            Default: the kind's ((N, 2), (H, W), (D,), (), ()).
        dtype: the torch dtype samples carry; default float32, int64 for ``class`` and ``mask``.
        fill: the value ``collate_multitask`` puts where a sample lacks the label; default NaN for floating
            dtypes, -1 for integer ones (never a real label).
        values: the only values allowed (``(0, 1)`` for binary flags); None allows any.
        derive: where a source may leave the label out because it follows from others: a function from the
            sample's other labels to this one (the age bin from the age in years).
        classes: for ``class`` and ``mask`` labels, the task attribute holding the number of classes (ids must
            lie in ``0 .. classes - 1``); default ``"num_classes"`` where the task has it.
        nan_missing: whether NaN marks a missing value the task's loss and metrics leave out (default: for
            ``keypoints`` only); elsewhere NaN in a sample of the task is refused in training and left out with
            a warning in evaluation (``facexformer.tasks.label_check``).
    """

    key: str
    kind: str
    shape: tuple[Dim, ...] | None = None
    dtype: torch.dtype | None = None
    fill: float | None = None
    values: tuple[float, ...] | None = None
    derive: Callable[[Mapping[str, torch.Tensor]], torch.Tensor] | None = None
    classes: str = "num_classes"
    nan_missing: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"label {self.key!r}: unknown kind {self.kind!r}; choose one of {list(KINDS)}")
        default_shape, default_dtype = KINDS[self.kind]
        shape = default_shape if self.shape is None else tuple(self.shape)
        dtype = default_dtype if self.dtype is None else self.dtype
        if (self.kind == "vector" and not shape) or (self.kind != "vector" and len(shape) != len(default_shape)):
            raise ValueError(f"label {self.key!r}: a {self.kind} label cannot have shape {shape}")
        if self.kind == "keypoints" and shape[1] != 2:
            raise ValueError(f"label {self.key!r}: keypoints are (N, 2), got shape {shape}")
        if self.kind in ("class", "mask") and (dtype.is_floating_point or dtype.is_complex):
            raise ValueError(f"label {self.key!r}: a {self.kind} label holds integers, got dtype {dtype}")
        fill = (float("nan") if dtype.is_floating_point else -1) if self.fill is None else self.fill
        if not dtype_holds(dtype, fill):
            raise ValueError(f"label {self.key!r}: fill {fill} is not a value of dtype {dtype}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "fill", fill)
        nan_missing = self.kind == "keypoints" if self.nan_missing is None else self.nan_missing
        object.__setattr__(self, "nan_missing", nan_missing)

    def agrees_with(self, other: Label) -> bool:
        """Whether ``other`` has the same kind, dtype and fill value (so one batch key can serve both)."""
        return (self.kind, self.dtype, str(self.fill)) == (other.kind, other.dtype, str(other.fill))

    def sizes(self, task: Any | None = None) -> tuple[int | None, ...]:
        """The shape with named dimensions read from ``task`` (None where no task is given: any size)."""
        if task is None:
            return tuple(None if isinstance(dim, str) else dim for dim in self.shape)
        return tuple(getattr(task, dim) if isinstance(dim, str) else dim for dim in self.shape)

    def describe(self, task: Any | None = None) -> str:
        """``"(N, 2) float32 keypoints"``: the declaration in words, for error messages."""
        letters = iter({"keypoints": "N", "mask": "HW", "vector": "DEF"}.get(self.kind, ""))
        dims = [str(d) if d is not None else next(letters) for d in self.sizes(task)]
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        return f"{shape} {str(self.dtype).removeprefix('torch.')} {self.kind}"

    def convert(self, value: Any, task: Any | None = None) -> torch.Tensor:
        """``value`` (a number, nested list, numpy array or tensor) as this label's tensor: checked shape
        (named dimensions from ``task``), cast to ``dtype``; integer labels must hold whole numbers.

        Raises ``ValueError`` saying what was expected and what was found (the caller names the source)."""
        array = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"expected {self.describe(task)} numbers, got {array.dtype} values")
        expected = self.sizes(task)
        if array.ndim != len(expected) or any(e not in (None, n) for e, n in zip(expected, array.shape, strict=True)):
            raise ValueError(f"expected shape {self.describe(task)}, got {array.shape}")
        integral = not self.dtype.is_floating_point
        if integral and array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
            raise ValueError(f"expected integer class ids for {self.describe(task)}")
        if self.values is not None and not np.isin(array, self.values).all():
            raise ValueError(f"values must be {' or '.join(f'{v:g}' for v in self.values)}")
        return torch.from_numpy(np.array(array)).to(self.dtype)
