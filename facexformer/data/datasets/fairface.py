"""FairFace: age group, gender and race from the label csv files, mapped to the model's label spaces."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    load_image,
    parse_records,
)
from facexformer.data.datasets.demographics import demographics_sample, resolve_race_order

AGE_GROUP_BINS = {"0-2": 0, "3-9": 0, "10-19": 1, "20-29": 2, "30-39": 3, "40-49": 4, "50-59": 5, "60-69": 6}
AGE_GROUP_BINS["more than 70"] = 7
GENDERS = {"Male": 0, "Female": 1}
RACE_7_TO_5 = {
    "White": "White",
    "Black": "Black",
    "Indian": "Indian",
    "East Asian": "Asian",
    "Southeast Asian": "Asian",
    "Middle Eastern": "Others",
    "Latino_Hispanic": "Others",
}
COLUMNS = ("file", "age", "gender", "race")

LAYOUT = """\
<root>/
  fairface_label_train.csv, fairface_label_val.csv   columns file,age,gender,race,service_test
  <image_dir>/train/<n>.jpg, <image_dir>/val/<n>.jpg  ('file' is relative to image_dir, default root)
Download: https://github.com/joojs/fairface (CC BY 4.0)."""


@dataclass(frozen=True)
class _Record:
    path: Path
    line: int
    age_group: int
    gender: int
    race: str


class FairFace(FaceDataset):
    """FairFace face chips (padding 0.25 or 1.25) with string labels from ``fairface_label_{split}.csv``.

    Mapping: the 9 age groups go to the 8 decade bins (``0-2`` and ``3-9`` both to bin 0) and ``age`` is NaN
    (no age in years); gender Male 0, Female 1; the 7 races go to 5 (East and Southeast Asian to Asian, Middle
    Eastern and Latino_Hispanic to Others), then to the model order given by ``race_order`` (see
    ``facexformer.data.datasets.demographics``); ``race_map`` replaces the 7-to-5 table.
    The box is the whole chip. ``service_test`` is not used.
    """

    name = "FairFace"
    layout = LAYOUT
    splits = ("train", "val")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        image_dir: str | Path = "",
        race_order: str | Sequence[str] = "utkface",
        race_map: Mapping[str, str] = RACE_7_TO_5,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.race_index = resolve_race_order(race_order)
        unknown = {name for name in race_map.values() if name not in self.race_index}
        if unknown:
            raise ValueError(f"FairFace: race_map targets {sorted(unknown)} not in {list(self.race_index)}")
        self.race_map = dict(race_map)
        csv_path = self.require(self.root / f"fairface_label_{split}.csv")
        self.image_root = self.require(self.root / image_dir)
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetFormatError(f"FairFace: {csv_path} lacks {missing} ({reader.fieldnames})")
            rows = [(reader.line_num, row) for row in reader]
        self.records: list[_Record] = parse_records(
            rows, self._parse_row, lambda r: f"{csv_path} line {r[0]}", skip_invalid, self.name
        )
        self.require_samples(csv_path)

    def _parse_row(self, numbered: tuple[int, dict[str, str]]) -> _Record:
        line, row = numbered
        for column, table in (("age", AGE_GROUP_BINS), ("gender", GENDERS), ("race", self.race_map)):
            if row[column] not in table:
                raise DatasetFormatError(f"{column} {row[column]!r} is not one of {list(table)}")
        path = self.image_root / row["file"]
        if not path.is_file():
            raise DatasetFormatError(f"image {path} not found")
        race = self.race_map[row["race"]]
        return _Record(path, line, AGE_GROUP_BINS[row["age"]], GENDERS[row["gender"]], race)

    def load(self, index: int) -> Sample:
        record = self.records[index]
        source = f"{record.path} (fairface_label_{self.split}.csv line {record.line})"
        race = self.race_index[record.race]
        image = load_image(record.path)
        return demographics_sample(image, source, float("nan"), record.age_group, record.gender, race)
