"""predict / infer on hostile inputs, and the decoder itself: clear errors or counted skips, never lost work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.apps import infer
from facexformer.data.synthetic import SyntheticFaces
from facexformer.inference.predict import predict
from facexformer.io.image import ImageDecodeError, decode_image
from facexformer.module import FaceXFormer
from tests.robustness.hostile import BROKEN, assert_clear

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FaceXFormer(tasks=["landmarks", "gender"], **TINY).eval()


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    return str(model.save_pretrained(tmp_path_factory.mktemp("model") / "tiny"))


def _faces(folder, count=3):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, sample in enumerate(SyntheticFaces(count, 64, seed=4, tasks=["landmarks"])):
        path = folder / f"good_{index}.png"
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------------ predict
def test_empty_input_list_gives_no_prediction(model):
    assert predict(model, []) == []


def test_one_pixel_image(model):
    faces = predict(model, np.full((1, 1, 3), 128, np.uint8), detector="none")
    assert len(faces) == 1 and np.isfinite(np.asarray(faces[0].landmarks)).all()


@pytest.mark.parametrize(
    "box",
    [[1000, 1000, 1100, 1100], [-50, -50, -10, -10], [10, 10, 5, 5], [np.nan, 0, 9, 9]],
    ids=["right-of-image", "left-of-image", "inverted", "nan"],
)
def test_boxes_outside_the_image_are_clear_errors(model, box):
    with pytest.raises(ValueError) as caught:
        predict(model, np.zeros((64, 64, 3), np.uint8), boxes=np.array(box, dtype=float), names=["photo.png"])
    assert_clear(caught.value, "photo.png", "crop_box")


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_float_images_are_refused(model, value):
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    image[3, 4, 1] = value
    with pytest.raises(ImageDecodeError) as caught:
        predict(model, image, detector="none")
    assert_clear(caught.value, "non-finite")
    with pytest.raises(ImageDecodeError):
        predict(model, torch.from_numpy(image).permute(2, 0, 1), detector="none")


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_path_names_the_file(model, tmp_path, broken):
    good, bad = _faces(tmp_path, 2)
    BROKEN[broken](bad)
    with pytest.raises(ImageDecodeError) as caught:
        predict(model, [good, bad], detector="none")
    assert_clear(caught.value, str(bad))


# ------------------------------------------------------------------------------------------------ infer
def test_infer_writes_every_good_image_around_broken_ones(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    good = _faces(photos, 3)
    for name, breaker in BROKEN.items():
        path = photos / f"{name}.png"
        Image.new("RGB", (16, 16)).save(path)
        breaker(path)
    nan_tiff = photos / "nan-float.tiff"
    Image.fromarray(np.full((8, 8), np.nan, np.float32), mode="F").save(nan_tiff)
    out = tmp_path / "out"
    code = infer.main([str(photos), "--checkpoint", checkpoint, "--out", str(out), "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 1
    for path in good:
        assert json.loads((out / f"{path.stem}.json").read_text())["source"] == str(path)
    for name in [*BROKEN, "nan-float"]:
        assert not (out / f"{name}.json").exists()
        assert f"error: {photos / name}" in err, err
    assert "3 written, 0 skipped, 5 failed" in err
    assert "Traceback" not in err


def test_infer_refuses_an_output_file_before_loading_the_model(tmp_path, capsys):
    image = _faces(tmp_path / "in", 1)[0]
    (tmp_path / "taken").write_text("a user's file")
    with pytest.raises(SystemExit) as caught:  # the checkpoint does not exist: the check came first
        infer.main([str(image), "--checkpoint", str(tmp_path / "no-model"), "--out", str(tmp_path / "taken")])
    assert caught.value.code == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "a user's file"


def test_infer_with_no_images_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as caught:
        infer.main([str(tmp_path / "empty"), "--checkpoint", str(tmp_path / "m"), "--out", str(tmp_path / "o")])
    assert caught.value.code == 2 and "no image files" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ decoder
def test_16bit_grey_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (4, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    decoded = decode_image(tmp_path / "ramp.png")
    assert (decoded == 255).mean() < 0.01  # clipping made 63% of such an image 255
    assert np.array_equal(decoded[0, :, 0], np.round(ramp[0] / 257).astype(np.uint8))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, :5] = 255  # a white band on the left of a wide picture
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = decode_image(tmp_path / "rotated.jpg")
    assert upright.shape == (30, 10, 3)
    assert upright[:5].mean() > 200 and upright[-5:].mean() < 50  # the band is now at the top


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        decode_image(tmp_path / "nope.jpg")
    assert_clear(caught.value, "nope.jpg")
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(tmp_path)
    assert_clear(caught.value, str(tmp_path), "not a regular file")
