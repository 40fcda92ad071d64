import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.aflw import AFLW19
from facexformer.data.datasets.base import DatasetFormatError

HEADER = "image_name,scale,box_size,center_w,center_h," + ",".join(f"original_{i}_x,original_{i}_y" for i in range(19))


def _row(name: str = "flickr/0/a.jpg", scale: str = "0.1") -> str:
    return ",".join([name, scale, "20.0", "15.0", "12.0", *(f"{5 + i * 0.5}" for i in range(38))])


@pytest.fixture()
def fake_aflw(tmp_path: Path) -> Path:
    (tmp_path / "flickr/0").mkdir(parents=True)
    Image.fromarray(np.zeros((24, 30, 3), dtype=np.uint8)).save(tmp_path / "flickr/0/a.jpg")
    (tmp_path / "face_landmarks_aflw_test.csv").write_text("\n".join([HEADER, _row(), _row()]) + "\n")
    (tmp_path / "face_landmarks_aflw_test_frontal.csv").write_text("\n".join([HEADER, _row()]) + "\n")
    return tmp_path


def test_reads_the_real_samples(shared_dir: Path):
    samples = shared_dir / "reference/landmarks/samples"
    expected = json.loads((samples / "expected.json").read_text())["aflw"]
    dataset = AFLW19(samples / "aflw", "test")
    assert len(dataset) == len(expected) == 2
    assert {record.image for record in dataset.records} == set(expected)
    for index, record in enumerate(dataset.records):
        sample, entry = dataset[index], expected[record.image]
        torch.testing.assert_close(sample["landmarks"], torch.tensor(entry["landmarks"], dtype=torch.float32))
        (cx, cy), side = entry["center"], 200 * entry["scale"]
        box = torch.tensor([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        torch.testing.assert_close(sample["box"], box)
        assert float(sample["box_size"]) == entry["box_size"]
        assert tuple(sample["image"].shape) == (3, entry["size_wh"][1], entry["size_wh"][0])
        assert sample["tasks"] == ("landmarks",)


def test_splits_box_and_hrnet_images_folder(fake_aflw: Path, tmp_path: Path):
    assert len(AFLW19(fake_aflw, "test")) == 2
    sample = AFLW19(fake_aflw, "frontal")[0]
    torch.testing.assert_close(sample["box"], torch.tensor([5.0, 2.0, 25.0, 22.0]))
    torch.testing.assert_close(sample["landmarks"][1], torch.tensor([6.0, 6.5]))
    assert sample["source"].endswith("(face_landmarks_aflw_test_frontal.csv line 2)")
    hrnet = tmp_path / "hrnet"
    (hrnet / "images").mkdir(parents=True)
    shutil.move(fake_aflw / "flickr", hrnet / "images/flickr")
    shutil.copy(fake_aflw / "face_landmarks_aflw_test.csv", hrnet)
    assert AFLW19(hrnet, "test")[1]["image"].shape == (3, 24, 30)


def test_malformed_rows(fake_aflw: Path):
    path = fake_aflw / "face_landmarks_aflw_test.csv"
    path.write_text("\n".join([HEADER, _row(), _row().rsplit(",", 1)[0], _row(scale="-1")]) + "\n")
    with pytest.raises(
        DatasetFormatError, match="AFLW-19: line 3 of .*face_landmarks_aflw_test.csv: has 42 columns, expected 43"
    ):
        AFLW19(fake_aflw, "test")
    with pytest.warns(UserWarning, match="skipped 2 invalid"):
        assert len(AFLW19(fake_aflw, "test", skip_invalid=True)) == 1
    path.write_text(_row("flickr/0/missing.jpg") + "\n")  # no header: the first row is data
    with pytest.raises(DatasetFormatError, match="line 1 of .*missing.jpg does not exist"):
        AFLW19(fake_aflw, "test")


def test_missing_files_name_path_and_layout(tmp_path: Path, fake_aflw: Path):
    with pytest.raises(FileNotFoundError, match="face_landmarks_aflw_train.csv") as info:
        AFLW19(fake_aflw, "train")
    assert "flickr/{0,2,3}" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        AFLW19(tmp_path / "nowhere", "test")
