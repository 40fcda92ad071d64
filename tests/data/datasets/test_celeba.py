import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.celeba import CelebA
from facexformer.tasks.attributes import ATTRIBUTE_NAMES

FILES = [f"{i:06d}.jpg" for i in range(1, 6)]
PARTS = ["0", "0", "1", "2", "2"]


def attribute_values(i: int) -> list[int]:
    return [1 if (j * 7 + i) % 3 == 0 else -1 for j in range(40)]


def make_root(root: Path, attr_lines: list[str] | None = None) -> Path:
    for folder in ("img_align_celeba", "img_celeba"):
        (root / folder).mkdir(parents=True)
        for name in FILES:
            Image.new("RGB", (8, 10), (1, 2, 3)).save(root / folder / name)
    if attr_lines is None:
        # variable spacing as in the real file (two spaces before positive values)
        attr_lines = [
            name + "".join(f" {v}" if v < 0 else f"  {v}" for v in attribute_values(i)) for i, name in enumerate(FILES)
        ]
    header = [str(len(attr_lines)), " ".join(ATTRIBUTE_NAMES)]
    (root / "list_attr_celeba.txt").write_text("\n".join(header + attr_lines) + "\n")
    partition = "".join(f"{n} {p}\n" for n, p in zip(FILES, PARTS, strict=True))
    (root / "list_eval_partition.txt").write_text(partition)
    marks = ["lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x"]
    marks += [f"{n}   {i + 1} 2  5 2  3 4  1 6  6 {7 + i}" for i, n in enumerate(FILES)]
    (root / "list_landmarks_align_celeba.txt").write_text(f"{len(FILES)}\n" + "\n".join(marks) + "\n")
    boxes = ["image_id x_1 y_1 width height"] + [f"{n}  {i} 1 4 5" for i, n in enumerate(FILES)]
    (root / "list_bbox_celeba.txt").write_text(f"{len(FILES)}\n" + "\n".join(boxes) + "\n")
    return root


def test_attributes_splits_and_default_box(tmp_path):
    root = make_root(tmp_path)
    sizes = {split: len(CelebA(root, split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 2, "val": 1, "test": 2}
    test = CelebA(root, "test")
    for k, i in enumerate((3, 4)):
        sample = test[k]
        expected = torch.tensor([(v + 1) / 2 for v in attribute_values(i)])
        assert torch.equal(sample["attributes"], expected)
        assert sample["attributes"].dtype == torch.float32 and sample["attributes"].shape == (40,)
        assert sample["tasks"] == ("attributes",)
        assert FILES[i] in sample["source"] and f"line {i + 3}" in sample["source"]
        assert sample["box"].tolist() == [0.0, 0.0, 8.0, 10.0]
        assert sample["image"].shape == (3, 10, 8)


def test_named_attribute_columns(tmp_path):
    lines = [n + " -1" * 40 for n in FILES]
    lines[0] = FILES[0] + "".join(" 1" if name in ("Male", "Young") else " -1" for name in ATTRIBUTE_NAMES)
    root = make_root(tmp_path, lines)
    sample = CelebA(root, "train")[0]
    assert torch.nonzero(sample["attributes"]).flatten().tolist() == [20, 39]
    assert ATTRIBUTE_NAMES[20] == "Male" and ATTRIBUTE_NAMES[0] == "5_o_Clock_Shadow"


def test_landmark_box_and_wild_bbox(tmp_path):
    root = make_root(tmp_path)
    sample = CelebA(root, "val", box="landmarks")[0]  # file 3, i = 2
    assert sample["landmarks_5"].tolist() == [[3, 2], [5, 2], [3, 4], [1, 6], [6, 9]]
    assert sample["box"].tolist() == [1.0, 2.0, 6.0, 9.0]
    wild = CelebA(root, "val", images="in_the_wild")[0]
    assert wild["box"].tolist() == [2.0, 1.0, 6.0, 6.0]
    assert "img_celeba" in wild["source"]
    with pytest.raises(ValueError, match="not available"):
        CelebA(root, "val", box="bbox")


@pytest.mark.parametrize("bad,message", [(" 0", "is not one of"), (" 1 1", "41 values")])
def test_malformed_attribute_line(tmp_path, bad, message):
    good = [n + " 1" * 40 for n in FILES]
    good[1] = FILES[1] + " 1" * 39 + bad
    root = make_root(tmp_path, good)
    with pytest.raises(DatasetFormatError, match=f"list_attr_celeba.txt line 4: .*{message}"):
        CelebA(root, "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = CelebA(root, "train", skip_invalid=True)
    assert len(data) == 1 and FILES[0] in data[0]["source"]
    assert len(caught) == 2  # the bad attribute row, then its partition entry without attributes


def test_header_and_partition_errors(tmp_path):
    root = make_root(tmp_path)
    text = (root / "list_attr_celeba.txt").read_text().splitlines()
    (root / "list_attr_celeba.txt").write_text("\n".join(["9"] + text[1:]) + "\n")
    with pytest.raises(DatasetFormatError, match="line 1 declares '9'"):
        CelebA(root, "train")
    swapped = text[1].replace("Bald", "TMP").replace("Bangs", "Bald").replace("TMP", "Bangs")
    (root / "list_attr_celeba.txt").write_text("\n".join([text[0], swapped] + text[2:]) + "\n")
    with pytest.raises(DatasetFormatError, match="line 2 does not list"):
        CelebA(root, "train")
    root2 = make_root(tmp_path / "b")
    (root2 / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 3\n")
    with pytest.raises(DatasetFormatError, match="list_eval_partition.txt line 2"):
        CelebA(root2, "train")
    (root2 / "img_align_celeba" / "000001.jpg").unlink()
    (root2 / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    with pytest.raises(DatasetFormatError, match="000001.jpg not found"):
        CelebA(root2, "train")
    with pytest.raises(FileNotFoundError, match="list_eval_partition"):
        CelebA(tmp_path / "missing", "train")
