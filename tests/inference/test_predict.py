import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.crop import CropFace
from facexformer.data.synthetic import SyntheticFaces
from facexformer.geometry.crop import CropSettings
from facexformer.inference.predict import FacePrediction, predict, rle_decode, rle_encode, to_rgb_array
from facexformer.module import FaceXFormer
from facexformer.tasks.attributes import ATTRIBUTE_NAMES


@pytest.fixture
def model(tiny_kwargs):
    torch.manual_seed(0)
    return FaceXFormer(**tiny_kwargs).eval()


@pytest.fixture(scope="module")
def face():
    sample = SyntheticFaces(1, size=96, seed=3)[0]
    return sample["image"].permute(1, 2, 0).numpy().copy(), sample["box"].numpy()


def fake_forward(images, tasks=None):
    """Known raw outputs: landmarks at the crop centre, fixed pose, parsing left half 1 / right half 2."""
    batch, size = images.shape[0], images.shape[-1]
    left = (torch.arange(size) < size // 2).float() * 20 - 10
    parsing = torch.full((batch, 11, size, size), -30.0)
    parsing[:, 1] = left.expand(size, size)
    parsing[:, 2] = -left.expand(size, size)
    outputs = {
        "landmarks": torch.zeros(batch, 68, 2),
        "headpose": torch.deg2rad(torch.tensor([[10.0, -20.0, 5.0]])).expand(batch, 3),
        "attributes": torch.zeros(batch, 40),
        "visibility": torch.full((batch, 29), math.log(3.0)),
        "age": torch.zeros(batch, 8),
        "gender": torch.tensor([[0.0, math.log(3.0)]]).expand(batch, 2),
        "race": torch.tensor([[0.0, 0.0, 5.0, 0.0, 0.0]]).expand(batch, 5),
        "parsing": parsing,
    }
    return {name: outputs[name] for name in tasks}


def test_outputs_are_mapped_back_to_the_original_image(model, monkeypatch):
    monkeypatch.setattr(model.net, "forward", fake_forward)  # predict runs a copy of model.net
    image = np.zeros((100, 120, 3), dtype=np.uint8)
    (pred,) = predict(model, image, boxes=[10, 20, 50, 60])
    # box grown 10 px a side -> crop (left 0, top 10, 60 x 60); crop centre (29.5, 39.5) original pixels
    assert pred.crop == (0, 10, 60, 60)
    np.testing.assert_allclose(pred.landmarks, np.tile([[29.5, 39.5]], (68, 1)), atol=1e-5)
    assert pred.headpose == pytest.approx({"pitch": 10.0, "yaw": -20.0, "roll": 5.0}, abs=1e-4)
    assert pred.parsing.shape == (100, 120) and pred.parsing.dtype == np.uint8
    expected = np.zeros((100, 120), dtype=np.uint8)
    expected[10:70, 0:30] = 1
    expected[10:70, 30:60] = 2
    np.testing.assert_array_equal(pred.parsing, expected)
    assert list(pred.attributes) == list(ATTRIBUTE_NAMES) and pred.attributes["Smiling"] == pytest.approx(0.5)
    np.testing.assert_allclose(pred.visibility, 0.75, atol=1e-6)
    assert pred.gender.label == "female"
    assert pred.gender.probs == pytest.approx({"male": 0.25, "female": 0.75})
    assert pred.race.label == "asian" and pred.race.index == 2
    assert pred.age.probs["20-29"] == pytest.approx(1 / 8)
    assert pred.age_years == pytest.approx(np.mean([4.5, 14.5, 24.5, 34.5, 44.5, 54.5, 64.5, 75.0]))


def test_a_shifted_face_gives_shifted_landmarks(model, face):
    image, box = face
    canvas = np.full((160, 200, 3), 90, dtype=np.uint8)
    canvas[30:126, 50:146] = image
    (a,) = predict(model, image, boxes=box, tasks=["landmarks"])
    (b,) = predict(model, canvas, boxes=box + [50, 30, 50, 30], tasks=["landmarks"])
    assert a.headpose is None and a.parsing is None
    np.testing.assert_allclose(b.landmarks, a.landmarks + [50, 30], atol=1e-3)


def test_all_input_kinds_agree(model, face, tmp_path):
    image, box = face
    path = tmp_path / "face.png"
    Image.fromarray(image).save(path)
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 7, np.uint8)], axis=-1)
    inputs = [
        str(path),
        path,
        Image.fromarray(image),
        image,
        torch.from_numpy(image).permute(2, 0, 1),
        torch.from_numpy(image).permute(2, 0, 1).float() / 255,
        rgba,
        Image.fromarray(rgba),
    ]
    preds = predict(model, inputs, boxes=[box] * len(inputs), tasks=["landmarks", "parsing"])
    assert [p.image_index for p in preds] == list(range(len(inputs)))
    assert preds[0].source == str(path) and preds[3].source == "<input 3>"
    for pred in preds[1:]:
        np.testing.assert_allclose(pred.landmarks, preds[0].landmarks, atol=1e-4)
        np.testing.assert_array_equal(pred.parsing, preds[0].parsing)


