"""What every raw-format dataset shares: root checks, image decoding, error reporting.

A dataset item is a ``Sample`` (``facexformer/batch.py``) in the original image frame: ``image`` the whole
original image, ``box`` the face box in its pixels, and each label as its task declares it (``Task.labels``).
"""

from __future__ import annotations

import inspect
import textwrap
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from facexformer.batch import Sample
from facexformer.io.image import ImageDecodeError, read_image

#: how many following samples ``skip_invalid`` tries in place of one that fails to load
MAX_REPLACEMENTS = 16
#: what ``transform`` is: a callable from a sample to a (changed) sample, applied by ``__getitem__``
Transform = Callable[[Sample], Sample]


class DatasetFormatError(ValueError):
    """A file on disk does not have the layout or content its dataset format defines."""


class DatasetImageError(DatasetFormatError, ImageDecodeError):
    """A dataset's image file cannot be decoded (both a ``DatasetFormatError`` and an ``ImageDecodeError``)."""


def require_path(path: Path, dataset: str, layout: str) -> Path:
    """Return ``path`` if it exists; otherwise raise ``FileNotFoundError`` naming it and the expected layout."""
    if not path.exists():
        raise FileNotFoundError(f"{dataset}: {path} does not exist. Expected layout:\n{layout}")
    return path


def load_image(path: Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor (3, H, W) with ``facexformer.io.image`` (EXIF orientation
    applied, 16-bit scaled, any colour mode converted); a bad file raises ``DatasetImageError`` naming it."""
    try:
        return read_image(path)
    except ImageDecodeError as err:
        message = str(err)
    raise DatasetImageError(message)


def box_from_points(points: torch.Tensor) -> torch.Tensor:
    """The tight box (x0, y0, x1, y1) around (N, 2) points, ignoring non-finite rows; float32 (4,).

    All points missing raises ``DatasetFormatError`` (the caller adds the file name)."""
    valid = points[torch.isfinite(points).all(dim=-1)]
    if valid.shape[0] == 0:
        raise DatasetFormatError(f"all {points.shape[0]} landmarks are missing (NaN or inf); no face box")
    return torch.cat([valid.min(dim=0).values, valid.max(dim=0).values]).float()


def whole_image_box(image: torch.Tensor) -> torch.Tensor:
    """The box (0, 0, W, H) covering a whole (3, H, W) image; float32 (4,)."""
    return torch.tensor([0.0, 0.0, float(image.shape[-1]), float(image.shape[-2])])


def files_with_suffixes(folder: Path, suffixes: Sequence[str], recursive: bool = False) -> list[Path]:
    """Files in ``folder`` (and its sub-folders if ``recursive``) whose suffix is one of ``suffixes``, compared
    case-insensitively (``.JPG`` counts as ``.jpg``); sorted by path relative to ``folder``."""
    wanted = {suffix.lower() for suffix in suffixes}
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = [path for path in found if path.suffix.lower() in wanted and path.is_file()]
    return sorted(files, key=lambda path: path.relative_to(folder).as_posix())


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
                message = f"{dataset}: {where(record)}: {err}"
                raise DatasetFormatError(message) from None  # the message carries the cause
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

    ``skip_invalid=True``: a sample whose ``load`` raises ``DatasetFormatError`` (an undecodable image, a bad
    label file) or ``FileNotFoundError`` is replaced by the next loadable one, counted in ``skipped`` (shared
    with DataLoader workers) and warned about; without it the error propagates, naming the file.
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

    def __init__(self, root: str | Path, split: str, transform: Transform | None = None, skip_invalid: bool = False):
        if self.splits and split not in self.splits:
            raise ValueError(f"{type(self).__name__}: unknown split {split!r}; choose one of {self.splits}")
        self.root = self.require(Path(root).expanduser())
        self.split = split
        self.transform = transform
        self.skip_invalid = skip_invalid
        # shared memory, so that skips counted in DataLoader worker processes reach the main process
        self._skipped = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def skipped(self) -> int:
        """Samples that failed to load (undecodable image, bad file) and were replaced, since construction."""
        return int(self._skipped)

    def require_samples(self, source: str | Path) -> None:
        """Raise ``DatasetFormatError`` naming ``source`` (the file or folder listing the samples) when this
        dataset has no sample, so an empty split fails here rather than later without the dataset's name."""
        if len(self.records) == 0:
            raise DatasetFormatError(f"{self.name} ({self.split}): {source} gives no samples")

    def require(self, path: Path) -> Path:
        """``path`` if it exists; otherwise ``FileNotFoundError`` naming it and this dataset's layout."""
        return require_path(path, self.name, self.layout)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> Sample:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        sample = self._load_or_replace(index)
        return self.transform(sample) if self.transform is not None else sample

    def _load_or_replace(self, index: int) -> Sample:
        """``load(index)``; with ``skip_invalid`` a sample whose files fail to load is counted, warned about and
        replaced by the next loadable one (index + 1, + 2, ... wrapping), at most ``MAX_REPLACEMENTS`` tries."""
        if not self.skip_invalid:
            return self.load(index)
        if not -len(self) <= index < len(self):  # iteration ends at IndexError; replacements must not wrap past it
            raise IndexError(f"{self.name} ({self.split}): index {index} out of range for {len(self)} samples")
        index %= len(self)
        first_error = ""
        for attempt in range(min(len(self), MAX_REPLACEMENTS + 1)):
            candidate = (index + attempt) % len(self)
            try:
                return self.load(candidate)
            except (DatasetFormatError, FileNotFoundError) as err:
                self._skipped += 1
                first_error = first_error or str(err)
                warnings.warn(
                    f"{self.name} ({self.split}): skipped sample {candidate} (skip_invalid=True; "
                    f"{self.skipped} skipped so far): {err}",
                    stacklevel=3,
                )
        raise DatasetFormatError(
            f"{self.name} ({self.split}): no loadable sample among {min(len(self), MAX_REPLACEMENTS + 1)} "
            f"consecutive ones from index {index}; first failure: {first_error}"
        )
