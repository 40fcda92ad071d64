"""UTKFace: age, gender and race read from the file names (label spaces: ``demographics.py``)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    files_with_suffixes,
    load_image,
    parse_records,
)
from facexformer.data.datasets.demographics import (
    UTKFACE_RACES,
    age_to_group,
    demographics_sample,
    resolve_race_order,
)


@dataclass(frozen=True)
class _Record:
    path: Path
    age: int
    gender: int
    race: int


LAYOUT = """\
<root>/                       any folder tree; every *.jpg below it is one sample
  <age>_<gender>_<race>_<date>.jpg.chip.jpg   (aligned & cropped "Faces" set; also plain .jpg)
  utk_train.csv, utk_test.csv                 (CORAL's split files, columns ',file,age' with age - 21;
                                               protocol="coral", the age-estimation benchmark split)
Download: https://susanqq.github.io/UTKFace/ (non-commercial research); the split files from
https://github.com/Raschka-research-group/coral-cnn (datasets/train-test-csv/, MIT)."""

#: ages (years) of the CORAL benchmark protocol; its csv ``age`` column is the age minus the first one
CORAL_AGES = (21, 60)


class UTKFace(FaceDataset):
    """UTKFace face chips with labels from ``[age]_[gender]_[race]_[date].jpg(.chip.jpg)``.

    Labels: gender 0 male / 1 female; raw race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others, mapped to the
    model order by ``race_order`` (``demographics.py``); ``age`` in years and its decade ``age_group``.
    The box is the whole chip.

    UTKFace has no official split. ``protocol="coral"`` is the split the age-estimation results the paper
    compares with (CORAL, OR-CNN, ...; its Table 4) use: ages 21-60 only, the files listed in CORAL's
    ``utk_train.csv`` / ``utk_test.csv`` (about 13.1k / 3.3k), read from ``split_dir`` (default ``root``);
    splits train and test; labels still come from the file names, and a listed file whose age is outside
    21-60 or disagrees with the csv's ``age`` column (age - 21) raises ``DatasetFormatError`` naming the line.
    ``protocol="random"``: a seeded permutation of the sorted file list cut by ``fractions`` (train, val,
    test), all ages; ``split="all"`` keeps every file.
    Malformed names raise ``DatasetFormatError`` naming the file, or are skipped and counted
    (``skip_invalid=True``).
    """

    name = "UTKFace"
    layout = LAYOUT
    splits = ("train", "val", "test", "all")

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        protocol: Literal["random", "coral"] = "random",
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        split_dir: str | Path | None = None,
        race_order: str | Sequence[str] = "utkface",
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.race_index = resolve_race_order(race_order)
        paths = files_with_suffixes(self.root, (".jpg",), recursive=True)  # also .JPG
        if protocol == "coral":
            paths = self._coral_files(paths, Path(split_dir) if split_dir is not None else self.root)
        elif protocol != "random":
            raise ValueError(f"UTKFace: unknown protocol {protocol!r}; choose 'random' or 'coral'")
        records = parse_records(paths, self._parse_name, lambda p: f"file {p}", skip_invalid, self.name)
        if protocol == "random":
            records = self._random_split(records, fractions, seed)
        self.records: list[_Record] = records
        self.require_samples(f"the .jpg files under {self.root}")

    def _coral_files(self, paths: list[Path], split_dir: Path) -> list[Path]:
        if self.split not in ("train", "test"):
            raise ValueError(f"UTKFace: the CORAL protocol has splits 'train' and 'test', not {self.split!r}")
        csv_path = self.require(split_dir / f"utk_{self.split}.csv")
        by_name = {path.name: path for path in paths}
        selected = []
        with csv_path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "file" not in reader.fieldnames:
                raise DatasetFormatError(f"UTKFace: {csv_path} has no 'file' column ({reader.fieldnames})")
            for row in reader:
                where = f"UTKFace: {csv_path} line {reader.line_num}"
                if row["file"] not in by_name:
                    raise DatasetFormatError(f"{where}: {row['file']!r} not under {self.root}")
                self._check_coral_age(by_name[row["file"]], row.get("age"), where)
                selected.append(by_name[row["file"]])
        return selected

    def _check_coral_age(self, path: Path, label: str | None, where: str) -> None:
        try:
            age = self._parse_name(path).age
        except DatasetFormatError as err:
            raise DatasetFormatError(f"{where}: {path.name}: {err}") from err
        first, last = CORAL_AGES
        if not first <= age <= last:
            raise DatasetFormatError(f"{where}: {path.name} is {age} years old, outside the protocol's {first}-{last}")
        if label is None or not label.strip().lstrip("-").isdigit() or int(label) != age - first:
            raise DatasetFormatError(f"{where}: age column {label!r} is not {age} - {first} = {age - first}")

    @staticmethod
    def _parse_name(path: Path) -> _Record:
        suffix = next(end for end in (".chip.jpg", ".jpg") if path.name.lower().endswith(end))
        stem = path.name[: -len(suffix)]
        fields = stem.split("_")
        if len(fields) != 4 or not all(field.isdigit() for field in fields[:3]):
            raise DatasetFormatError("name is not <age>_<gender>_<race>_<date>.jpg with integer labels")
        age, gender, race = (int(field) for field in fields[:3])
        if gender not in (0, 1):
            raise DatasetFormatError(f"gender {gender} is not 0 (male) or 1 (female)")
        if race >= len(UTKFACE_RACES):
            raise DatasetFormatError(f"race {race} is not in 0..{len(UTKFACE_RACES) - 1}")
        return _Record(path, age, gender, race)

    def _random_split(self, records: list[_Record], fractions: tuple[float, float, float], seed: int) -> list[_Record]:
        if self.split == "all":
            return records
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"UTKFace: fractions must be 3 numbers >= 0 summing to 1, got {fractions}")
        order = np.random.default_rng(seed).permutation(len(records))
        n_train = round(fractions[0] * len(records))
        n_val = round(fractions[1] * len(records))
        end = len(order)
        cuts = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, end)}
        start, stop = cuts[self.split]
        return [records[i] for i in sorted(order[start:stop])]

    def load(self, index: int) -> Sample:
        record = self.records[index]
        race = self.race_index[UTKFACE_RACES[record.race]]
        image, source = load_image(record.path), str(record.path)
        return demographics_sample(image, source, record.age, age_to_group(record.age), record.gender, race)