def test_grey_images_become_rgb(model):
    grey = np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb_array(Image.fromarray(grey)), np.repeat(grey[..., None], 3, -1))
    np.testing.assert_array_equal(to_rgb_array(torch.from_numpy(grey)[None]), to_rgb_array(grey))
    (pred,) = predict(model, Image.fromarray(grey), detector="none", tasks=["parsing"])
    assert pred.parsing.shape == (40, 50)


def test_batches_match_single_images(model, face):
    image, box = face
    images = [image, image[::-1].copy(), np.ascontiguousarray(image[:, ::-1])]
    together = predict(model, images, boxes=[box] * 3, batch_size=2, tasks=["landmarks", "headpose"])
    for i, pred in enumerate(together):
        (alone,) = predict(model, images[i], boxes=box, tasks=["landmarks", "headpose"])
        np.testing.assert_allclose(pred.landmarks, alone.landmarks, atol=1e-4)
        assert pred.headpose == pytest.approx(alone.headpose, abs=1e-3)


def test_several_faces_come_largest_first(model, face):
    image, _ = face
    boxes = np.array([[5, 5, 30, 30], [20, 20, 90, 90]], dtype=np.float32)
    preds = predict(model, image, detector=lambda rgb: boxes, tasks=["landmarks"])
    assert [p.box for p in preds] == [(20, 20, 90, 90), (5, 5, 30, 30)]


def test_missing_faces_and_detector_fall_back_to_the_whole_image(model, face, monkeypatch):
    image, _ = face
    with pytest.warns(UserWarning, match="me.png: no face found"):
        (pred,) = predict(model, image, detector=lambda x: [], tasks=["age"], names=["me.png"])
    assert pred.box == (0.0, 0.0, 96.0, 96.0) and pred.crop == (0, 0, 96, 96) and pred.source == "me.png"
    asked = []
    monkeypatch.setattr(
        "facexformer.inference.detect._default_mtcnn", lambda: lambda rgb: asked.append(rgb.shape) or []
    )
    with pytest.warns(UserWarning, match="no face found"):  # the default detector is MTCNN
        predict(model, image, tasks=["landmarks"])
    assert asked == [image.shape]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict(model, image, detector="none", tasks=["landmarks"])


def test_json_round_trip(model, face):
    image, box = face
    (pred,) = predict(model, image, boxes=box)
    text = json.dumps(pred.to_dict())
    back = FacePrediction.from_dict(json.loads(text))
    np.testing.assert_array_equal(back.parsing, pred.parsing)
    np.testing.assert_allclose(back.landmarks, pred.landmarks, atol=1e-5)
    assert back.gender == pred.gender and back.headpose == pred.headpose and back.age_years == pred.age_years
    assert set(json.loads(text)) >= {"box", "crop", "landmarks", "parsing", "headpose", "age", "race"}


def test_rle():
    labels = np.array([[0, 0, 3], [3, 3, 1]], dtype=np.uint8)
    code = rle_encode(labels)
    assert code["values"] == [0, 3, 1] and code["counts"] == [2, 3, 1] and code["size"] == [2, 3]
    np.testing.assert_array_equal(rle_decode(code), labels)
    with pytest.raises(ValueError, match="counts sum to 5"):
        rle_decode({**code, "counts": [2, 2, 1]})


