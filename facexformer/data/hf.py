"""Adapter from a Hugging Face ``datasets.Dataset`` to the sample contract (``data.datasets.base``).

The source is a ``Dataset`` object, a local folder (written by ``save_to_disk``, or data files such as parquet
that ``datasets.load_dataset`` reads) or a Hub dataset id (``owner/name``, loaded with ``load_dataset``; offline,
from the local cache).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError, Sample, box_from_points, whole_image_box
from facexformer.data.datasets.demographics import age_to_group
from facexformer.io.image import image_to_rgb

# task -> sample keys it needs; "age_group" and "box" are optional columns
TASK_KEYS: dict[str, tuple[str, ...]] = {
    "landmarks": ("landmarks",),
    "visibility": ("visibility",),
    "headpose": ("headpose",),
    "parsing": ("parsing",),
    "attributes": ("attributes",),
    "age": ("age",),
    "gender": ("gender",),
    "race": ("race",),
    "expression": ("expression",),
    "recognition": ("identity",),
}
VECTOR_SHAPES = {"visibility": (29,), "headpose": (3,), "attributes": (40,), "box": (4,)}
INTEGER_KEYS = ("gender", "race", "expression", "identity", "age_group")
OPTIONAL_KEYS = ("box", "age_group")


class HFDataset(torch.utils.data.Dataset):
    """Face samples from a ``datasets.Dataset`` whose columns hold the image and the labels of ``task``.

    ``columns`` maps sample keys (``image``, ``box``, ``landmarks``, ``headpose``, ``age``, ``age_group``,
    ``identity``, ...) to column names; unmapped keys use the column of the same name. Labels must be in the
    contract's units and frame (``landmarks`` (N, 2) pixels, ``headpose`` (3,) degrees (pitch, yaw, roll),
    ``parsing`` (H, W) LaPa ids, class ids as integers). Images may be PIL images, (H, W, 3) / (H, W) uint8
    arrays or (3, H, W) uint8 tensors. Floats are cast to float32. Box: the ``box`` column (x0, y0, x1, y1)
    if present, else the tight box of ``landmarks``, else the whole image (0, 0, W, H). ``age_group`` comes
    from its column if present, else from ``age``. The first row is checked at construction; errors name the
    column and row.
    """

    def __init__(
        self,
        hf_dataset: Any,
        task: str | Sequence[str],
        columns: Mapping[str, str] | None = None,
        transform: Callable[[Sample], Sample] | None = None,
        split: str | None = None,
        revision: str | None = None,
        cache_dir: str | None = None,
    ):
        self.data, self.name = _open(hf_dataset, split, revision, cache_dir)
        self.tasks = (task,) if isinstance(task, str) else tuple(task)
        unknown = [t for t in self.tasks if t not in TASK_KEYS]
        if unknown or not self.tasks:
            raise ValueError(f"HFDataset: unknown task(s) {unknown or '(none)'}; choose from {sorted(TASK_KEYS)}")
        columns = dict(columns or {})
        known = {"image", "box", *(key for t in self.tasks for key in TASK_KEYS[t])}
        if "age" in self.tasks:
            known.add("age_group")
        stray = sorted(set(columns) - known)
        if stray:
            raise ValueError(f"HFDataset: columns maps keys {stray} that tasks {self.tasks} do not use")
        available = set(self.data.column_names)
        self.columns: dict[str, str] = {}
        for key in sorted(known):
            column = columns.get(key, key)
            if column in available:
                self.columns[key] = column
            elif key not in OPTIONAL_KEYS or key in columns:
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
            if key != "image":
                sample[key] = self._convert(key, row, index, _label_converter(key))
        if "parsing" in sample and tuple(sample["parsing"].shape) != tuple(image.shape[1:]):
            raise DatasetFormatError(
                f"HFDataset: {self.name} row {index}: column {self.columns['parsing']!r} has shape "
                f"{tuple(sample['parsing'].shape)}, but the image is {tuple(image.shape[1:])}"
            )
        if "age" in sample and "age_group" not in sample:
            sample["age_group"] = self._convert("age", row, index, lambda v: torch.tensor(age_to_group(float(v))))
        if "box" not in sample:
            points = sample.get("landmarks")
            sample["box"] = box_from_points(points) if points is not None else whole_image_box(image)
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


def _label_converter(key: str) -> Callable[[Any], torch.Tensor]:
    def convert(value: Any) -> torch.Tensor:
        array = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if key == "parsing":
            return _integers(array, ndim=2)
        if key in INTEGER_KEYS:
            return _integers(array, ndim=0)
        array = array.astype(np.float32)
        if key == "landmarks" and (array.ndim != 2 or array.shape[1] != 2):
            raise ValueError(f"expected (N, 2) points, got shape {array.shape}")
        if key == "age" and array.shape != ():
            raise ValueError(f"expected a scalar, got shape {array.shape}")
        if key in VECTOR_SHAPES and array.shape != VECTOR_SHAPES[key]:
            raise ValueError(f"expected shape {VECTOR_SHAPES[key]}, got {array.shape}")
        if key in ("attributes", "visibility") and not np.isin(array, (0.0, 1.0)).all():
            raise ValueError("values must be 0 or 1")
        return torch.from_numpy(array)

    return convert


def _integers(array: np.ndarray, ndim: int) -> torch.Tensor:
    if array.ndim != ndim:
        raise ValueError(f"expected {ndim} dimension(s), got shape {array.shape}")
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise ValueError("expected integer class ids")
    if array.dtype.kind not in "iuf" and array.dtype != bool:
        raise ValueError(f"expected integers, got dtype {array.dtype}")
    return torch.from_numpy(array.astype(np.int64))
