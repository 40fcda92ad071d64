"""Shared pieces of the fake benchmarks: a random photo and a plausible 68-point face inside it."""

from pathlib import Path

import numpy as np
from PIL import Image


def photo(path: Path, width: int, height: int, seed: int) -> np.ndarray:
    """Write a random RGB photo (``path``'s suffix picks the format) and return its (H, W, 3) uint8 pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def face_points(count: int, centre: tuple[float, float], size: float, seed: int) -> np.ndarray:
    """(count, 2) float points spread over a face of side ``size`` around ``centre``, jittered by ``seed``;
    every point distinct, so eye-corner and pupil distances are positive."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    radius = size / 2 * (0.4 + 0.6 * (np.arange(count) % 5) / 4)
    points = np.stack([np.cos(angles) * radius, np.sin(angles) * radius], axis=1) + np.asarray(centre)
    return points + rng.uniform(-1, 1, points.shape)
