"""Adapter from a Hugging Face ``datasets.Dataset`` to the sample contract (``facexformer/batch.py``).

The source is a ``Dataset`` object, a local folder (written by ``save_to_disk``, or data files such as parquet
that ``datasets.load_dataset`` reads) or a Hub dataset id (``owner/name``, loaded with ``load_dataset``; offline,
from the local cache).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from facexformer.batch import Sample
from facexformer.data.datasets.base import DatasetFormatError, box_from_points, whole_image_box
from facexformer.io.image import image_to_rgb
from facexformer.tasks.base import TASKS, Task, task_from_config
from facexformer.tasks.label import Label

#: a task as ``HFDataset`` takes it: a registered name, a Task, or a ``{"class_path", "init_args"}`` dict
TaskSpec = str | Task | dict[str, Any]
#: the face box column (optional: else the tight box of the keypoint labels, else the whole image)
BOX = Label("box", "vector", (4,))


class HFDataset(torch.utils.data.Dataset):
    """Face samples from a ``datasets.Dataset`` whose columns hold the image and the labels of ``task``.

    ``task``: one or more tasks, each a registered name (``"landmarks"``), a ``Task`` or a task config dict.
    Each task's declared labels (``Task.labels``) say which sample keys it needs and what they hold; a size
    the task's constructor sets (``num_points`` of ``visibility``) is checked when a ``Task`` (or config) is
    given, and left free for a bare name. ``columns`` maps sample keys (``image``, ``box``, ``landmarks``,
    ``age``, ``identity``, ...) to column names; unmapped keys use the column of the same name. Labels must be
    in the contract's units and frame (``landmarks`` (N, 2) pixels, ``headpose`` (3,) degrees (pitch, yaw,
    roll), ``parsing`` (H, W) LaPa ids the size of the image, class ids as whole numbers); they are cast to
    the declared dtype. Images may be PIL images, (H, W, 3) / (H, W) uint8 arrays or (3, H, W) uint8
    tensors. Box: the ``box`` column (x0, y0, x1, y1) if present, else the tight box of the keypoint labels,
    else the whole image (0, 0, W, H). A label a task can derive (``Label.derive``: ``age_group`` from
    ``age``) comes from its column if present, else is derived. The first row is checked at construction;
    errors name the column and row.
    """

    def __init__(
        self,
        hf_dataset: Any,
        task: TaskSpec | Sequence[TaskSpec],
        columns: Mapping[str, str] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        split: str | None = None,
        revision: str | None = None,
        cache_dir: str | None = None,
    ):
        self.data, self.name = _open(hf_dataset, split, revision, cache_dir)
        specs = [task] if isinstance(task, str | Task | dict) else list(task)
        unknown = [spec for spec in specs if isinstance(spec, str) and spec not in TASKS]
        if unknown or not specs:
            raise ValueError(f"HFDataset: unknown task(s) {unknown or '(none)'}; choose from {sorted(TASKS)}")
        resolved = [_resolve(spec) for spec in specs]
        self.tasks = tuple(name for name, _, _ in resolved)
        #: sample key -> (its declaration, the task instance that sizes it, or None for a bare name)
        self.labels: dict[str, tuple[Label, Task | None]] = {BOX.key: (BOX, None)}
        for _, cls, instance in resolved:
            self.labels.update({label.key: (label, instance) for label in cls.labels})
        columns = dict(columns or {})
        stray = sorted(set(columns) - {"image", *self.labels})
        if stray:
            raise ValueError(f"HFDataset: columns maps keys {stray} that tasks {self.tasks} do not use")
        available = set(self.data.column_names)
        self.columns: dict[str, str] = {}
        for key in sorted({"image", *self.labels}):
            column = columns.get(key, key)
            optional = key == BOX.key or (key in self.labels and self.labels[key][0].derive is not None)
            if column in available:
                self.columns[key] = column
            elif not optional or key in columns:
                raise DatasetFormatError(
                    f"HFDataset: {self.name} has no column {column!r} for {key!r} (has {sorted(available)})"
                )
        self.data = self.data.select_columns(sorted(set(self.columns.values())))
        self.transform = transform
        if len(self.data):
            self.load(0)

    def __len__(self) -> int:
        return len(self.data)

    def load(self, index: int) -> Sample:
        """Row ``index`` converted to the sample contract (before ``transform``)."""
        row = self.data[index]
        image = self._convert("image", row, index, _to_image)
        sample: Sample = {"image": image, "tasks": self.tasks, "source": f"{self.name}[{index}]"}
        for key in self.columns:
            if key == "image":
                continue
            label, task = self.labels[key]
            sample[key] = self._convert(key, row, index, partial(label.convert, task=task))
            if label.kind == "mask" and tuple(sample[key].shape) != tuple(image.shape[1:]):
                raise DatasetFormatError(
                    f"HFDataset: {self.name} row {index}: column {self.columns[key]!r} has shape "
                    f"{tuple(sample[key].shape)}, but the image is {tuple(image.shape[1:])}"
                )
        for key, (label, _) in self.labels.items():
            if key not in sample and label.derive is not None:
                sample[key] = self._derive(label, sample, index)
        if "box" not in sample:
            sample["box"] = self._box(sample, index)
        return sample

    def __getitem__(self, index: int) -> Sample:
        sample = self.load(index)
        return self.transform(sample) if self.transform is not None else sample

    def _convert(
        self, key: str, row: dict[str, Any], index: int, convert: Callable[[Any], torch.Tensor]
    ) -> torch.Tensor:
        column = self.columns[key]
        try:
            return convert(row[column])
        except (ValueError, TypeError) as err:
            where = f"{self.name} row {index}: column {column!r} ({key})"
            raise DatasetFormatError(f"HFDataset: {where}: {err}") from err

    def _derive(self, label: Label, sample: Sample, index: int) -> torch.Tensor:
        """``label`` computed from the row's other labels (the dataset has no column for it)."""
        try:
            return label.convert(label.derive(sample))
        except (ValueError, TypeError, KeyError) as err:
            used = sorted(column for key, column in self.columns.items() if key != "image")
            raise DatasetFormatError(
                f"HFDataset: {self.name} row {index}: no column for {label.key!r}, and deriving it from "
                f"columns {used} failed: {err}"
            ) from err

    def _box(self, sample: Sample, index: int) -> torch.Tensor:
        """The tight box of the row's keypoint labels, or the whole image when it has none."""
        points = [sample[key] for key, (label, _) in self.labels.items() if label.kind == "keypoints" and key in sample]
        if not points:
            return whole_image_box(sample["image"])
        try:
            return box_from_points(torch.cat(points))
        except DatasetFormatError as err:
            raise DatasetFormatError(f"HFDataset: {self.name} row {index}: no box column, and {err}") from err


