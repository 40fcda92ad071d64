"""AFLW2000-3D as downloaded: ``imageNNNNN.jpg`` with a ``.mat`` of ``Pose_Para`` (radians) and ``pt2d``."""

from pathlib import Path

import numpy as np
import scipy.io

from tests.fake_data.faces import face_points, photo

#: (pitch, yaw, roll) degrees of the faces written; the last is past 6DRepNet's 99-degree filter
ANGLES = ((10.0, -20.0, 5.0), (-30.0, 45.0, -10.0), (0.0, 120.0, 0.0))


def write(root: Path, angles=ANGLES, seed: int = 0) -> Path:
    """Write one 50x50 photo and .mat per entry of ``angles``."""
    for i, triple in enumerate(angles):
        name = f"image{i:05d}"
        photo(root / f"{name}.jpg", 50, 50, seed + i)
        pose = np.zeros((1, 7))
        pose[0, :3] = np.radians(triple)
        points = face_points(68, (25, 25), 24, seed + i).T  # pt2d is (2, 68)
        scipy.io.savemat(root / f"{name}.mat", {"Pose_Para": pose, "pt2d": points})
    return root
