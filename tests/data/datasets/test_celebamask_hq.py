import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.celebamask_hq import CelebAMaskHQ

# HQ index -> original CelebA index: train, train (boundary), val, val (boundary), test
ORIG = {0: 10, 1: 162770, 2: 162771, 3: 182637, 4: 182638}


def make_root(root: Path, parts: dict[int, dict[str, np.ndarray]] | None = None, size: int = 4) -> Path:
    (root / "CelebA-HQ-img").mkdir(parents=True)
    rows = ["idx orig_idx orig_file"] + [f"{k}  {o}  {o + 1:06d}.jpg" for k, o in ORIG.items()]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(rows) + "\n")
    for k in ORIG:
        Image.new("RGB", (2 * size, 2 * size), (k, 0, 0)).save(root / "CelebA-HQ-img" / f"{k}.jpg")
    parts = parts or {k: {"skin": np.ones((size, size), bool)} for k in ORIG}
    folder = root / "CelebAMask-HQ-mask-anno" / "0"
    folder.mkdir(parents=True)
    for k, masks in parts.items():
        for part, mask in masks.items():
            Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{k:05d}_{part}.png")
    return root


def test_threshold_split(tmp_path):
    root = make_root(tmp_path)
    got = {s: [r.index for r in CelebAMaskHQ(root, s).records] for s in ("train", "val", "test")}
    assert got == {"train": [0, 1], "val": [2, 3], "test": [4]}


def test_celeba_partition_split(tmp_path):
    root = make_root(tmp_path)
    codes = {11: "0", 162771: "1", 162772: "1", 182638: "2", 182639: "2"}
    (root / "list_eval_partition.txt").write_text("".join(f"{n:06d}.jpg {c}\n" for n, c in codes.items()))
    got = {s: [r.index for r in CelebAMaskHQ(root, s, split_source="celeba").records] for s in ("train", "val")}
    assert got == {"train": [0], "val": [1, 2]}
    (root / "list_eval_partition.txt").write_text("000011.jpg 0\n")
    with pytest.raises(DatasetFormatError, match="line 3: 162771.jpg is not in list_eval_partition"):
        CelebAMaskHQ(root, "train", split_source="celeba")


def test_merge_classes_swap_order_and_upsampling(tmp_path):
    def cells(*coords):
        mask = np.zeros((4, 4), bool)
        for r, c in coords:
            mask[r, c] = True
        return mask

    masks = {
        "skin": np.ones((4, 4), bool),
        "l_brow": cells((0, 0)), "r_brow": cells((0, 1)), "l_eye": cells((0, 2)), "r_eye": cells((0, 3)),
        "nose": cells((1, 0)), "u_lip": cells((1, 1)), "mouth": cells((1, 2)), "l_lip": cells((1, 3)),
        "hair": cells((2, 0), (2, 1)), "hat": cells((2, 1)),  # hat painted after hair -> background
        "eye_g": cells((2, 2), (0, 2)),  # glasses before l_eye: eye stays, elsewhere background over skin
        "neck": cells((3, 0)), "cloth": cells((3, 1)), "l_ear": cells((3, 2)),
    }  # fmt: skip
    root = make_root(tmp_path, {0: masks})
    data = CelebAMaskHQ(root, "train")
    expected = torch.tensor([[3, 2, 5, 4], [6, 7, 8, 9], [10, 0, 0, 1], [0, 0, 0, 1]])
    assert torch.equal(data.merged_mask(0), expected)
    sample = data[0]
    assert sample["parsing"].shape == (8, 8) and sample["parsing"].dtype == torch.int64
    assert torch.equal(sample["parsing"], expected.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert sample["image"].shape == (3, 8, 8) and sample["box"].tolist() == [0.0, 0.0, 8.0, 8.0]
    assert sample["tasks"] == ("parsing",) and "0.jpg" in sample["source"]


def test_missing_masks_and_bad_mapping(tmp_path):
    root = make_root(tmp_path, {0: {"skin": np.ones((4, 4), bool)}})
    data = CelebAMaskHQ(root, "train")
    with pytest.raises(DatasetFormatError, match="no part masks"):
        data[1]
    Image.fromarray(np.ones((2, 2), np.uint8)).save(root / "CelebAMask-HQ-mask-anno" / "0" / "00000_hair.png")
    with pytest.raises(DatasetFormatError, match="00000_hair.png: mask"):
        data[0]
    text = (root / "CelebA-HQ-to-CelebA-mapping.txt").read_text() + "5 abc 000001.jpg\n"
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(text)
    with pytest.raises(DatasetFormatError, match="mapping.txt line 7"):
        CelebAMaskHQ(root, "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(CelebAMaskHQ(root, "train", skip_invalid=True)) == 2
    assert "skipped 1" in str(caught[0].message)
    with pytest.raises(FileNotFoundError, match="CelebA-HQ-img"):
        CelebAMaskHQ(tmp_path / "none", "train")
