import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.wflw import WFLW

ANNOTATIONS = "WFLW_annotations/list_98pt_rect_attr_train_test"


def _line(shift: float, flags: list[int], image: str = "1--Handshaking/a.jpg") -> str:
    coords = [f"{10 + shift + (i % 7):.6f}" for i in range(196)]
    return " ".join([*coords, "5", "6", "40", "50", *map(str, flags), image])


@pytest.fixture()
def fake_wflw(tmp_path: Path) -> Path:
    (tmp_path / "WFLW_images/1--Handshaking").mkdir(parents=True)
    Image.fromarray(np.zeros((60, 64, 3), dtype=np.uint8)).save(tmp_path / "WFLW_images/1--Handshaking/a.jpg")
    (tmp_path / ANNOTATIONS).mkdir(parents=True)
    lines = [_line(0, [1, 0, 0, 0, 0, 0]), _line(1, [0, 0, 0, 0, 1, 1]), _line(2, [1, 0, 0, 0, 0, 1])]
    (tmp_path / ANNOTATIONS / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / ANNOTATIONS / "list_98pt_rect_attr_train.txt").write_text(lines[0] + "\n")
    return tmp_path


def test_reads_the_real_samples(shared_dir: Path):
    samples = shared_dir / "reference/landmarks/samples"
    expected = json.loads((samples / "expected.json").read_text())["wflw"]
    dataset = WFLW(samples / "wflw", "test")
    assert len(dataset) == len(expected) == 4
    for index, entry in enumerate(expected.values()):
        sample = dataset[index]
        assert sample["source"].endswith(f"(list_98pt_rect_attr_test.txt line {entry['line'] + 1})")
        torch.testing.assert_close(sample["landmarks"], torch.tensor(entry["landmarks"], dtype=torch.float32))
        torch.testing.assert_close(sample["box"], torch.tensor(entry["bbox_xyxy"], dtype=torch.float32))
        flags = torch.tensor(entry["attributes"], dtype=torch.float32)
        torch.testing.assert_close(sample["attributes_wflw"], flags)
        assert tuple(sample["image"].shape) == (3, entry["size_wh"][1], entry["size_wh"][0])
        assert sample["tasks"] == ("landmarks",)


def test_subsets_from_flags(fake_wflw: Path):
    assert len(WFLW(fake_wflw, "test")) == 3
    pose = WFLW(fake_wflw, "test", subset="pose")
    assert [sample["source"].rsplit(" line ", 1)[1] for sample in pose] == ["1)", "3)"]
    assert len(WFLW(fake_wflw, "test", subset="blur")) == 2
    assert len(WFLW(fake_wflw, "test", subset="makeup")) == 0
    assert len(WFLW(fake_wflw, "train")) == 1


def test_subsets_from_files(fake_wflw: Path):
    folder = fake_wflw / "WFLW_annotations/list_98pt_test"
    folder.mkdir()
    # the download's subset lines: 196 coordinates (printed with fewer decimals here) and the image path.
    coords = " ".join(f"{11 + (i % 7):.3f}" for i in range(196))
    (folder / "list_98pt_test_largepose.txt").write_text(f"{coords} 1--Handshaking/a.jpg\n")
    subset = WFLW(fake_wflw, "test", subset="pose", subset_source="files")
    assert len(subset) == 1 and subset[0]["source"].endswith(" line 2)")
    (folder / "list_98pt_test_largepose.txt").write_text(f"{coords} 1--Handshaking/b.jpg\n")
    with pytest.raises(DatasetFormatError, match="line 1 of list_98pt_test_largepose.txt: no face of"):
        WFLW(fake_wflw, "test", subset="pose", subset_source="files")
    with pytest.raises(FileNotFoundError, match="list_98pt_test_blur.txt"):
        WFLW(fake_wflw, "test", subset="blur", subset_source="files")


def test_short_line_error_and_skip(fake_wflw: Path):
    path = fake_wflw / ANNOTATIONS / "list_98pt_rect_attr_test.txt"
    lines = path.read_text().splitlines()
    lines.insert(1, " ".join(lines[0].split()[4:]))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DatasetFormatError, match="WFLW: line 2 of .*list_98pt_rect_attr_test.txt: has 203 fields, expected 207"
    ):
        WFLW(fake_wflw, "test")
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        dataset = WFLW(fake_wflw, "test", skip_invalid=True)
    assert len(dataset) == 3


def test_bad_flag_and_missing_image(fake_wflw: Path):
    path = fake_wflw / ANNOTATIONS / "list_98pt_rect_attr_train.txt"
    path.write_text(_line(0, [2, 0, 0, 0, 0, 0]) + "\n")
    with pytest.raises(DatasetFormatError, match="line 1 of .*flags must be 0 or 1"):
        WFLW(fake_wflw, "train")
    path.write_text(_line(0, [0, 0, 0, 0, 0, 0], image="1--Handshaking/missing.jpg") + "\n")
    with pytest.raises(DatasetFormatError, match="missing.jpg does not exist"):
        WFLW(fake_wflw, "train")


def test_missing_root_and_bad_arguments(tmp_path: Path, fake_wflw: Path):
    with pytest.raises(FileNotFoundError, match="nowhere") as info:
        WFLW(tmp_path / "nowhere", "test")
    assert "WFLW_annotations" in str(info.value)
    with pytest.raises(ValueError, match="unknown subset"):
        WFLW(fake_wflw, "test", subset="largepose")
    with pytest.raises(ValueError, match="test split only"):
        WFLW(fake_wflw, "train", subset="pose", subset_source="files")