def test_method_and_training_mode(model, face, monkeypatch):
    monkeypatch.setattr(FaceXFormer, "predict", predict, raising=False)
    model.train()
    image, box = face
    (pred,) = model.predict(image, boxes=box, tasks="gender")
    assert model.training and pred.gender.label in ("male", "female")


def test_bad_inputs_say_what_is_wrong(model, face, tmp_path):
    image, box = face
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        predict(model, broken)
    with pytest.raises(ValueError, match=r"need \(4,\) or \(K, 4\)"):
        predict(model, image, boxes=[1, 2, 3])
    with pytest.raises(ValueError, match="boxes for 1 images, but 2"):
        predict(model, [image, image], boxes=[box])
    with pytest.raises(KeyError, match="no task 'expression'"):
        predict(model, image, boxes=box, tasks=["expression"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        predict(model, image.astype(np.float32), boxes=box)
    with pytest.raises(TypeError, match="unsupported image type"):
        predict(model, [123], boxes=[box])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model, face):
    image, box = face
    (cpu,) = predict(model, image, boxes=box, tasks=["landmarks"])
    (gpu,) = predict(model.cuda(), image, boxes=box, tasks=["landmarks"])
    np.testing.assert_allclose(gpu.landmarks, cpu.landmarks, atol=1e-2)


def test_predict_crops_as_training_does_with_the_models_saved_crop(tiny_kwargs, face, tmp_path, monkeypatch):
    """The network sees exactly what ``CropFace`` gives training for the model's crop, read back from its folder."""
    crop = {"margin": [0.1, 0.3, 0.2, 0.0], "interpolation": "bilinear", "square": True}
    saved = FaceXFormer(tasks=["landmarks"], crop=crop, **tiny_kwargs).save_pretrained(tmp_path / "m")
    model = FaceXFormer.from_pretrained(saved)
    settings = model.crop_settings
    assert (settings.margin, settings.interpolation, settings.square) == ((0.1, 0.3, 0.2, 0.0), "bilinear", True)
    seen = []

    def recording_forward(images, tasks=None):
        seen.append(images)
        return {"landmarks": torch.zeros(images.shape[0], 68, 2)}

    monkeypatch.setattr(model.net, "forward", recording_forward)
    image, box = face
    (pred,) = predict(model, image, boxes=box)
    sample = {"image": torch.from_numpy(image).permute(2, 0, 1).contiguous(), "box": torch.from_numpy(box)}
    cropped = CropFace(size=64, **crop)(sample)
    assert pred.crop == tuple(int(v) for v in cropped["crop"].tolist())
    torch.testing.assert_close(seen[0][0], model.normalize(cropped["image"][None].float() / 255)[0])
    (wider,) = predict(model, image, boxes=box, margin=0.5)
    expected = CropSettings(64, margin=0.5, square=True).crop(box, (96, 96)).region
    assert wider.crop != pred.crop and wider.crop == expected


def test_the_released_crop_is_the_default_and_a_crop_of_another_size_is_refused(tiny_kwargs):
    assert FaceXFormer(**tiny_kwargs).crop_settings == CropSettings(size=64, margin=0.25, interpolation="bicubic")
    with pytest.raises(ValueError, match="crop size 224 differs from image_size 64"):
        FaceXFormer(crop=CropSettings(size=224), **tiny_kwargs)


def test_outputs_of_tasks_without_a_class_stay_plain_json():
    record = {"box": [0, 0, 4, 4], "crop": [0, 0, 4, 4], "image_index": 0, "source": "a.png", "wrinkles": [0.5, 2]}
    face = FacePrediction.from_dict(record)
    assert face.outputs == {"wrinkles": [0.5, 2]} and face.to_dict() == record
    older = FacePrediction.from_dict({**record, "extra": {"recognition": [0.6, 0.8]}})
    assert older.outputs["recognition"] == [0.6, 0.8] and older.to_dict()["recognition"] == [0.6, 0.8]
    assert FacePrediction((0, 0, 4, 4), (0, 0, 4, 4), extra={"tilt": 3}).outputs == {"tilt": 3}
    with pytest.raises(ValueError, match="no \\['crop'\\]"):
        FacePrediction.from_dict({"box": [0, 0, 4, 4]})
    with pytest.raises(ValueError, match="'parsing' is not a Parsing prediction"):
        FacePrediction.from_dict({**record, "parsing": {"encoding": "png"}})
