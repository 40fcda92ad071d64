import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.headpose import AFLW2000, BIWI, W300LP, read_pose_mat


def write_pair(folder: Path, name: str, angles_deg, points=None, pose_key="Pose_Para") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 10), (5, 5, 5)).save(folder / f"{name}.jpg")
    pose = np.zeros((1, 7))
    pose[0, :3] = np.radians(angles_deg)
    pose[0, 3:] = [100.0, 90.0, 10.0, 0.001]
    if points is None:
        points = np.array([[2.0, 7.5, 4.0], [1.0, 3.0, 8.25]])
    variables = {pose_key: pose, "pt2d": points, "Shape_Para": np.zeros((199, 1))}
    scipy.io.savemat(folder / f"{name}.mat", variables)


def test_read_pose_mat_converts_radians(tmp_path):
    write_pair(tmp_path, "a", [10.0, -45.0, 80.0])
    angles, points = read_pose_mat(tmp_path / "a.mat")
    assert torch.allclose(angles, torch.tensor([10.0, -45.0, 80.0]), atol=1e-4)
    assert angles.dtype == torch.float32
    assert points.tolist() == [[2.0, 1.0], [7.5, 3.0], [4.0, 8.25]]


def test_w300lp_pairs_flip_filter_and_box(tmp_path):
    write_pair(tmp_path / "AFW", "AFW_1_0", [1.0, 2.0, 3.0])
    write_pair(tmp_path / "AFW_Flip", "AFW_1_0", [1.0, -2.0, -3.0])
    write_pair(tmp_path / "HELEN", "HELEN_9_1", [5.0, 120.0, 0.0])
    (tmp_path / "landmarks" / "AFW").mkdir(parents=True)
    scipy.io.savemat(tmp_path / "landmarks" / "AFW" / "AFW_1_0_pts.mat", {"pts_2d": np.zeros((68, 2))})
    data = W300LP(tmp_path)
    assert len(data) == 3
    sample = data[0]
    assert sample["source"].endswith("AFW/AFW_1_0.jpg")
    assert sample["tasks"] == ("headpose",)
    assert torch.allclose(sample["headpose"], torch.tensor([1.0, 2.0, 3.0]), atol=1e-4)
    assert sample["box"].tolist() == [2.0, 1.0, 7.5, 8.25]
    assert sample["image"].shape == (3, 10, 12) and sample["image"].dtype == torch.uint8
    assert torch.allclose(data[1]["headpose"], torch.tensor([1.0, -2.0, -3.0]), atol=1e-4)
    assert len(W300LP(tmp_path, include_flipped=False)) == 2
    capped = W300LP(tmp_path, max_angle=99.0)
    assert len(capped) == 2 and capped.num_filtered == 1
    (tmp_path / "list.txt").write_text("HELEN/HELEN_9_1\n\n")
    listed = W300LP(tmp_path, filename_list=tmp_path / "list.txt")
    assert len(listed) == 1 and listed[0]["headpose"][1].item() == pytest.approx(120.0, abs=1e-4)
    (tmp_path / "list.txt").write_text("HELEN/missing\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        W300LP(tmp_path, filename_list=tmp_path / "list.txt")


def test_aflw2000_default_filter_and_flag(tmp_path):
    write_pair(tmp_path, "image00002", [-30.0, 60.0, 5.0])
    write_pair(tmp_path, "image00004", [-100.0, 10.0, 5.0])
    write_pair(tmp_path, "image00006", [0.0, 99.0, -98.0])
    data = AFLW2000(tmp_path)
    assert len(data) == 2 and data.num_filtered == 1
    assert [Path(data[i]["source"]).stem for i in range(2)] == ["image00002", "image00006"]
    assert torch.allclose(data[0]["headpose"], torch.tensor([-30.0, 60.0, 5.0]), atol=1e-4)
    assert len(AFLW2000(tmp_path, max_angle=None)) == 3


def test_aflw2000_bad_mat(tmp_path):
    write_pair(tmp_path, "image00002", [0.0, 0.0, 0.0])
    write_pair(tmp_path, "image00004", [0.0, 0.0, 0.0], pose_key="Pose")
    with pytest.raises(DatasetFormatError, match="image00004.mat: no 'Pose_Para'"):
        AFLW2000(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(AFLW2000(tmp_path, skip_invalid=True)) == 1
    assert "skipped 1" in str(caught[0].message)
    write_pair(tmp_path, "image00004", [0.0, 0.0, 0.0], points=np.zeros((3, 4)))
    with pytest.raises(DatasetFormatError, match=r"pt2d has shape \(3, 4\)"):
        AFLW2000(tmp_path)
    (tmp_path / "image00004.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetFormatError, match="image00004.mat"):
        AFLW2000(tmp_path)
    with pytest.raises(FileNotFoundError, match="Pose_Para"):
        AFLW2000(tmp_path / "nope")


def make_biwi(path: Path, poses, images=None) -> None:
    if images is None:
        images = np.arange(len(poses) * 4 * 5 * 3, dtype=np.uint8).reshape(len(poses), 4, 5, 3)
    np.savez(path, image=images, pose=np.asarray(poses, dtype=np.float64))


def test_biwi_reorders_yaw_pitch_roll(tmp_path):
    make_biwi(tmp_path / "BIWI_noTrack.npz", [[10.0, 20.0, 30.0], [-5.0, 0.5, 7.0]])
    data = BIWI(tmp_path)
    assert len(data) == 2
    sample = data[0]
    assert sample["headpose"].tolist() == [20.0, 10.0, 30.0] and sample["headpose"].dtype == torch.float32
    assert sample["image"].shape == (3, 4, 5) and sample["image"].dtype == torch.uint8
    assert sample["image"][:, 1, 2].tolist() == [21, 22, 23]  # pixel (row 1, col 2) = HWC index 7 * 3
    assert sample["box"].tolist() == [0.0, 0.0, 5.0, 4.0]
    assert sample["source"].endswith("BIWI_noTrack.npz index 0")
    assert data[1]["headpose"].tolist() == [0.5, -5.0, 7.0]
    make_biwi(tmp_path / "BIWI_train.npz", [[1.0, 2.0, 3.0]])
    assert BIWI(tmp_path, "train")[0]["headpose"].tolist() == [2.0, 1.0, 3.0]


def test_biwi_bad_arrays(tmp_path):
    make_biwi(tmp_path / "a.npz", [[1.0, math.nan, 3.0], [1.0, 2.0, 3.0]])
    with pytest.raises(DatasetFormatError, match="a.npz index 0"):
        BIWI(tmp_path, filename="a.npz")
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(BIWI(tmp_path, filename="a.npz", skip_invalid=True)) == 1
    np.savez(tmp_path / "b.npz", image=np.zeros((2, 4, 4, 3), np.uint8), yaw=np.zeros(2))
    with pytest.raises(DatasetFormatError, match=r"lacks array\(s\) \['pose'\]"):
        BIWI(tmp_path, filename="b.npz")
    make_biwi(tmp_path / "c.npz", [[1.0, 2.0, 3.0]], images=np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(DatasetFormatError, match="'image' is uint8"):
        BIWI(tmp_path, filename="c.npz")
    make_biwi(tmp_path / "d.npz", [[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(DatasetFormatError, match="'pose' has shape"):
        BIWI(tmp_path, filename="d.npz")
    with pytest.raises(FileNotFoundError, match="BIWI_noTrack.npz"):
        BIWI(tmp_path / "none")
