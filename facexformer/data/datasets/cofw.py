"""COFW (29 landmarks with occlusion flags) from ``COFW_{train,test}_color.mat``, MATLAB v5 or v7.3 (HDF5)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io
import torch
from scipy.io.matlab import MatReadError

from facexformer.batch import Sample
from facexformer.data.datasets.base import DatasetFormatError, FaceDataset, Transform, parse_records

LAYOUT = """\
<root>/
  COFW_train_color.mat   IsTr (1345 images), phisTr (1345 x 87), bboxesTr (1345 x 4)
  COFW_test_color.mat    IsT (507 images), phisT (507 x 87), bboxesT (507 x 4)"""

KEYS = {"train": ("IsTr", "phisTr", "bboxesTr"), "test": ("IsT", "phisT", "bboxesT")}
NUM_POINTS = 29

# (index in the file, landmarks (29, 2) pixels, box (4,) pixels, occlusion flags (29,))
Record = tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]


def _v5_arrays(path: Path, keys: tuple[str, str, str]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Images, phis (N, 87) and boxes (N, 4) of a MATLAB v5/v7 file (``scipy.io.loadmat``)."""
    try:
        content = scipy.io.loadmat(path)
    except (MatReadError, ValueError, OSError, NotImplementedError) as err:
        raise DatasetFormatError(f"COFW: {path}: not a readable MATLAB file ({err})") from None
    images, phis, boxes = (_require_key(content, key, path) for key in keys)
    return list(np.asarray(images, dtype=object).reshape(-1)), np.asarray(phis), np.asarray(boxes)


def _v73_arrays(path: Path, keys: tuple[str, str, str]) -> tuple[int, np.ndarray, np.ndarray]:
    """Image count, phis (N, 87) and boxes (N, 4) of a MATLAB v7.3 file (h5py shows arrays transposed)."""
    try:
        with h5py.File(path, "r") as content:
            images, phis, boxes = (_require_key(content, key, path) for key in keys)
            return int(np.prod(images.shape)), np.asarray(phis).T, np.asarray(boxes).T
    except OSError as err:
        message = f"COFW: {path}: not a readable MATLAB v7.3 (HDF5) file, truncated or corrupt ({err})"
    raise DatasetFormatError(message)


def _require_key(content, key: str, path: Path):
    if key not in content:
        present = sorted(k for k in content if not k.startswith("_") and not k.startswith("#"))
        raise DatasetFormatError(f"COFW: {path}: no variable {key!r} (found {present})")
    return content[key]


def _to_rgb(array: np.ndarray, where: str) -> torch.Tensor:
    """An (H, W, 3) or (H, W) uint8 image -> uint8 tensor (3, H, W); grey images are repeated."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise DatasetFormatError(f"COFW: {where}: image must be uint8 HxW or HxWx3, got {array.dtype} {array.shape}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


class COFW(FaceDataset):
    """COFW colour, 29 landmarks and their occlusion flags; tasks ``landmarks`` and ``visibility``.

    The distributed files are MATLAB v7.3 (HDF5, read with h5py, arrays transposed); MATLAB v5 files
    (``scipy.io.loadmat``) are read too. A ``phis`` row is 29 x, 29 y, 29 occlusion flags (1 = occluded);
    a box row is x, y, w, h.

    Coordinates: the ``.mat`` values are 1-based (MATLAB); ``landmarks`` = value - 1, float32 (29, 2)
    pixels, 0-based, pixel centres at integer coordinates; ``box`` = (x - 1, y - 1, x - 1 + w, y - 1 + h)
    pixels (the same shift); ``visibility`` float32 (29,) = the occlusion flags (1 = occluded).
    ``source`` is ``<mat path>[<0-based index>]``.
    """

    name = "COFW"
    layout = LAYOUT
    splits = tuple(KEYS)

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.path = self.require(self.root / f"COFW_{split}_color.mat")
        self.hdf5 = h5py.is_hdf5(self.path)
        keys = KEYS[split]
        self.images: list[np.ndarray] | None = None
        if self.hdf5:
            count, phis, boxes = _v73_arrays(self.path, keys)
        else:
            self.images, phis, boxes = _v5_arrays(self.path, keys)
            count = len(self.images)
        if phis.shape != (count, 3 * NUM_POINTS) or boxes.shape != (count, 4):
            raise DatasetFormatError(
                f"COFW: {self.path}: {keys[1]} {phis.shape} and {keys[2]} {boxes.shape} do not match "
                f"{count} images (expected ({count}, 87) and ({count}, 4))"
            )
        self.records: list[Record] = parse_records(
            range(count),
            lambda index: self._parse(index, phis[index], boxes[index]),
            where=lambda index: f"{self.path.name} image {index} (0-based)",
            skip_invalid=skip_invalid,
            dataset=self.name,
        )
        self.require_samples(self.path)

    @staticmethod
    def _parse(index: int, phis: np.ndarray, box: np.ndarray) -> Record:
        if not (np.isfinite(phis).all() and np.isfinite(box).all()):
            raise DatasetFormatError("non-finite landmark or box value")
        flags = phis[2 * NUM_POINTS :]
        if not np.isin(flags, (0, 1)).all():
            raise DatasetFormatError(f"occlusion flags must be 0 or 1, got {sorted(set(flags.tolist()))}")
        if box[2] <= 0 or box[3] <= 0:
            raise DatasetFormatError(f"box (x, y, w, h) {box.tolist()} has no area")
        points = np.stack([phis[:NUM_POINTS], phis[NUM_POINTS : 2 * NUM_POINTS]], axis=1) - 1.0
        x0, y0 = box[0] - 1.0, box[1] - 1.0
        xyxy = torch.tensor([x0, y0, x0 + box[2], y0 + box[3]], dtype=torch.float32)
        return index, torch.from_numpy(points).float(), xyxy, torch.from_numpy(flags).float()

    def _image(self, index: int) -> torch.Tensor:
        where = f"{self.path}[{index}]"
        if self.images is not None:
            return _to_rgb(np.asarray(self.images[index]), where)
        try:
            with h5py.File(self.path, "r") as content:
                reference = np.asarray(content[KEYS[self.split][0]]).reshape(-1)[index]
                array = np.asarray(content[reference])
        except (OSError, KeyError, ValueError) as err:
            message = f"COFW: {where}: cannot read the image from the MATLAB v7.3 file ({err})"
            raise DatasetFormatError(message) from None
        return _to_rgb(array.T, where)  # h5py: (3, W, H) or (W, H) -> (H, W, 3) or (H, W)

    def load(self, index: int) -> Sample:
        file_index, landmarks, box, visibility = self.records[index]
        return {
            "image": self._image(file_index),
            "box": box.clone(),
            "landmarks": landmarks.clone(),
            "visibility": visibility.clone(),
            "tasks": ("landmarks", "visibility"),
            "source": f"{self.path}[{file_index}]",
        }
