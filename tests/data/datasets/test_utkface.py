import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.utkface import UTKFace

NAMES = [
    "1_0_2_20161219140530307.jpg.chip.jpg",
    "25_1_3_20170104223505487.jpg.chip.jpg",
    "45_0_0_20170117190757797.jpg.chip.jpg",
    "69_1_1_20170116193808148.jpg.chip.jpg",
    "70_0_4_20170109013804013.jpg.chip.jpg",
    "116_1_2_20170112222005682.jpg",
]


def make_root(root: Path, names: list[str]) -> Path:
    (root / "part1").mkdir(parents=True)
    for i, name in enumerate(names):
        Image.new("RGB", (6 + i, 5), (i * 20, 0, 0)).save(root / "part1" / name, format="JPEG")
    return root


def test_labels_from_file_names(tmp_path):
    data = UTKFace(make_root(tmp_path, NAMES), "all")
    assert len(data) == 6
    by_age = {int(data[i]["age"]): data[i] for i in range(len(data))}
    sample = by_age[25]
    assert sample["tasks"] == ("age", "gender", "race")
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape[0] == 3
    assert sample["age"].dtype == torch.float32
    assert sample["age_group"].item() == 2 and sample["age_group"].dtype == torch.int64
    assert sample["gender"].item() == 1
    assert sample["race"].item() == 3  # raw UTKFace 3 = Indian keeps id 3 in the default order
    assert sample["source"].endswith(NAMES[1])
    w = sample["image"].shape[-1]
    assert sample["box"].tolist() == [0.0, 0.0, float(w), 5.0]
    assert [by_age[a]["age_group"].item() for a in (1, 45, 69, 70, 116)] == [0, 4, 6, 7, 7]
    assert [by_age[a]["race"].item() for a in (1, 45, 69, 70, 116)] == [2, 0, 1, 4, 2]


def test_paper_race_order_swaps_asian_and_indian(tmp_path):
    data = UTKFace(make_root(tmp_path, NAMES[:2]), "all", race_order="paper")
    races = {int(data[i]["age"]): data[i]["race"].item() for i in range(2)}
    assert races == {1: 3, 25: 2}


def test_random_split_is_seeded_disjoint_and_complete(tmp_path):
    root = make_root(tmp_path, [f"{20 + i}_0_0_2017010{i}.jpg.chip.jpg" for i in range(10)])
    parts = {s: [str(r.path) for r in UTKFace(root, s, seed=3).records] for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [8, 1, 1]
    assert len(set().union(*parts.values())) == 10
    again = UTKFace(root, "train", seed=3)
    assert [str(r.path) for r in again.records] == parts["train"]
    other = UTKFace(root, "train", seed=4)
    assert [str(r.path) for r in other.records] != parts["train"]


def test_coral_split_files(tmp_path):
    root = make_root(tmp_path, NAMES)
    (root / "utk_test.csv").write_text(f",file,age\n0,{NAMES[1]},4\n1,{NAMES[2]},24\n")
    data = UTKFace(root, "test", protocol="coral")
    assert sorted(int(data[i]["age"]) for i in range(len(data))) == [25, 45]
    (root / "utk_train.csv").write_text(",file,age\n0,99_0_0_2017.jpg.chip.jpg,78\n")
    with pytest.raises(DatasetFormatError, match="utk_train.csv line 2"):
        UTKFace(root, "train", protocol="coral")
    with pytest.raises(ValueError, match="CORAL"):
        UTKFace(root, "val", protocol="coral")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"0,{NAMES[3]},48", "69 years old, outside the protocol's 21-60"),
        (f"0,{NAMES[1]},25", "age column '25' is not 25 - 21 = 4"),
        (f"0,{NAMES[0]},-20", "1 years old"),
    ],
)
def test_coral_split_is_the_21_to_60_protocol(tmp_path, row, message):
    root = make_root(tmp_path, NAMES)
    (root / "utk_test.csv").write_text(f",file,age\n0,{NAMES[2]},24\n{row}\n")
    with pytest.raises(DatasetFormatError, match=f"utk_test.csv line 3: .*{message}"):
        UTKFace(root, "test", protocol="coral")


@pytest.mark.parametrize(
    "bad",
    [
        "61_1_20170109142408075.jpg.chip.jpg",
        "39_2_0_2017.jpg.chip.jpg",
        "39_1_7_2017.jpg.chip.jpg",
        "x_1_0_2017.jpg.chip.jpg",
    ],
)
def test_malformed_names(tmp_path, bad):
    root = make_root(tmp_path, NAMES[:2] + [bad])
    with pytest.raises(DatasetFormatError, match=bad):
        UTKFace(root, "all")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = UTKFace(root, "all", skip_invalid=True)
    assert len(data) == 2
    assert any("skipped 1 invalid" in str(w.message) for w in caught)


def test_missing_root_names_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="age>_<gender"):
        UTKFace(tmp_path / "nope", "all")