def _resolve(spec: TaskSpec) -> tuple[str, type[Task], Task | None]:
    """(name, class, instance or None) of a task given by name, instance or config."""
    if isinstance(spec, str):
        cls, instance = TASKS[spec], None
    else:
        instance = task_from_config(spec)
        cls = type(instance)
    if cls.label_keys and not cls.labels:
        raise ValueError(
            f"HFDataset: task {cls.name!r} lists label_keys {cls.label_keys} but declares no `labels` (kind, "
            "shape, dtype of each); declare them on the task class (facexformer.tasks.Label)"
        )
    return cls.name, cls, instance


#: ``owner/name`` or ``name``: how a Hub dataset id looks (a path with more parts or a suffix is local)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
DATA_FILE_SUFFIXES = (".parquet", ".arrow", ".csv", ".json", ".jsonl", ".txt", ".zip", ".tar")


def is_hub_id(source: str) -> bool:
    """Whether ``source`` (which does not exist locally) names a Hub dataset rather than a mistyped path: an
    ``owner/name`` or ``name`` whose first part is not a local folder and which has no data-file suffix."""
    if not HUB_ID.match(source) or source.lower().endswith(DATA_FILE_SUFFIXES) or source.startswith("."):
        return False
    return "/" not in source or not Path(source.split("/")[0]).is_dir()


