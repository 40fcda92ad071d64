import math
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.fairface import FairFace

ROWS = [
    ("train/1.jpg", "50-59", "Male", "East Asian", "True"),
    ("train/2.jpg", "0-2", "Female", "Southeast Asian", "False"),
    ("train/3.jpg", "3-9", "Female", "Indian", "False"),
    ("train/4.jpg", "more than 70", "Male", "Latino_Hispanic", "True"),
    ("train/5.jpg", "20-29", "Female", "Middle Eastern", "False"),
    ("train/6.jpg", "10-19", "Male", "Black", "False"),
    ("train/7.jpg", "60-69", "Female", "White", "False"),
]


def make_root(root: Path, rows, image_dir: str = "") -> Path:
    (root / image_dir / "train").mkdir(parents=True)
    lines = ["file,age,gender,race,service_test"] + [",".join(r) for r in rows]
    (root / "fairface_label_train.csv").write_text("\n".join(lines) + "\n")
    for row in rows:
        Image.new("RGB", (7, 9), (10, 200, 30)).save(root / image_dir / row[0], format="JPEG")
    return root


def test_every_label_mapped(tmp_path):
    data = FairFace(make_root(tmp_path, ROWS), "train")
    assert len(data) == 7
    samples = [data[i] for i in range(7)]
    assert [s["age_group"].item() for s in samples] == [5, 0, 0, 7, 2, 1, 6]
    assert [s["gender"].item() for s in samples] == [0, 1, 1, 0, 1, 0, 1]
    # default model order White, Black, Asian, Indian, Others
    assert [s["race"].item() for s in samples] == [2, 2, 3, 4, 4, 1, 0]
    assert all(math.isnan(s["age"].item()) and s["age"].dtype == torch.float32 for s in samples)
    assert samples[0]["tasks"] == ("age", "gender", "race")
    assert samples[0]["box"].tolist() == [0.0, 0.0, 7.0, 9.0]
    assert "line 2" in samples[0]["source"] and samples[0]["source"].startswith(str(tmp_path))
    assert samples[0]["age_group"].dtype == torch.int64


def test_paper_order_and_custom_map(tmp_path):
    root = make_root(tmp_path, ROWS, image_dir="fairface-img-margin025-trainval")
    data = FairFace(root, "train", image_dir="fairface-img-margin025-trainval", race_order="paper")
    assert [data[i]["race"].item() for i in range(3)] == [3, 3, 2]
    custom = dict.fromkeys(["White", "Black", "Indian", "East Asian", "Southeast Asian"], "Others")
    custom.update({"Middle Eastern": "White", "Latino_Hispanic": "Others"})
    data = FairFace(root, "train", image_dir="fairface-img-margin025-trainval", race_map=custom)
    assert data[4]["race"].item() == 0
    with pytest.raises(ValueError, match="race_map"):
        FairFace(root, "train", race_map={"White": "Caucasian"})


@pytest.mark.parametrize("field,value", [(1, "71-80"), (2, "male"), (3, "Asian")])
def test_unknown_values_name_the_line(tmp_path, field, value):
    rows = [list(r) for r in ROWS]
    rows[2][field] = value
    root = make_root(tmp_path, rows)
    with pytest.raises(DatasetFormatError, match=r"fairface_label_train.csv line 4.*" + value):
        FairFace(root, "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(FairFace(root, "train", skip_invalid=True)) == 6
    assert "skipped 1" in str(caught[0].message)


def test_missing_image_and_column_and_file(tmp_path):
    root = make_root(tmp_path, ROWS)
    (root / "train" / "3.jpg").unlink()
    with pytest.raises(DatasetFormatError, match="3.jpg not found"):
        FairFace(root, "train")
    (root / "fairface_label_train.csv").write_text("file,age,gender\ntrain/1.jpg,0-2,Male\n")
    with pytest.raises(DatasetFormatError, match="race"):
        FairFace(root, "train")
    with pytest.raises(FileNotFoundError, match="fairface_label_val.csv"):
        FairFace(root, "val")
