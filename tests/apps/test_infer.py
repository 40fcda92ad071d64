import json

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.apps import infer
from facexformer.data.synthetic import SyntheticFaces
from facexformer.inference.predict import FacePrediction
from facexformer.module import FaceXFormer

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = FaceXFormer(**TINY)
    return str(model.save_pretrained(tmp_path_factory.mktemp("model") / "tiny"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """100 synthetic 64 px faces saved as PNG, plus one corrupt file."""
    folder = tmp_path_factory.mktemp("photos")
    for i, sample in enumerate(SyntheticFaces(100, size=64, seed=5)):
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(folder / f"face_{i:03d}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder


def test_a_folder_of_images(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    code = infer.main([str(photos), "--checkpoint", checkpoint, "--out", str(out), "--batch-size", "32"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error:" in err and "broken.jpg" in err and "100 written, 0 skipped, 1 failed" in err
    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 100 and len(list(out.glob("*.overlay.png"))) == 100
    assert not (out / "broken.json").exists()
    record = json.loads((out / "face_007.json").read_text())
    assert record["source"] == str(photos / "face_007.png") and record["image_size"] == [64, 64]
    assert record["tasks"] == list(FaceXFormer(**TINY).task_names)
    (face,) = [FacePrediction.from_dict(f) for f in record["faces"]]
    assert face.landmarks.shape == (68, 2) and face.parsing.shape == (64, 64)
    with Image.open(out / "face_007.overlay.png") as overlay:
        assert overlay.width > 64  # the parsing legend sits on the right
        with Image.open(photos / "face_007.png") as photo:
            assert not np.array_equal(np.asarray(overlay)[:64, :64], np.asarray(photo))
    assert not list(out.glob(".*.tmp"))


def test_existing_outputs_are_skipped_unless_overwrite(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    images = [str(photos / "face_000.png"), str(photos / "face_001.png")]
    common = ["--checkpoint", checkpoint, "--out", str(out), "--tasks", "landmarks,headpose", "--no-overlay"]
    assert infer.main(images[:1] + common) == 0
    first = (out / "face_000.json").read_text()
    (out / "face_000.json").write_text('{"edited": true}')
    assert infer.main(images + common) == 0
    err = capsys.readouterr().err
    assert "skip" in err and "face_000.png" in err and "1 written, 1 skipped, 0 failed" in err
    assert json.loads((out / "face_000.json").read_text()) == {"edited": True}
    assert not list(out.glob("*.png"))
    assert infer.main(images + common + ["--overwrite"]) == 0
    redone = json.loads((out / "face_000.json").read_text())["faces"][0]
    np.testing.assert_allclose(redone["landmarks"], json.loads(first)["faces"][0]["landmarks"], atol=1e-3)
    assert set(json.loads(first)["faces"][0]) >= {"landmarks", "headpose"}
    assert "parsing" not in json.loads(first)["faces"][0]


def test_clear_errors(checkpoint, photos, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / folder / "same.png")
    with pytest.raises(SystemExit):
        infer.main([str(tmp_path / "a"), str(tmp_path / "b"), "--checkpoint", checkpoint, "--out", "x"])
    assert "would both write same.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        infer.main([str(tmp_path / "missing.png"), "--checkpoint", checkpoint, "--out", str(tmp_path)])
    assert "missing.png: no such file" in capsys.readouterr().err
    image = str(photos / "face_000.png")
    with pytest.raises(SystemExit, match="2"):
        infer.main([image, "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="2"):
        infer.main([image, "--checkpoint", checkpoint, "--out", "x", "--tasks", "expression"])
    assert "no task 'expression'" in capsys.readouterr().err
