"""Facial expression datasets (RAF-DB basic, AffectNet) in one shared class space.

Shared order: ``EXPRESSION_NAMES`` of ``facexformer.tasks.expression`` (AffectNet's codes): 0 neutral,
1 happiness, 2 sadness, 3 surprise, 4 fear, 5 disgust, 6 anger, and 7 contempt when ``num_classes=8``.
RAF-DB's 1-based labels (1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral) are
remapped to it.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
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

RAFDB_TO_SHARED = {1: 3, 2: 4, 3: 5, 4: 1, 5: 2, 6: 6, 7: 0}
AFFECTNET_DROPPED = {8: "None", 9: "Uncertain", 10: "No-Face"}
AFFECTNET_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")


@dataclass(frozen=True)
class _Record:
    path: Path
    source: str
    expression: int
    box: tuple[float, float, float, float] | None = None


RAFDB_LAYOUT = """\
<root>/basic/
  EmoLabel/list_patition_label.txt   '<name> <label 1-7>' per line (train_00001.jpg 5, test_0001.jpg 1)
  Image/aligned/<stem>_aligned.jpg    100x100 aligned faces
Download: http://www.whdeng.cn/RAF/model1.html (research use, on request)."""


class RAFDB(FaceDataset):
    """RAF-DB basic (single-label) expressions on the aligned 100x100 faces; the box is the whole image.

    The split comes from the ``train_`` / ``test_`` name prefix. Lines of the form '<name> <split> <label>'
    (tab or space separated) are also read; the split field must then agree with the prefix.
    Labels are remapped to ``EXPRESSION_NAMES`` order (RAF-DB has no Contempt).
    """

    name = "RAF-DB"
    layout = RAFDB_LAYOUT
    splits = ("train", "test")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        basic = self.root / "basic"
        label_file = self.require(basic / "EmoLabel" / "list_patition_label.txt")
        self.image_dir = self.require(basic / "Image" / "aligned")
        text_lines = label_file.read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark is dropped
        lines = [(n, text) for n, text in enumerate(text_lines, 1) if text.strip()]
        where = f"{label_file} line"
        parsed = parse_records(lines, self._parse_line, lambda r: f"{where} {r[0]}", skip_invalid, self.name)
        self.records: list[_Record] = [record for record in parsed if record is not None]
        self.require_samples(label_file)

    def _parse_line(self, numbered: tuple[int, str]) -> _Record | None:
        number, text = numbered
        fields = text.split()
        if len(fields) not in (2, 3):
            raise DatasetFormatError(f"expected '<name> <label>' or '<name> <split> <label>', got {text!r}")
        name, label = fields[0], int(fields[-1])
        prefix = name.split("_", 1)[0]
        if prefix not in self.splits or (len(fields) == 3 and fields[1] != prefix):
            raise DatasetFormatError(f"cannot tell the split of {text!r} (name must begin train_ or test_)")
        if label not in RAFDB_TO_SHARED:
            raise DatasetFormatError(f"label {label} is not in 1..7")
        if prefix != self.split:
            return None
        stem = name.rsplit(".", 1)[0]
        path = self.image_dir / f"{stem}_aligned.jpg"
        if not path.is_file():
            raise DatasetFormatError(f"image {path} not found")
        return _Record(path, f"{path} (list_patition_label.txt line {number})", RAFDB_TO_SHARED[label])

    def load(self, index: int) -> Sample:
        record = self.records[index]
        image = load_image(record.path)
        return {
            "image": image,
            "box": whole_image_box(image),
            "tasks": ("expression",),
            "source": record.source,
            "expression": torch.tensor(record.expression),
        }


AFFECTNET_LAYOUT = """\
<root>/
  Manually_Annotated_Images/<subDirectory_filePath>   e.g. 689/737db2483489148d783ef278f43f486c0a97e140fc.jpg
  training.csv, validation.csv   columns subDirectory_filePath,face_x,face_y,face_width,face_height,
                                 facial_landmarks,expression,valence,arousal
Download: http://mohammadmahoor.com/affectnet/ (research use, on request)."""


class AffectNet(FaceDataset):
    """AffectNet manually annotated images with the csv face box and expression code.

    ``split="val"`` reads
    validation.csv (AffectNet's test set is not public). Box = (face_x, face_y, face_x + face_width,
    face_y + face_height). Codes 0-6 keep their id (``EXPRESSION_NAMES``); 7 Contempt is kept with
    ``num_classes=8``, otherwise dropped; 8 None, 9 Uncertain and 10 No-Face are dropped. Dropped rows are
    counted in ``self.dropped`` (code -> rows) and in one warning. Other codes are format errors.
    Image existence is checked when a sample is loaded (the csv lists about 420k files).
    """

    name = "AffectNet"
    layout = AFFECTNET_LAYOUT
    splits = ("train", "val")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        num_classes: int = 7,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        if num_classes not in (7, 8):
            raise ValueError(f"AffectNet: num_classes must be 7 (no Contempt) or 8, got {num_classes}")
        self.num_classes = num_classes
        csv_name = "training.csv" if split == "train" else "validation.csv"
        csv_path = self.require(self.root / csv_name)
        self.image_dir = self.require(self.root / "Manually_Annotated_Images")
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in AFFECTNET_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetFormatError(f"AffectNet: {csv_path} lacks {missing} ({reader.fieldnames})")
            rows = [(reader.line_num, row) for row in reader]
        self.csv_name = csv_path.name
        where = f"{csv_path} line"
        parsed = parse_records(rows, self._parse_row, lambda r: f"{where} {r[0]}", skip_invalid, self.name)
        self.records: list[_Record] = [record for record in parsed if isinstance(record, _Record)]
        self.require_samples(csv_path)
        dropped = Counter(code for code in parsed if isinstance(code, int))
        self.dropped: dict[int, int] = dict(sorted(dropped.items()))
        if self.dropped:
            warnings.warn(
                f"AffectNet: dropped {sum(dropped.values())} row(s) of {csv_path} with codes outside the "
                f"{num_classes}-class space (code: rows) {self.dropped}",
                stacklevel=2,
            )

    def _parse_row(self, numbered: tuple[int, dict[str, str]]) -> _Record | int:
        number, row = numbered
        empty = [column for column in AFFECTNET_COLUMNS if not row.get(column)]
        if empty:
            raise DatasetFormatError(f"missing value(s) for {empty}")
        code = int(row["expression"])
        if code in AFFECTNET_DROPPED or (code == 7 and self.num_classes == 7):
            return code
        if not 0 <= code < self.num_classes:
            raise DatasetFormatError(f"expression code {code} is not in 0..10")
        x, y, w, h = (float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
        if not (w > 0 and h > 0):
            raise DatasetFormatError(f"face box width/height must be positive, got {w} x {h}")
        path = self.image_dir / row["subDirectory_filePath"]
        return _Record(path, f"{path} ({self.csv_name} line {number})", code, (x, y, x + w, y + h))

    def load(self, index: int) -> Sample:
        record = self.records[index]
        if not record.path.is_file():
            raise FileNotFoundError(f"AffectNet: {record.source}: no such image. Layout:\n{self.layout}")
        return {
            "image": load_image(record.path),
            "box": torch.tensor(record.box, dtype=torch.float32),
            "tasks": ("expression",),
            "source": record.source,
            "expression": torch.tensor(record.expression),
        }
