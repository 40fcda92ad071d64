import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.lapa import LaPa
from facexformer.tasks.parsing import CLASS_NAMES


def write_sample(root: Path, split: str, name: str, labels: np.ndarray, points: np.ndarray | None = None) -> None:
    for sub in ("images", "labels", "landmarks"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    h, w = labels.shape
    Image.new("RGB", (w, h), (200, 100, 50)).save(root / split / "images" / f"{name}.jpg")
    Image.fromarray(labels.astype(np.uint8), mode="L").save(root / split / "labels" / f"{name}.png")
    if points is None:
        points = np.stack([np.linspace(1, w - 2, 106), np.linspace(2, h - 1, 106)], axis=1)
    text = "106\n" + "".join(f"{x:.3f} {y:.3f}\n" for x, y in points)
    (root / split / "landmarks" / f"{name}.txt").write_text(text)


def test_parsing_and_landmarks(tmp_path):
    labels = np.arange(6 * 8).reshape(6, 8) % 11
    write_sample(tmp_path, "train", "b_face", labels)
    write_sample(tmp_path, "train", "a_face", np.zeros((5, 5), dtype=np.int64))
    write_sample(tmp_path, "val", "c_face", np.zeros((5, 5), dtype=np.int64))
    data = LaPa(tmp_path, "train")
    assert len(data) == 2 and len(LaPa(tmp_path, "val")) == 1
    sample = data[1]
    assert sample["source"].endswith("b_face.jpg")
    assert sample["tasks"] == ("parsing",)
    assert sample["parsing"].dtype == torch.int64 and torch.equal(sample["parsing"], torch.from_numpy(labels))
    assert sample["image"].shape == (3, 6, 8)
    assert sample["landmarks_106"].shape == (106, 2) and sample["landmarks_106"].dtype == torch.float32
    assert sample["landmarks_106"][-1].tolist() == [6.0, 5.0]
    assert sample["box"].tolist() == [1.0, 2.0, 6.0, 5.0]
    assert "landmarks" not in sample
    assert CLASS_NAMES[2] == "left_eyebrow" and CLASS_NAMES[10] == "hair" and len(CLASS_NAMES) == 11


def test_bad_label_values_and_shape(tmp_path):
    write_sample(tmp_path, "test", "x", np.full((4, 4), 11))
    with pytest.raises(DatasetFormatError, match=r"x.png: label value 11"):
        LaPa(tmp_path, "test")[0]
    write_sample(tmp_path, "test", "x", np.zeros((4, 4)))
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(tmp_path / "test" / "labels" / "x.png")
    with pytest.raises(DatasetFormatError, match=r"label map \(3, 4\) != image \(4, 4\)"):
        LaPa(tmp_path, "test")[0]
    Image.new("RGB", (4, 4)).save(tmp_path / "test" / "labels" / "x.png")
    with pytest.raises(DatasetFormatError, match="mode RGB"):
        LaPa(tmp_path, "test")[0]


def test_malformed_landmarks_and_missing_files(tmp_path):
    write_sample(tmp_path, "train", "good", np.zeros((4, 4)))
    write_sample(tmp_path, "train", "bad", np.zeros((4, 4)))
    (tmp_path / "train" / "landmarks" / "bad.txt").write_text("106\n1 2\n3 4\n")
    with pytest.raises(DatasetFormatError, match="bad.txt: 4 coordinates for 106 points"):
        LaPa(tmp_path, "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(LaPa(tmp_path, "train", skip_invalid=True)) == 1
    assert "skipped 1" in str(caught[0].message)
    (tmp_path / "train" / "landmarks" / "bad.txt").unlink()
    with pytest.raises(DatasetFormatError, match="bad.txt not found"):
        LaPa(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="landmarks/<name>.txt"):
        LaPa(tmp_path, "val")
