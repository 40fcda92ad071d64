"""``SmileCSV``: a dataset reader of face photos with a smile label, declared by entry point."""

from __future__ import annotations

import csv
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
    whole_image_box,
)

LAYOUT = """\
<root>/
  <split>.csv        columns file,smiling (file relative to root; smiling 0 or 1)
  <files>            face photos, each one face filling the image"""


@dataclass(frozen=True)
class _Record:
    path: Path
    line: int
    smiling: int


class SmileCSV(FaceDataset):
    """Face photos listed in ``<split>.csv`` with a 0/1 ``smiling`` label; the box is the whole photo."""

    name = "SmileCSV"
    layout = LAYOUT
    splits = ("train", "val", "test")

    def __init__(self, root: str | Path, split: str, transform: Transform | None = None, skip_invalid: bool = False):
        super().__init__(root, split, transform, skip_invalid)
        csv_path = self.require(self.root / f"{split}.csv")
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("file", "smiling") if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetFormatError(f"SmileCSV: {csv_path} lacks columns {missing} ({reader.fieldnames})")
            rows = [(reader.line_num, row) for row in reader]
        self.records: list[_Record] = parse_records(
            rows, self._parse_row, lambda r: f"{csv_path} line {r[0]}", skip_invalid, self.name
        )
        self.require_samples(csv_path)

    def _parse_row(self, numbered: tuple[int, dict[str, str]]) -> _Record:
        line, row = numbered
        if row["smiling"] not in ("0", "1"):
            raise DatasetFormatError(f"smiling {row['smiling']!r} is not 0 or 1")
        path = self.root / row["file"]
        if not path.is_file():
            raise DatasetFormatError(f"image {path} not found")
        return _Record(path, line, int(row["smiling"]))

    def load(self, index: int) -> Sample:
        record = self.records[index]
        image = load_image(record.path)
        return {
            "image": image,
            "box": whole_image_box(image),
            "tasks": ("smiling",),
            "source": f"{record.path} ({self.split}.csv line {record.line})",
            "smiling": torch.tensor(record.smiling),
            "expression": torch.tensor(-1),  # the task's other label: unknown here
        }
