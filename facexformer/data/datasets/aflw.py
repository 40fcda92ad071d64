"""AFLW-19 (19 landmarks) in the HRNet/mmpose protocol: ``face_landmarks_aflw_*.csv`` plus AFLW's images."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    load_image,
    parse_records,
)

LAYOUT = """\
<root>/
  face_landmarks_aflw_train.csv          20000 faces
  face_landmarks_aflw_test.csv           4386 faces
  face_landmarks_aflw_test_frontal.csv   1314 faces
  flickr/{0,2,3}/<image>.jpg             (or images/flickr/..., HRNet's data/aflw/images)"""

CSV_NAMES = {
    "train": "face_landmarks_aflw_train.csv",
    "test": "face_landmarks_aflw_test.csv",
    "frontal": "face_landmarks_aflw_test_frontal.csv",
}
NUM_POINTS = 19
NUM_COLUMNS = 5 + 2 * NUM_POINTS
PIXEL_STD = 200.0


@dataclass(frozen=True)
class AFLWRecord:
    """One csv row (``line`` 1-based): landmarks (19, 2), box (4,) and box_size, all in pixels."""

    line: int
    image: str
    landmarks: torch.Tensor
    box: torch.Tensor
    box_size: float


def parse_row(row: list[str], line: int) -> AFLWRecord:
    """Parse ``image_name, scale, box_size, center_w, center_h, x0, y0, ..., x18, y18``.

    Box: the square of side ``200 * scale`` about the centre, ``(cx - 100 s, cy - 100 s, cx + 100 s,
    cy + 100 s)``: the box mmpose rebuilds from ``center`` and ``scale * 200`` (``pixel_std = 200``,
    ``bbox_cs2xyxy`` without padding; its face datasets @ 759b39c); HRNet @ f776dbe (``lib/datasets/aflw.py``)
    crops the same square enlarged 1.25x. In the HRNet files ``box_size == 200 * scale``.
    """
    if len(row) != NUM_COLUMNS:
        raise DatasetFormatError(f"has {len(row)} columns, expected {NUM_COLUMNS}")
    try:
        scale, box_size, cx, cy, *coords = (float(value) for value in row[1:])
    except ValueError as err:
        raise DatasetFormatError(f"not a number: {err}") from err
    if not all(math.isfinite(v) for v in (scale, box_size, cx, cy, *coords)):
        raise DatasetFormatError("non-finite value")
    if scale <= 0 or box_size <= 0:
        raise DatasetFormatError(f"scale {scale} and box_size {box_size} must be positive")
    half = PIXEL_STD * scale / 2
    return AFLWRecord(
        line=line,
        image=row[0],
        landmarks=torch.tensor(coords, dtype=torch.float32).reshape(NUM_POINTS, 2),
        box=torch.tensor([cx - half, cy - half, cx + half, cy + half], dtype=torch.float32),
        box_size=box_size,
    )


class AFLW19(FaceDataset):
    """AFLW-19, 19 landmarks (AFLW's 21 without the ears), with HRNet's csv annotation files.

    Splits ``train``, ``test`` and ``frontal`` (the frontal subset of test). ``image_dir``: the folder the
    csv's ``image_name`` is relative to; by default ``<root>/images`` when it exists, else ``<root>``.
    Columns by position: image_name, scale, box_size, center_w, center_h, then 19 (x, y); a header row
    (``image_name,...``) is skipped.

    Coordinates are used as written (as HRNet and mmpose do): ``landmarks`` float32 (19, 2) pixels, treated
    as 0-based with pixel centres at integer coordinates. ``box``: see :func:`parse_row`. ``box_size``
    float32 scalar pixels, the NME normaliser, also given as ``landmarks_norm`` (the key the landmark
    task's metrics read). ``source`` is ``<image path> (<csv name> line <n>)`` (1-based line).
    """

    name = "AFLW-19"
    layout = LAYOUT
    splits = tuple(CSV_NAMES)

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        skip_invalid: bool = False,
        image_dir: str | Path | None = None,
    ):
        super().__init__(root, split, transform, skip_invalid)
        if image_dir is None:
            image_dir = self.root / "images" if (self.root / "images").is_dir() else self.root
        self.image_dir = self.require(Path(image_dir).expanduser())
        self.csv_path = self.require(self.root / CSV_NAMES[split])
        with self.csv_path.open(newline="", encoding="utf-8-sig") as handle:  # BOM dropped
            rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1) if row]
        if rows and rows[0][1] and rows[0][1][0].strip() == "image_name":
            rows = rows[1:]
        self.records: list[AFLWRecord] = parse_records(
            rows,
            lambda item: self._checked(parse_row(item[1], item[0])),
            where=lambda item: f"line {item[0]} of {self.csv_path}",
            skip_invalid=skip_invalid,
            dataset=self.name,
        )
        self.require_samples(self.csv_path)

    def _checked(self, record: AFLWRecord) -> AFLWRecord:
        if not (self.image_dir / record.image).is_file():
            raise DatasetFormatError(f"image {self.image_dir / record.image} does not exist")
        return record

    def load(self, index: int) -> Sample:
        record = self.records[index]
        return {
            "image": load_image(self.image_dir / record.image),
            "box": record.box.clone(),
            "landmarks": record.landmarks.clone(),
            "box_size": torch.tensor(record.box_size, dtype=torch.float32),
            "landmarks_norm": torch.tensor(record.box_size, dtype=torch.float32),
            "tasks": ("landmarks",),
            "source": f"{self.image_dir / record.image} ({self.csv_path.name} line {record.line})",
        }
