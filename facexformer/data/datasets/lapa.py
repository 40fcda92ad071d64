"""LaPa face parsing (11 classes, the label space of the released FaceXFormer parsing head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    box_from_points,
    files_with_suffixes,
    load_image,
    parse_records,
)
from facexformer.tasks.parsing import CLASS_NAMES

NUM_PARSING_CLASSES = len(CLASS_NAMES)

LAYOUT = """\
<root>/{train,val,test}/
  images/<name>.jpg
  labels/<name>.png      uint8, values 0..10 (LaPa labelmap: 0 bg, 1 skin, 2 l_brow, ..., 10 hair)
  landmarks/<name>.txt   '106' then 106 'x y' pairs
Download: https://github.com/JDAI-CV/lapa-dataset (non-commercial research)."""


def read_label_map(path: Path, num_classes: int = NUM_PARSING_CLASSES) -> torch.Tensor:
    """Decode a single-channel label PNG to int64 (H, W); values must be in 0..num_classes-1."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16", "1"):
                raise DatasetFormatError(f"{path}: label image has mode {img.mode}, expected one channel")
            labels = np.asarray(img).astype(np.int64)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise DatasetFormatError(f"{path}: cannot decode label image ({err})") from err
    if labels.size and labels.max() >= num_classes:
        raise DatasetFormatError(f"{path}: label value {labels.max()} is outside 0..{num_classes - 1}")
    return torch.from_numpy(labels)


def read_landmark_txt(path: Path) -> np.ndarray:
    """A LaPa landmark file (count, then count 'x y' pairs) as float32 (N, 2) pixels."""
    tokens = path.read_text().split()
    if not tokens or not tokens[0].isdigit():
        raise DatasetFormatError(f"{path}: first value must be the point count, got {tokens[:1]}")
    count = int(tokens[0])
    if len(tokens) != 1 + 2 * count:
        raise DatasetFormatError(f"{path}: {len(tokens) - 1} coordinates for {count} points")
    try:
        points = np.asarray(tokens[1:], dtype=np.float32).reshape(count, 2)
    except ValueError as err:
        raise DatasetFormatError(f"{path}: coordinates are not numbers ({err})") from None
    if not np.isfinite(points).all(axis=1).any():
        raise DatasetFormatError(f"{path}: all {count} landmarks are missing (NaN or inf)")
    return points


@dataclass(frozen=True)
class _Record:
    image: Path
    label: Path
    points: np.ndarray


class LaPa(FaceDataset):
    """LaPa: 22k faces with 11-class parsing maps (``CLASS_NAMES`` of the parsing task) and 106 landmarks.

    Returns ``parsing`` int64 (H, W) in the image frame (task "parsing") and the 106 points as
    ``landmarks_106`` float32 (106, 2) pixels as stored (not the "landmarks" task, which uses 68 points);
    the box is their tight box. LaPa "left" is the image's left side (the subject's right).
    A missing label/landmark file or a malformed landmark file raises naming it at construction (or is
    skipped with ``skip_invalid=True``); a bad label PNG raises naming it when loaded.
    """

    name = "LaPa"
    layout = LAYOUT
    splits = ("train", "val", "test")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        folder = self.root / split
        for sub in ("images", "labels", "landmarks"):
            self.require(folder / sub)
        images = files_with_suffixes(folder / "images", (".jpg",))  # also .JPG

        def parse(image: Path) -> _Record:
            label = folder / "labels" / f"{image.stem}.png"
            points = folder / "landmarks" / f"{image.stem}.txt"
            for path in (label, points):
                if not path.is_file():
                    raise DatasetFormatError(f"{path} not found")
            return _Record(image, label, read_landmark_txt(points))

        self.records: list[_Record] = parse_records(images, parse, str, skip_invalid, self.name)
        self.require_samples(folder / "images")

    def load(self, index: int) -> Sample:
        record = self.records[index]
        image = load_image(record.image)
        parsing = read_label_map(record.label)
        if parsing.shape != image.shape[1:]:
            size = tuple(image.shape[1:])
            raise DatasetFormatError(f"{record.label}: label map {tuple(parsing.shape)} != image {size}")
        points = torch.from_numpy(record.points)
        return {
            "image": image,
            "box": box_from_points(points),
            "tasks": ("parsing",),
            "source": str(record.image),
            "parsing": parsing,
            "landmarks_106": points,
        }
