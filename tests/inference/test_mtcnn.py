import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexformer.inference.mtcnn import MTCNNFaceDetector, rgb_uint8
from facexformer.inference.predict import predict
from facexformer.module import FaceXFormer

REFERENCE = Path(__file__).parents[1] / "fixtures/mtcnn/facenet_pytorch_detect.json"
ENTRIES = json.loads(REFERENCE.read_text())["images"]


@pytest.fixture(scope="module")
def detector():
    return MTCNNFaceDetector()


def load(shared_dir: Path, entry: dict) -> np.ndarray:
    with Image.open(shared_dir / "reference/landmarks/samples" / entry["image"]) as image:
        return np.asarray(image.convert("RGB" if entry["colour"] == "rgb" else "L"))


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e['colour']}-{Path(e['image']).stem}" for e in ENTRIES])
def test_detections_equal_facenet_pytorch_on_real_photos(detector, shared_dir, entry):
    image = load(shared_dir, entry)  # grey entries: the (H, W) array; facenet-pytorch saw it repeated to RGB
    found = detector.detect(image)
    expected = {key: np.asarray(entry[key], dtype=np.float32) for key in ("boxes", "scores", "landmarks")}
    assert len(found) == len(expected["boxes"]) > 0
    np.testing.assert_allclose(found.boxes, expected["boxes"], rtol=0, atol=0.5)
    np.testing.assert_allclose(found.scores, expected["scores"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(found.landmarks, expected["landmarks"], rtol=0, atol=0.5)
    np.testing.assert_array_equal(detector(image), found.boxes)


def test_reference_covers_several_faces_and_boxes_past_the_border():
    boxes = np.concatenate([np.asarray(e["boxes"]).reshape(-1, 4) for e in ENTRIES])
    assert max(len(e["boxes"]) for e in ENTRIES) >= 10 and np.any(boxes[:, :2] < 0)


def test_landmarks_lie_in_their_boxes_eyes_above_mouth(detector, shared_dir):
    found = detector.detect(load(shared_dir, ENTRIES[1]))
    (box,), (points,) = found.boxes, found.landmarks
    assert np.all((points >= box[:2]) & (points <= box[2:]))
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


@pytest.mark.parametrize(
    "image",
    [
        np.full((200, 240, 3), 128, np.uint8),
        np.tile(np.linspace(0, 255, 240, dtype=np.uint8), (200, 1))[..., None].repeat(3, 2),
        np.zeros((10, 300, 3), np.uint8),  # shorter than the smallest face searched: no pyramid level
    ],
    ids=["flat", "gradient", "too-small"],
)
def test_no_face_gives_an_empty_result(detector, image):
    found = detector.detect(image)
    assert found.boxes.shape == (0, 4) and found.scores.shape == (0,) and found.landmarks.shape == (0, 5, 2)
    assert found.boxes.dtype == np.float32 and len(found) == 0


def test_grey_rgba_and_pil_inputs(detector, shared_dir):
    path = shared_dir / "reference/landmarks/samples/aflw/flickr/0/image04476.jpg"
    with Image.open(path) as image:
        rgb, grey = np.asarray(image.convert("RGB")), np.asarray(image.convert("L"))
    expected = detector.detect(rgb)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(detector(rgba), expected.boxes)
    np.testing.assert_array_equal(detector(Image.fromarray(rgba)), expected.boxes)
    np.testing.assert_array_equal(detector(grey[..., None]), detector(grey))
    np.testing.assert_array_equal(detector(grey), detector(np.repeat(grey[..., None], 3, axis=2)))
    assert len(detector(grey)) == 1


def test_rgb_uint8_conversions_and_errors():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(rgb_uint8(grey), np.repeat(grey[..., None], 3, axis=2))
    assert rgb_uint8(Image.fromarray(grey).convert("P")).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="MTCNN takes uint8 pixels .* float32"):
        rgb_uint8(np.zeros((3, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"got \(3, 4, 2\)"):
        rgb_uint8(np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(TypeError, match="got list"):
        rgb_uint8([[0, 1]])
    with pytest.raises(ValueError, match="min_face_size > 0"):
        MTCNNFaceDetector(factor=1.2)


def test_predict_crops_the_largest_mtcnn_face_by_default(shared_dir, tiny_kwargs):
    entry = ENTRIES[2]  # three faces
    model = FaceXFormer(**tiny_kwargs).eval()
    preds = predict(model, shared_dir / "reference/landmarks/samples" / entry["image"], tasks=["landmarks"])
    np.testing.assert_allclose([p.box for p in preds], entry["boxes"], rtol=0, atol=0.5)
