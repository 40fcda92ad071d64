"""Face boxes for ``predict`` when none are given: MTCNN (the default), OpenCV's Haar cascade, or the whole image.

``"mtcnn"`` (also ``"auto"``) is the detector the released FaceXFormer ``inference.py`` uses: facenet-pytorch's
MTCNN with its weights, re-implemented in ``facexformer.inference.mtcnn`` (no extra dependency; the weights
ship in the package). Its boxes are what the released model saw, so they are the ones to use with it.

``"haar"``: the frontal-face Haar cascade inside ``opencv-python`` / ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``; OpenCV 5 dropped ``CascadeClassifier`` from the main package). Install it with
``pip install "opencv-python-headless<5"`` (the ``detect`` extra). Haar boxes are square and cover brows to
chin, tighter than MTCNN's. A detector is any callable ``(H, W, 3) uint8 RGB -> (K, 4) (x0, y0, x1, y1) pixels``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

Detector = Callable[[np.ndarray], np.ndarray]
DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
MISSING_OPENCV = (
    "the Haar face detector needs OpenCV 4 with its data files: "
    'pip install "opencv-python-headless<5" (or facexformer[detect])'
)


def _cv2():
    """The ``cv2`` module if it has the Haar cascades, else None."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2 if hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "data") else None


def haar_available() -> bool:
    """Whether an OpenCV with ``CascadeClassifier`` and its bundled cascades is importable."""
    return _cv2() is not None


class HaarFaceDetector:
    """OpenCV Haar cascade face detector: ``(H, W, 3)`` uint8 RGB -> (K, 4) float32 boxes, largest first.

    ``min_size``: smallest face side in pixels; ``scale_factor`` and ``min_neighbors`` as in
    ``cv2.CascadeClassifier.detectMultiScale``. The grey image is histogram-equalised first.
    """

    def __init__(
        self,
        cascade: str = DEFAULT_CASCADE,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
    ):
        cv2 = _cv2()
        if cv2 is None:
            raise ImportError(MISSING_OPENCV)
        path = Path(cascade) if Path(cascade).is_file() else Path(cv2.data.haarcascades) / cascade
        self.classifier = cv2.CascadeClassifier(str(path))
        if self.classifier.empty():
            raise FileNotFoundError(f"could not load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        cv2 = _cv2()
        grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY))
        found = self.classifier.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = np.asarray(found, dtype=np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return sort_largest_first(boxes)


def sort_largest_first(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) (x0, y0, x1, y1) boxes ordered by decreasing area (stable)."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[np.argsort(-area, kind="stable")]


@lru_cache(maxsize=1)
def _default_haar() -> HaarFaceDetector:
    return HaarFaceDetector()


@lru_cache(maxsize=1)
def _default_mtcnn() -> Detector:
    from facexformer.inference.mtcnn import MTCNNFaceDetector

    return MTCNNFaceDetector()


def resolve_detector(detector: str | Detector | None) -> Detector | None:
    """``"mtcnn"`` or ``"auto"``: MTCNN (``facexformer.inference.mtcnn``, on the CPU); ``"haar"``: OpenCV's
    Haar cascade or ImportError; ``"none"``/None: None; a callable is returned as it is."""
    if detector is None or callable(detector):
        return detector
    if detector == "none":
        return None
    if detector in ("mtcnn", "auto"):
        return _default_mtcnn()
    if detector == "haar":
        if haar_available():
            return _default_haar()
        raise ImportError(MISSING_OPENCV)
    raise ValueError(f"unknown detector {detector!r}; use 'mtcnn', 'haar', 'none' or a callable")


def whole_image_box(image: np.ndarray) -> np.ndarray:
    """(1, 4) box covering the whole (H, W, ...) image: (0, 0, W, H)."""
    height, width = image.shape[:2]
    return np.array([[0.0, 0.0, float(width), float(height)]], dtype=np.float32)


def find_faces(
    image: np.ndarray, detector: Detector | None, source: str, detector_requested: bool = True
) -> np.ndarray:
    """Face boxes (K, 4), largest first, in ``image`` (H, W, 3) uint8 RGB.

    Without a detector, or when it finds nothing, the whole image is the face box and a warning names
    ``source`` (no warning when no detector was asked for, ``detector_requested=False``).
    """
    if detector is None:
        if detector_requested:
            warnings.warn(
                f"{source}: no face detector given; using the whole image as the face box",
                stacklevel=3,
            )
        return whole_image_box(image)
    boxes = np.asarray(detector(image), dtype=np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        warnings.warn(f"{source}: no face found; using the whole image as the face box", stacklevel=3)
        return whole_image_box(image)
    return sort_largest_first(boxes)
