"""LaPa as downloaded: ``<split>/images/<name>.jpg``, ``<split>/labels/<name>.png`` (uint8 class ids 0..10) and
``<split>/landmarks/<name>.txt`` ('106', then 106 'x y' lines)."""

from pathlib import Path

import numpy as np
from PIL import Image

from tests.fake_data.faces import face_points, photo

#: (split, image name, side of the face in pixels) of each face written: three test faces, one training face
FACES = (("test", "face_a", 40.0), ("test", "face_b", 56.0), ("test", "face_c", 30.0), ("train", "face_d", 40.0))


def write(root: Path, faces=FACES, width: int = 100, height: int = 90, seed: int = 0) -> Path:
    """A photo per face with random blocks of the 11 classes as its label map and 106 points around its centre
    (the tight box of the points is the face box the crop is built around; labels also lie outside it)."""
    rng = np.random.default_rng(seed)
    for i, (split, name, size) in enumerate(faces):
        photo(root / split / "images" / f"{name}.jpg", width, height, seed + i)
        labels = rng.integers(0, 11, (height // 6 + 1, width // 6 + 1)).repeat(6, 0).repeat(6, 1)[:height, :width]
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels.astype(np.uint8), mode="L").save(root / split / "labels" / f"{name}.png")
        points = face_points(106, (width / 2 + i, height / 2 - i), size, seed + i)
        (root / split / "landmarks").mkdir(parents=True, exist_ok=True)
        text = "106\n" + "".join(f"{x:.4f} {y:.4f}\n" for x, y in points)
        (root / split / "landmarks" / f"{name}.txt").write_text(text)
    return root