def _open(hf_dataset: Any, split: str | None, revision: str | None, cache_dir: str | None) -> tuple[Any, str]:
    if isinstance(hf_dataset, str | os.PathLike):
        try:
            import datasets
        except ImportError as err:
            raise ImportError("HFDataset needs the 'datasets' package: pip install 'facexformer[hf]'") from err
        path = Path(hf_dataset).expanduser()
        if path.exists():
            saved = (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()
            loaded = datasets.load_from_disk(str(path)) if saved else _load(str(path), split, None, cache_dir)
            name = str(path)
        elif isinstance(hf_dataset, str) and is_hub_id(hf_dataset):
            loaded, name = _load(hf_dataset, split, revision, cache_dir), hf_dataset
        else:
            raise FileNotFoundError(
                f"HFDataset: {path} does not exist (a local folder: save_to_disk output or data files; "
                "a Hub dataset is given as owner/name)"
            )
        return _one_split(loaded, split, name), name
    if not hasattr(hf_dataset, "column_names") or not hasattr(hf_dataset, "select_columns"):
        raise TypeError(
            f"HFDataset: expected a datasets.Dataset, a local folder or a Hub dataset id, got {type(hf_dataset)}"
        )
    name = getattr(getattr(hf_dataset, "info", None), "dataset_name", None)
    return hf_dataset, name or "datasets.Dataset"


def _load(source: str, split: str | None, revision: str | None, cache_dir: str | None) -> Any:
    """``datasets.load_dataset`` (map-style, not streaming), with a short message when offline and uncached."""
    import datasets

    try:
        return datasets.load_dataset(source, split=split, revision=revision, cache_dir=cache_dir, streaming=False)
    except (ConnectionError, FileNotFoundError, OSError) as err:
        if Path(source).exists():
            raise
        offline = (
            "offline" in str(err).lower() or os.environ.get("HF_DATASETS_OFFLINE") or os.environ.get("HF_HUB_OFFLINE")
        )
        reason = "is not in the local datasets cache and the Hub is offline" if offline else "could not be loaded"
        raise FileNotFoundError(
            f"HFDataset: Hub dataset {source!r} {reason}; fetch it once while online with "
            f"`hf download --repo-type dataset {source}` (or datasets.load_dataset({source!r}))"
        ) from err


def _one_split(loaded: Any, split: str | None, name: str) -> Any:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        if split is not None:
            if split not in loaded:
                raise ValueError(f"HFDataset: {name} has no split {split!r} (has {list(loaded)})")
            return loaded[split]
        if len(loaded) != 1:
            raise ValueError(f"HFDataset: {name} holds splits {list(loaded)}; pass split= (one of them)")
        return next(iter(loaded.values()))
    return loaded


def _to_image(value: Any) -> torch.Tensor:
    """PIL image, (H, W[, 3]) array or (3, H, W) tensor, uint8 or ints in 0..255 -> uint8 (3, H, W) RGB."""
    if isinstance(value, Image.Image):  # 16-bit scaled, any mode to RGB (facexformer.io.image)
        return torch.from_numpy(image_to_rgb(value)).permute(2, 0, 1).contiguous()
    if isinstance(value, torch.Tensor):
        chw = True
        array = value.numpy()
    else:
        chw = False
        array = np.asarray(value)
    if array.dtype != np.uint8:
        if array.dtype.kind not in "iu" or array.size == 0 or array.min() < 0 or array.max() > 255:
            raise ValueError(f"image must be uint8 (or integers in 0..255), got {array.dtype} {array.shape}")
        array = array.astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
        chw = False
    elif chw and array.ndim == 3 and array.shape[0] in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        layout = "(3, H, W) tensor" if chw else "(H, W, 3) array"
        raise ValueError(f"image shape {array.shape} is not a {layout}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).contiguous()
