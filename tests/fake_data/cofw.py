"""COFW as downloaded: ``COFW_test_color.mat`` (MATLAB v7.3/HDF5) with ``IsT``, ``phisT``, ``bboxesT``."""

from pathlib import Path

import h5py
import numpy as np

from tests.fake_data.faces import face_points


def write(root: Path, count: int = 3, seed: int = 0) -> Path:
    """Write ``count`` faces (29 points, 1-based; occlusion flags; boxes x, y, w, h) as MATLAB v7.3."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images = [rng.integers(0, 256, (48 + i, 56, 3), dtype=np.uint8) for i in range(count)]
    points = [face_points(29, (28, 24), 26, seed + i) + 1.0 for i in range(count)]
    flags = rng.integers(0, 2, (count, 29)).astype(np.float64)
    phis = np.concatenate([np.stack([p[:, 0] for p in points]), np.stack([p[:, 1] for p in points]), flags], 1)
    boxes = np.tile([12.0, 10.0, 32.0, 30.0], (count, 1))
    with h5py.File(root / "COFW_test_color.mat", "w") as f:  # transposed arrays, a cell of object references
        refs = f.create_dataset("IsT", (1, count), dtype=h5py.ref_dtype)
        for i, image in enumerate(images):
            refs[0, i] = f.create_dataset(f"#refs#/{i}", data=image.T).ref
        f.create_dataset("phisT", data=phis.T)
        f.create_dataset("bboxesT", data=boxes.T)
    return root
