"""What every raw-format dataset shares: the sample contract, root checks, image decoding, error reporting.

A dataset item is a dict (see ``docs/concepts.md``):

- ``image``: uint8 tensor (3, H, W), RGB, the original image;
- ``box``: float32 tensor (4,), the face box (x0, y0, x1, y1) in original pixels;
- ``tasks``: tuple of the task names this sample has labels for;
- one key per label, in the original image frame (``landmarks`` (N, 2) pixels, ``parsing`` (H, W) int64, ...);
- ``source``: a string naming the file (and line or index) the sample came from, for error messages.
"""

from __future__ import annotations

import inspect
import textwrap
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

Sample = dict[str, Any]
#: what ``transform`` is: a callable from a sample to a (changed) sample, applied by ``__getitem__``
Transform = Callable[[Sample], Sample]


class DatasetFormatError(ValueError):
    """A file on disk does not have the layout or content its dataset format defines."""


def require_path(path: Path, dataset: str, layout: str) -> Path:
    """Return ``path`` if it exists; otherwise raise ``FileNotFoundError`` naming it and the expected layout."""
    if not path.exists():
        raise FileNotFoundError(f"{dataset}: {path} does not exist. Expected layout:\n{layout}")
    return path


def load_image(path: Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor (3, H, W); a corrupt file raises ``DatasetFormatError``."""
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DatasetFormatError(f"{path}: cannot decode image ({err})") from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def box_from_points(points: torch.Tensor) -> torch.Tensor:
    """The tight box (x0, y0, x1, y1) around (N, 2) points, ignoring NaN rows; float32 (4,)."""
    valid = points[~torch.isnan(points).any(dim=-1)]
    return torch.cat([valid.min(dim=0).values, valid.max(dim=0).values]).float()


def whole_image_box(image: torch.Tensor) -> torch.Tensor:
    """The box (0, 0, W, H) covering a whole (3, H, W) image; float32 (4,)."""
    return torch.tensor([0.0, 0.0, float(image.shape[-1]), float(image.shape[-2])])


def parse_records(
    records: Sequence[Any],
    parse: Callable[[Any], Any],
    where: Callable[[Any], str],
    skip_invalid: bool,
    dataset: str,
) -> list[Any]:
    """Parse every raw record; bad ones raise naming ``where(record)``, or are skipped and counted in one warning."""
    parsed, bad = [], []
    for record in records:
        try:
            parsed.append(parse(record))
        except (DatasetFormatError, ValueError, IndexError, KeyError) as err:
            if not skip_invalid:
                raise DatasetFormatError(f"{dataset}: {where(record)}: {err}") from err
            bad.append(f"{where(record)}: {err}")
    if bad:
        warnings.warn(
            f"{dataset}: skipped {len(bad)} invalid record(s) (skip_invalid=True); first: {bad[0]}",
            stacklevel=3,
        )
    return parsed


class FaceDataset(Dataset):
    """Base class of the raw-format datasets: checks ``root`` exists, keeps ``split`` and applies ``transform``.

    Subclasses set ``name`` (used in messages), ``layout`` (the expected folder layout, shown in errors and
    appended to the subclass docstring) and ``splits``, fill ``self.records`` (one entry per sample) and
    implement ``load(index) -> Sample``.
    """

    name: str = ""
    layout: str = ""
    splits: tuple[str, ...] = ()
    records: Sequence[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("layout") and cls.__doc__:
            layout = textwrap.indent(cls.layout, "    ")
            cls.__doc__ = f"{inspect.cleandoc(cls.__doc__)}\n\nExpected layout::\n\n{layout}\n"

    def __init__(self, root: str | Path, split: str, transform: Transform | None = None):
        if self.splits and split not in self.splits:
            raise ValueError(f"{type(self).__name__}: unknown split {split!r}; choose one of {self.splits}")
        self.root = self.require(Path(root).expanduser())
        self.split = split
        self.transform = transform

    def require(self, path: Path) -> Path:
        """``path`` if it exists; otherwise ``FileNotFoundError`` naming it and this dataset's layout."""
        return require_path(path, self.name, self.layout)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        sample = self.load(index)
        return self.transform(sample) if self.transform is not None else sample
