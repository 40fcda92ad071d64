import numpy as np
import pytest
from PIL import Image

from facexformer.inference import detect
from facexformer.inference.mtcnn import MTCNNFaceDetector


def test_haar_finds_a_real_face(shared_dir):
    pytest.importorskip("cv2")
    if not detect.haar_available():
        pytest.skip("this OpenCV has no CascadeClassifier (OpenCV 5); install opencv-python-headless<5")
    folder = shared_dir / "reference/landmarks/samples/300w/01_Indoor"
    image = np.asarray(Image.open(folder / "indoor_029.png").convert("RGB"))
    lines = (folder / "indoor_029.pts").read_text().split("{")[1].split("}")[0].split("\n")
    points = np.array([line.split() for line in lines if line.strip()], dtype=float)
    boxes = detect.HaarFaceDetector()(image)
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) >= 1
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert np.all(np.diff(areas) <= 0)
    x0, y0, x1, y1 = boxes[0]
    cx, cy = points.mean(0)
    assert x0 < cx < x1 and y0 < cy < y1
    # the box is face-sized: its side is within a factor 2 of the landmark extent
    extent = points.max(0) - points.min(0)
    assert 0.5 < (x1 - x0) / extent[0] < 2


def test_sort_largest_first():
    boxes = np.array([[0, 0, 2, 2], [0, 0, 5, 5], [1, 1, 4, 4]], dtype=np.float32)
    np.testing.assert_array_equal(detect.sort_largest_first(boxes), boxes[[1, 2, 0]])


def test_resolve_detector(monkeypatch):
    def custom(image):
        return np.zeros((0, 4))

    assert detect.resolve_detector("none") is None and detect.resolve_detector(None) is None
    assert detect.resolve_detector(custom) is custom
    with pytest.raises(ValueError, match="unknown detector 'retinaface'"):
        detect.resolve_detector("retinaface")
    mtcnn = detect.resolve_detector("mtcnn")
    assert isinstance(mtcnn, MTCNNFaceDetector) and detect.resolve_detector("auto") is mtcnn
    monkeypatch.setattr(detect, "_cv2", lambda: None)
    assert detect.resolve_detector("auto") is mtcnn
    with pytest.raises(ImportError, match="opencv-python-headless"):
        detect.resolve_detector("haar")


def test_find_faces_falls_back_with_a_warning():
    image = np.zeros((30, 40, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="img.png: no face found"):
        boxes = detect.find_faces(image, lambda rgb: np.zeros((0, 4)), "img.png")
    np.testing.assert_array_equal(boxes, [[0, 0, 40, 30]])
    with pytest.warns(UserWarning, match="no face detector given"):
        detect.find_faces(image, None, "img.png")
    found = detect.find_faces(image, lambda rgb: [[1, 1, 5, 5], [0, 0, 20, 20]], "img.png")
    np.testing.assert_array_equal(found, [[0, 0, 20, 20], [1, 1, 5, 5]])
