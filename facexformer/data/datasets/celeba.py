"""CelebA: 40 binary face attributes, with the official train/val/test partition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    box_from_points,
    load_image,
    parse_records,
    require_path,
    whole_image_box,
)
from facexformer.tasks.attributes import ATTRIBUTE_NAMES

PARTITIONS = {"train": "0", "val": "1", "test": "2"}

LAYOUT = """\
<root>/
  img_align_celeba/000001.jpg ... 202599.jpg   (images="aligned", 178x218)
  img_celeba/000001.jpg ...                    (images="in_the_wild")
  list_attr_celeba.txt          count; 40 names; '<file> <40 x -1|1>' (any number of spaces)
  list_eval_partition.txt       '<file> <0 train|1 val|2 test>'
  list_landmarks_align_celeba.txt / list_landmarks_celeba.txt   (box="landmarks")
  list_bbox_celeba.txt          count; header; '<file> x_1 y_1 width height'   (box="bbox")
Download: https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (non-commercial research)."""


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    values: Any


def _floats(fields: list[str]) -> tuple[float, ...]:
    return tuple(float(value) for value in fields)


def _read_table(
    path: Path,
    width: int,
    header: bool,
    skip_invalid: bool,
    allowed: tuple[str, ...] | None = None,
    convert: Callable[[list[str]], Any] = _floats,
) -> dict[str, _Row]:
    """File name -> row of a CelebA list file ('<file> <width values>' per line), values through ``convert``.

    With ``header``, line 1 is the row count (checked) and line 2 the column names. ``allowed`` restricts the
    values' spelling (e.g. '-1', '1'). Bad rows raise naming file and line, or are skipped (``skip_invalid``).
    """
    lines = require_path(path, "CelebA", LAYOUT).read_text().splitlines()
    start = 2 if header else 0
    numbered = [(n, text) for n, text in enumerate(lines[start:], start + 1) if text.strip()]
    if header and (not lines or lines[0].strip() != str(len(numbered))):
        first = lines[0].strip() if lines else "<empty file>"
        raise DatasetFormatError(f"CelebA: {path} line 1 declares {first!r} rows but {len(numbered)} follow")

    allowed_set = frozenset(allowed or ())

    def parse(item: tuple[int, str]) -> _Row:
        line, fields = item[0], item[1].split()
        if len(fields) != width + 1:
            raise DatasetFormatError(f"{len(fields) - 1} values, expected {width}")
        if allowed is not None and not allowed_set.issuperset(fields[1:]):
            bad = [value for value in fields[1:] if value not in allowed_set]
            raise DatasetFormatError(f"value {bad[0]!r} is not one of {allowed}")
        return _Row(line, fields[0], convert(fields[1:]))

    rows = parse_records(numbered, parse, lambda item: f"{path} line {item[0]}", skip_invalid, "CelebA")
    return {row.name: row for row in rows}


@dataclass(frozen=True)
class _Record:
    path: Path
    line: int
    attributes: int
    points: tuple[float, ...] | None
    box: tuple[float, ...] | None


class CelebA(FaceDataset):
    """CelebA attributes (40, CelebA column order = ``ATTRIBUTE_NAMES``), values mapped -1/1 -> 0/1.

    Box: ``list_bbox_celeba.txt`` describes the in-the-wild images only, so for the aligned images the default
    box is the whole aligned image (0, 0, W, H), which is how aligned-CelebA attribute protocols use them.
    ``box="landmarks"`` uses the tight box of the 5 landmarks (eyes, nose, mouth corners; also returned as
    ``landmarks_5`` (5, 2) pixels); ``box="bbox"`` (in the wild, the default there) uses (x, y, x + w, y + h).
    Malformed rows raise ``DatasetFormatError`` naming file and line, or are skipped (``skip_invalid=True``).
    """

    name = "CelebA"
    layout = LAYOUT
    splits = ("train", "val", "test")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        images: Literal["aligned", "in_the_wild"] = "aligned",
        box: Literal["image", "landmarks", "bbox"] | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        if images not in ("aligned", "in_the_wild"):
            raise ValueError(f"CelebA: images must be 'aligned' or 'in_the_wild', got {images!r}")
        self.box_mode = box or ("image" if images == "aligned" else "bbox")
        valid = ("image", "landmarks", "bbox") if images == "in_the_wild" else ("image", "landmarks")
        if self.box_mode not in valid:
            raise ValueError(f"CelebA: box={box!r} is not available for images={images!r}")
        self.image_dir = self.require(self.root / ("img_align_celeba" if images == "aligned" else "img_celeba"))
        attributes = self._attribute_rows(skip_invalid)
        points = self._extra_rows("landmarks", images, 10, skip_invalid)
        boxes = self._extra_rows("bbox", images, 4, skip_invalid)
        partition_path = self.root / "list_eval_partition.txt"
        codes = tuple(PARTITIONS.values())
        partition = _read_table(partition_path, 1, False, skip_invalid, allowed=codes, convert=lambda f: f[0])
        wanted = [row for row in partition.values() if row.values == PARTITIONS[split]]

        def parse(row: _Row) -> _Record:
            if row.name not in attributes:
                raise DatasetFormatError(f"{row.name} has no row in list_attr_celeba.txt")
            path = self.image_dir / row.name
            if not path.is_file():
                raise DatasetFormatError(f"image {path} not found")
            attr = attributes[row.name]
            return _Record(path, attr.line, attr.values, _lookup(points, row.name), _lookup(boxes, row.name))

        where = f"{partition_path} line"
        self.records: list[_Record] = parse_records(
            wanted, parse, lambda row: f"{where} {row.line}", skip_invalid, self.name
        )

    def _attribute_rows(self, skip_invalid: bool) -> dict[str, _Row]:
        path = self.root / "list_attr_celeba.txt"
        rows = _read_table(path, len(ATTRIBUTE_NAMES), True, skip_invalid, ("-1", "1"), _attribute_bits)
        names = tuple(path.read_text().splitlines()[1].split())
        if names != ATTRIBUTE_NAMES:
            raise DatasetFormatError(f"CelebA: {path} line 2 does not list the 40 CelebA attributes in order")
        return rows

    def _extra_rows(self, kind: str, images: str, width: int, skip_invalid: bool) -> dict[str, _Row] | None:
        if self.box_mode != kind:
            return None
        if kind == "bbox":
            name = "list_bbox_celeba.txt"
        else:
            name = "list_landmarks_align_celeba.txt" if images == "aligned" else "list_landmarks_celeba.txt"
        return _read_table(self.root / name, width, True, skip_invalid)

    def load(self, index: int) -> Sample:
        record = self.records[index]
        image = load_image(record.path)
        sample: Sample = {
            "image": image,
            "tasks": ("attributes",),
            "source": f"{record.path} (list_attr_celeba.txt line {record.line})",
            "attributes": ((record.attributes >> torch.arange(len(ATTRIBUTE_NAMES))) & 1).float(),
        }
        if record.points is not None:
            sample["landmarks_5"] = torch.tensor(record.points, dtype=torch.float32).reshape(5, 2)
            sample["box"] = box_from_points(sample["landmarks_5"])
        elif record.box is not None:
            x, y, w, h = record.box
            sample["box"] = torch.tensor([x, y, x + w, y + h], dtype=torch.float32)
        else:
            sample["box"] = whole_image_box(image)
        return sample


def _attribute_bits(values: list[str]) -> int:
    """The 40 values (-1 / 1) packed into one int, bit i = attribute i present (keeps 200k rows small)."""
    return int("".join("1" if value == "1" else "0" for value in reversed(values)), 2)


def _lookup(rows: dict[str, _Row] | None, name: str) -> tuple[float, ...] | None:
    if rows is None:
        return None
    if name not in rows:
        raise DatasetFormatError(f"{name} has no row in the landmark/bbox list")
    return rows[name].values
