import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.expression import RAFDB, AffectNet
from facexformer.tasks.expression import EXPRESSION_NAMES

RAF_LINES = [f"train_0000{i}.jpg {i}" for i in range(1, 8)] + ["test_0001.jpg 4", "test_0002.jpg 7"]
# RAF-DB 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral
RAF_NAMES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]


def make_raf(root: Path, lines: list[str]) -> Path:
    (root / "basic" / "EmoLabel").mkdir(parents=True)
    (root / "basic" / "Image" / "aligned").mkdir(parents=True)
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n\n")
    for line in lines:
        stem = line.split()[0].rsplit(".", 1)[0]
        Image.new("RGB", (10, 10), (90, 90, 90)).save(root / "basic/Image/aligned" / f"{stem}_aligned.jpg")
    return root


def test_expression_names_order():
    assert EXPRESSION_NAMES[:7] == ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
    assert EXPRESSION_NAMES[7] == "contempt"


def test_rafdb_labels_map_to_shared_order(tmp_path):
    root = make_raf(tmp_path, RAF_LINES)
    train = RAFDB(root, "train")
    assert len(train) == 7
    got = [EXPRESSION_NAMES[train[i]["expression"].item()] for i in range(7)]
    assert got == RAF_NAMES
    sample = train[0]
    assert sample["tasks"] == ("expression",) and sample["expression"].dtype == torch.int64
    assert sample["box"].tolist() == [0.0, 0.0, 10.0, 10.0]
    assert "train_00001_aligned.jpg" in sample["source"] and "line 1" in sample["source"]
    test = RAFDB(root, "test")
    assert [EXPRESSION_NAMES[test[i]["expression"].item()] for i in range(2)] == ["happiness", "neutral"]


def test_rafdb_three_field_variant(tmp_path):
    root = make_raf(tmp_path, ["train_00001.jpg\ttrain\t6", "test_0001.jpg\ttest\t1"])
    assert EXPRESSION_NAMES[RAFDB(root, "train")[0]["expression"].item()] == "anger"
    assert len(RAFDB(root, "test")) == 1


@pytest.mark.parametrize(
    "bad", ["train_00009.jpg 8", "train_00009.jpg x", "val_0001.jpg 1", "train_00009.jpg test 2", "train_00009.jpg"]
)
def test_rafdb_malformed_line(tmp_path, bad):
    root = make_raf(tmp_path, RAF_LINES[:2] + [bad])
    with pytest.raises(DatasetFormatError, match="list_patition_label.txt line 3"):
        RAFDB(root, "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(RAFDB(root, "train", skip_invalid=True)) == 2
    assert "skipped 1" in str(caught[0].message)


def test_rafdb_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="list_patition_label.txt"):
        RAFDB(tmp_path, "train")
    root = make_raf(tmp_path, RAF_LINES[:2])
    (root / "basic" / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(DatasetFormatError, match="train_00002_aligned.jpg not found"):
        RAFDB(root, "train")


HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def make_affectnet(root: Path, codes: list[str]) -> Path:
    rows = [HEADER]
    for i, code in enumerate(codes):
        rel = f"{i % 2}/img{i}.jpg"
        (root / "Manually_Annotated_Images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 16), (i, i, i)).save(root / "Manually_Annotated_Images" / rel)
        rows.append(f'{rel},{i},{i + 1},10,8,"1.0;2.0;3.0",{code},0.1,-0.2')
    (root / "training.csv").write_text("\n".join(rows) + "\n")
    return root


def test_affectnet_codes_boxes_and_drops(tmp_path):
    root = make_affectnet(tmp_path, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "10"])
    with pytest.warns(UserWarning, match=r"dropped 5 row\(s\)"):
        data = AffectNet(root, "train")
    assert len(data) == 7
    assert [data[i]["expression"].item() for i in range(7)] == list(range(7))
    assert data.dropped == {7: 1, 8: 1, 9: 1, 10: 2}
    sample = data[3]
    assert sample["box"].tolist() == [3.0, 4.0, 13.0, 12.0] and sample["box"].dtype == torch.float32
    assert sample["image"].shape == (3, 16, 20)
    assert "training.csv line 5" in sample["source"]
    with pytest.warns(UserWarning, match=r"dropped 4 row\(s\)"):
        data8 = AffectNet(root, "train", num_classes=8)
    assert len(data8) == 8 and data8[7]["expression"].item() == 7
    assert data8.dropped == {8: 1, 9: 1, 10: 2}


@pytest.mark.parametrize("code", ["11", "-1", "happy", ""])
def test_affectnet_bad_code(tmp_path, code):
    root = make_affectnet(tmp_path, ["0", code])
    with pytest.raises(DatasetFormatError, match="training.csv line 3"):
        AffectNet(root, "train")
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(AffectNet(root, "train", skip_invalid=True)) == 1


def test_affectnet_missing_column_image_and_num_classes(tmp_path):
    root = make_affectnet(tmp_path, ["0", "1"])
    (root / "Manually_Annotated_Images" / "1" / "img1.jpg").unlink()
    data = AffectNet(root, "train")
    with pytest.raises(FileNotFoundError, match="img1.jpg"):
        data[1]
    with pytest.raises(ValueError, match="num_classes"):
        AffectNet(root, "train", num_classes=5)
    (root / "training.csv").write_text("subDirectory_filePath,expression\n0/img0.jpg,1\n")
    with pytest.raises(DatasetFormatError, match="face_x"):
        AffectNet(root, "train")
    with pytest.raises(FileNotFoundError, match="validation.csv"):
        AffectNet(root, "val")
