import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.cofw import COFW


def _content(count: int = 3) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8) for i in range(count)]
    images[1] = images[1][:, :, 0]  # a grey image
    phis = np.concatenate([rng.uniform(2, 19, (count, 58)), rng.integers(0, 2, (count, 29))], axis=1)
    boxes = np.tile([3.0, 4.0, 10.0, 12.0], (count, 1))
    return images, phis, boxes


def _write_v5(path: Path, images, phis, boxes, keys=("IsT", "phisT", "bboxesT")) -> None:
    cell = np.empty((len(images), 1), dtype=object)
    for i, image in enumerate(images):
        cell[i, 0] = image
    scipy.io.savemat(path, {keys[0]: cell, keys[1]: phis, keys[2]: boxes})


def _write_v73(path: Path, images, phis, boxes) -> None:
    with h5py.File(path, "w") as f:  # MATLAB v7.3 layout: transposed arrays, a cell of object references
        refs = f.create_dataset("IsT", (1, len(images)), dtype=h5py.ref_dtype)
        for i, image in enumerate(images):
            refs[0, i] = f.create_dataset(f"#refs#/{i}", data=image.T).ref
        f.create_dataset("phisT", data=phis.T)
        f.create_dataset("bboxesT", data=boxes.T)


@pytest.mark.parametrize("folder", ["cofw", "cofw_v5"])
def test_reads_the_real_samples(shared_dir: Path, folder: str):
    samples = shared_dir / "reference/landmarks/samples"
    expected = json.loads((samples / "expected.json").read_text())[folder]
    dataset = COFW(samples / folder, "test")
    assert dataset.hdf5 == (folder == "cofw")
    assert len(dataset) == len(expected) == 2
    for index, entry in enumerate(expected.values()):
        sample = dataset[index]
        raw = torch.tensor(entry["landmarks"], dtype=torch.float32)
        torch.testing.assert_close(sample["landmarks"], raw - 1.0)  # 0-based: .mat value - 1
        torch.testing.assert_close(sample["visibility"], torch.tensor(entry["occluded"], dtype=torch.float32))
        x, y, w, h = entry["bbox_xywh"]
        torch.testing.assert_close(sample["box"], torch.tensor([x - 1, y - 1, x - 1 + w, y - 1 + h]))
        assert tuple(sample["image"].shape) == (3, entry["size_wh"][1], entry["size_wh"][0])
        assert sample["tasks"] == ("landmarks", "visibility")


def test_v5_and_v73_give_the_same_samples(tmp_path: Path):
    images, phis, boxes = _content()
    (tmp_path / "v5").mkdir()
    (tmp_path / "v73").mkdir()
    _write_v5(tmp_path / "v5/COFW_test_color.mat", images, phis, boxes)
    _write_v73(tmp_path / "v73/COFW_test_color.mat", images, phis, boxes)
    v5, v73 = COFW(tmp_path / "v5", "test"), COFW(tmp_path / "v73", "test")
    assert not v5.hdf5 and v73.hdf5 and len(v5) == len(v73) == 3
    for index in range(3):
        a, b = v5[index], v73[index]
        for key in ("image", "landmarks", "visibility", "box"):
            assert torch.equal(a[key], b[key]), key
    torch.testing.assert_close(v5[0]["landmarks"][:, 0], torch.from_numpy(phis[0, :29] - 1).float())
    torch.testing.assert_close(v5[0]["landmarks"][:, 1], torch.from_numpy(phis[0, 29:58] - 1).float())
    grey = v5[1]["image"]
    assert grey.shape == (3, 21, 30) and torch.equal(grey[0], grey[2])
    assert torch.equal(v5[2]["image"], torch.from_numpy(images[2]).permute(2, 0, 1))


def test_train_keys(tmp_path: Path):
    _write_v5(tmp_path / "COFW_train_color.mat", *_content(2), keys=("IsTr", "phisTr", "bboxesTr"))
    assert len(COFW(tmp_path, "train")) == 2
    _write_v5(tmp_path / "COFW_train_color.mat", *_content(2))
    with pytest.raises(DatasetFormatError, match="no variable 'IsTr'"):
        COFW(tmp_path, "train")


def test_bad_flags_error_and_skip(tmp_path: Path):
    images, phis, boxes = _content()
    phis[1, 60] = 2.0
    _write_v73(tmp_path / "COFW_test_color.mat", images, phis, boxes)
    with pytest.raises(DatasetFormatError, match=r"COFW_test_color.mat image 1 \(0-based\): occlusion flags"):
        COFW(tmp_path, "test")
    with pytest.warns(UserWarning, match="skipped 1 invalid"):
        dataset = COFW(tmp_path, "test", skip_invalid=True)
    assert [sample["source"][-3:] for sample in dataset] == ["[0]", "[2]"]


def test_shape_mismatch_and_missing_root(tmp_path: Path):
    images, phis, boxes = _content()
    _write_v5(tmp_path / "COFW_test_color.mat", images, phis[:, :80], boxes)
    with pytest.raises(DatasetFormatError, match=r"phisT \(3, 80\)"):
        COFW(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="COFW_train_color.mat") as info:
        COFW(tmp_path, "train")
    assert "bboxesTr" in str(info.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk/COFW_test_color.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetFormatError, match="not a readable MATLAB file"):
        COFW(tmp_path / "junk", "test")


def test_real_v5_and_v73_images_agree(shared_dir: Path):
    samples = shared_dir / "reference/landmarks/samples"
    v73, v5 = COFW(samples / "cofw", "test"), COFW(samples / "cofw_v5", "test")
    for index in range(len(v5)):
        assert torch.equal(v73[index]["image"], v5[index]["image"])
