import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.w300 import W300, read_pts


def _write_face(folder: Path, stem: str, suffix: str = ".jpg", shift: float = 0.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((12, 16, 3), dtype=np.uint8)).save(folder / f"{stem}{suffix}")
    points = [f"{1 + (i % 10) + shift:.3f} {2 + i // 10:.3f}" for i in range(68)]
    (folder / f"{stem}.pts").write_text("version: 1\nn_points:  68\n{\n" + "\n".join(points) + "\n}\n")


@pytest.fixture()
def fake_300w(tmp_path: Path) -> Path:
    _write_face(tmp_path / "afw", "111_1")
    _write_face(tmp_path / "afw", "111_2")
    _write_face(tmp_path / "helen/trainset", "h1")
    _write_face(tmp_path / "lfpw/trainset", "l1", ".png")
    _write_face(tmp_path / "helen/testset", "h2")
    _write_face(tmp_path / "lfpw/testset", "l2", ".png")
    _write_face(tmp_path / "ibug", "i1")
    _write_face(tmp_path / "300W/02_Outdoor", "outdoor_001", ".png")
    return tmp_path


def test_reads_the_real_samples(shared_dir: Path, tmp_path: Path, fake_300w: Path):
    samples = shared_dir / "reference/landmarks/samples"
    shutil.copytree(samples / "300w/01_Indoor", fake_300w / "300W/01_Indoor")
    expected = json.loads((samples / "expected.json").read_text())["300w"]
    dataset = W300(fake_300w, "test")
    assert len(dataset) == 3
    by_source = {Path(dataset[i]["source"]).name: dataset[i] for i in range(len(dataset))}
    for key, entry in expected.items():
        sample = by_source[Path(key).name]  # source: the image's path
        raw = torch.tensor(entry["landmarks"], dtype=torch.float32)
        torch.testing.assert_close(sample["landmarks"], raw - 1.0)  # 0-based: file value - 1
        assert sample["landmarks"].dtype == torch.float32 and sample["landmarks"].shape == (68, 2)
        assert tuple(sample["image"].shape) == (3, entry["size_wh"][1], entry["size_wh"][0])
        assert sample["image"].dtype == torch.uint8
        torch.testing.assert_close(sample["box"][:2], (raw - 1).min(dim=0).values)
        torch.testing.assert_close(sample["box"][2:], (raw - 1).max(dim=0).values)
        assert sample["tasks"] == ("landmarks",)


@pytest.mark.parametrize(
    ("split", "stems"),
    [
        ("train", ["111_1", "111_2", "h1", "l1"]),
        ("common", ["h2", "l2"]),
        ("challenge", ["i1"]),
        ("full", ["h2", "l2", "i1"]),
    ],
)
def test_split_folders(fake_300w: Path, split: str, stems: list[str]):
    dataset = W300(fake_300w, split)
    assert [Path(dataset[i]["source"]).stem for i in range(len(dataset))] == stems


def test_test_split_needs_both_private_folders(fake_300w: Path):
    with pytest.raises(FileNotFoundError, match="01_Indoor") as info:
        W300(fake_300w, "test")
    assert "helen/trainset/" in str(info.value)  # the message shows the expected layout


def test_missing_root_names_path_and_layout(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nowhere") as info:
        W300(tmp_path / "nowhere", "train")
    assert "ibug/" in str(info.value)


def test_unknown_split(fake_300w: Path):
    with pytest.raises(ValueError, match="unknown split"):
        W300(fake_300w, "valid")


def test_malformed_pts_names_file_and_line(fake_300w: Path):
    bad = fake_300w / "ibug/i1.pts"
    lines = bad.read_text().splitlines()
    lines[7] = "3.0 4.0 5.0"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"i1\.pts: line 8: expected 2 numbers"):
        W300(fake_300w, "challenge")
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        dataset = W300(fake_300w, "full", skip_invalid=True)
    assert len(dataset) == 2


def test_missing_image_and_wrong_count(fake_300w: Path):
    (fake_300w / "helen/testset/h2.jpg").unlink()
    with pytest.raises(DatasetFormatError, match=r"h2\.pts: no image beside it"):
        W300(fake_300w, "common")
    pts = fake_300w / "lfpw/testset/l2.pts"
    pts.write_text(pts.read_text().replace("n_points:  68", "n_points:  67"))
    with pytest.raises(DatasetFormatError, match="n_points is 67, expected 68"):
        read_pts(pts, 68)


def test_mirror_gives_each_face_and_its_mirror_image(fake_300w: Path):
    from facexformer.geometry.landmark_schemes import scheme_for

    plain = W300(fake_300w, "full")
    mirrored = W300(fake_300w, "full", mirror=True)
    assert len(mirrored) == 2 * len(plain) == 6
    assert mirrored.names == ["helen/testset/h2.pts", "helen/testset/h2.pts#mirror", "lfpw/testset/l2.pts"] + [
        "lfpw/testset/l2.pts#mirror",
        "ibug/i1.pts",
        "ibug/i1.pts#mirror",
    ]
    for i in range(len(plain)):
        face, mirror = mirrored[2 * i], mirrored[2 * i + 1]
        assert torch.equal(face["image"], plain[i]["image"]) and torch.equal(face["landmarks"], plain[i]["landmarks"])
        assert torch.equal(mirror["image"], face["image"].flip(-1))
        width = face["image"].shape[-1]
        expected = face["landmarks"][list(scheme_for(68).flip_index)]
        expected[:, 0] = width - 1 - expected[:, 0]
        torch.testing.assert_close(mirror["landmarks"], expected)
        torch.testing.assert_close(mirror["box"], torch.cat([expected.min(0).values, expected.max(0).values]))
        assert mirror["source"] == face["source"] + "#mirror"


def test_train_plus_full_is_the_study_pool(fake_300w: Path):
    pool = W300(fake_300w, "train+full")
    assert sorted(pool.names) == sorted(W300(fake_300w, "train").names + W300(fake_300w, "full").names)
    assert len(W300(fake_300w, "train+full", mirror=True)) == 2 * len(pool) == 14
