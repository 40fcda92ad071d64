"""WFLW (98 landmarks, 6 attribute flags) from its annotation text files."""

from __future__ import annotations

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
  WFLW_images/<n>--<Event>/<file>.jpg
  WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt
  WFLW_annotations/list_98pt_test/list_98pt_test_{largepose,expression,illumination,makeup,occlusion,blur}.txt
      (optional, only for subset_source="files")"""

ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
SUBSET_FILE_NAMES = {name: ("largepose" if name == "pose" else name) for name in ATTRIBUTES}
NUM_COORDS = 196
NUM_FIELDS = NUM_COORDS + 4 + 6 + 1


@dataclass(frozen=True)
class WFLWRecord:
    """One annotated face (``line`` 1-based in ``file``).

    ``landmarks`` float32 (98, 2) pixels, ``box`` float32 (4,) pixels, ``flags`` float32 (6,) in {0, 1}.
    """

    file: str
    line: int
    image: str
    landmarks: torch.Tensor
    box: torch.Tensor
    flags: torch.Tensor


def _numbers(fields: list[str], what: str) -> list[float]:
    try:
        values = [float(field) for field in fields]
    except ValueError as err:
        raise DatasetFormatError(f"{what}: {err}") from err
    if not all(math.isfinite(v) for v in values):
        raise DatasetFormatError(f"{what}: non-finite value")
    return values


def parse_line(fields: list[str], file: str, line: int) -> WFLWRecord:
    """Parse the 207 fields of one line of ``list_98pt_rect_attr_*.txt`` (coordinates used as they are)."""
    if len(fields) != NUM_FIELDS:
        raise DatasetFormatError(f"has {len(fields)} fields, expected {NUM_FIELDS}")
    coords = _numbers(fields[:NUM_COORDS], "landmark coordinates")
    box = _numbers(fields[NUM_COORDS : NUM_COORDS + 4], "box (x_min y_min x_max y_max)")
    flags = fields[NUM_COORDS + 4 : NUM_COORDS + 10]
    if any(flag not in ("0", "1") for flag in flags):
        raise DatasetFormatError(f"attribute flags must be 0 or 1, got {' '.join(flags)}")
    return WFLWRecord(
        file=file,
        line=line,
        image=fields[-1],
        landmarks=torch.tensor(coords, dtype=torch.float32).reshape(-1, 2),
        box=torch.tensor(box, dtype=torch.float32),
        flags=torch.tensor([float(flag) for flag in flags], dtype=torch.float32),
    )


def _read_lines(path: Path) -> list[tuple[int, list[str]]]:
    """The non-empty lines of a text file as (1-based line number, whitespace-split fields)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()  # BOM dropped
    return [(number, line.split()) for number, line in enumerate(text, start=1) if line.strip()]


def _landmark_key(image: str, coords: list[float]) -> tuple[str, tuple[float, ...]]:
    return image, tuple(round(value, 2) for value in coords)


class WFLW(FaceDataset):
    """WFLW, 98 landmarks; one sample per annotated face (several faces of one image are separate samples).

    A line holds 207 fields: x0 y0 ... x97 y97, the box x_min y_min x_max y_max (WFLW's detector rectangle),
    six 0/1 flags (pose, expression, illumination, makeup, occlusion, blur) and the image path relative to
    ``WFLW_images``. Splits ``train`` (7500) and ``test`` (2500).

    ``subset`` (one of ``ATTRIBUTES``) keeps the faces of one test subset. ``subset_source="flags"`` selects
    them by the line's flag; ``"files"`` reads the download's ``list_98pt_test_<name>.txt`` (pose ->
    ``largepose``), whose lines are matched to the annotation file by image and landmarks (first 196 numbers
    and last token of each line) — the published subset lists, should they ever disagree with the flags.

    Coordinates are used as written (as STAR, HRNet and mmpose do): float32 (98, 2) pixels, treated as
    0-based with pixel centres at integer coordinates. ``box`` is the line's rectangle; ``attributes_wflw``
    float32 (6,) is the six flags. ``source`` is ``<image path> (<txt name> line <n>)`` (1-based line).
    """

    name = "WFLW"
    layout = LAYOUT
    splits = ("train", "test")

    def __init__(
        self,
        root: str | Path,
        split: str,
        subset: str | None = None,
        transform: Transform | None = None,
        skip_invalid: bool = False,
        subset_source: str = "flags",
    ):
        super().__init__(root, split, transform, skip_invalid)
        if subset is not None and subset not in ATTRIBUTES:
            raise ValueError(f"WFLW: unknown subset {subset!r}; choose one of {ATTRIBUTES}")
        if subset_source not in ("flags", "files"):
            raise ValueError(f"WFLW: subset_source must be 'flags' or 'files', got {subset_source!r}")
        if subset is not None and subset_source == "files" and split != "test":
            raise ValueError("WFLW: subset files exist for the test split only")
        self.image_dir = self.require(self.root / "WFLW_images")
        name = f"list_98pt_rect_attr_{split}.txt"
        folder = self.root / "WFLW_annotations/list_98pt_rect_attr_train_test"
        path = self.require(folder / name)
        records: list[WFLWRecord] = parse_records(
            _read_lines(path),
            lambda item: self._checked(parse_line(item[1], str(path), item[0])),
            where=lambda item: f"line {item[0]} of {path}",
            skip_invalid=skip_invalid,
            dataset=self.name,
        )
        if subset is not None and subset_source == "flags":
            column = ATTRIBUTES.index(subset)
            records = [record for record in records if record.flags[column] == 1]
        elif subset is not None:
            records = self._from_subset_file(records, subset, skip_invalid)
        self.records = records
        if subset is None:  # a subset may legitimately be empty; the whole annotation file may not
            self.require_samples(path)

    def _checked(self, record: WFLWRecord) -> WFLWRecord:
        if not (self.image_dir / record.image).is_file():
            raise DatasetFormatError(f"image {self.image_dir / record.image} does not exist")
        return record

    def _from_subset_file(self, records: list[WFLWRecord], subset: str, skip_invalid: bool) -> list[WFLWRecord]:
        name = f"list_98pt_test_{SUBSET_FILE_NAMES[subset]}.txt"
        path = self.require(self.root / "WFLW_annotations/list_98pt_test" / name)
        index = {_landmark_key(r.image, r.landmarks.flatten().tolist()): r for r in records}

        def match(item: tuple[int, list[str]]) -> WFLWRecord:
            fields = item[1]
            if len(fields) < NUM_COORDS + 1:
                raise DatasetFormatError(f"has {len(fields)} fields, expected at least {NUM_COORDS + 1}")
            key = _landmark_key(fields[-1], _numbers(fields[:NUM_COORDS], "landmark coordinates"))
            if key not in index:
                raise DatasetFormatError(
                    f"no face of {fields[-1]} with these landmarks in list_98pt_rect_attr_test.txt"
                )
            return index[key]

        return parse_records(
            _read_lines(path),
            match,
            where=lambda item: f"line {item[0]} of {name}",
            skip_invalid=skip_invalid,
            dataset=self.name,
        )

    def load(self, index: int) -> Sample:
        record = self.records[index]
        return {
            "image": load_image(self.image_dir / record.image),
            "box": record.box.clone(),
            "landmarks": record.landmarks.clone(),
            "attributes_wflw": record.flags.clone(),
            "tasks": ("landmarks",),
            "source": f"{self.image_dir / record.image} ({Path(record.file).name} line {record.line})",
        }
