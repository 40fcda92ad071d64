"""Drawing surfaces of one synthetic face: the image at 2x (antialiased by a 2x2 box reduce), and at 1x
the LaPa parsing labels and a mask of everything that hides the face (for COFW visibility).

Coordinates passed in are final-image pixels with pixel centres at integers; on the 2x canvas the point u lies
at 2u + 0.5.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter


def shade(rgb, k: float) -> np.ndarray:
    """An RGB colour (3,) scaled by ``k`` (k < 1 darker), float64."""
    return np.asarray(rgb, dtype=np.float64) * k


def mix(a, b, t: float) -> np.ndarray:
    """The RGB colour (3,) ``t`` of the way from ``a`` to ``b``, float64."""
    return np.asarray(a, dtype=np.float64) * (1 - t) + np.asarray(b, dtype=np.float64) * t


def convex_hull(points: np.ndarray) -> np.ndarray:
    """(M, 2) convex hull of (N, 2) points, counter-clockwise (monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) < 3:
        return np.array(pts)

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while (
                len(out) >= 2
                and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0]))
                <= 0
            ):
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


@lru_cache(maxsize=16)
def unit_circle(samples: int) -> np.ndarray:
    """(samples, 2) points (cos t, sin t) evenly spaced on the unit circle (read-only, cached)."""
    t = np.linspace(0.0, 2.0 * np.pi, samples, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    circle.setflags(write=False)
    return circle


def ellipse(centre: np.ndarray, axes: tuple[float, float], angle: float = 0.0, samples: int = 20) -> np.ndarray:
    """(samples, 2) points on an ellipse with semi-axes ``axes`` rotated by ``angle`` radians."""
    local = unit_circle(samples) * (axes[0], axes[1])
    c, s = np.cos(angle), np.sin(angle)
    return local @ np.array([[c, s], [-s, c]]) + centre


def _colour(rgb) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, round(float(v)))) for v in rgb)
    return r, g, b


class Canvas:
    """Image (2x, RGB), parsing labels (1x, LaPa classes), occluder mask (1x, 1 = face hidden)."""

    def __init__(self, size: int, background: np.ndarray) -> None:
        self.size = size
        self.image = Image.new("RGB", (2 * size, 2 * size), _colour(background))
        self.labels = Image.new("L", (size, size), 0)
        self.occluders = Image.new("L", (size, size), 0)
        self._img = ImageDraw.Draw(self.image)
        self._lab = ImageDraw.Draw(self.labels)
        self._occ = ImageDraw.Draw(self.occluders)

    def polygon(self, points: np.ndarray, rgb, label: int | None = None, occludes: bool = False) -> None:
        """Fill a polygon given as (N, 2) pixels; optionally paint ``label`` and mark it as an occluder."""
        if len(points) < 3 or not np.isfinite(points).all():
            return
        self._img.polygon((points * 2.0 + 0.5).ravel().tolist(), fill=_colour(rgb))
        flat = points.ravel().tolist()
        if label is not None:
            self._lab.polygon(flat, fill=label)
        if occludes:
            self._occ.polygon(flat, fill=1)

    def line(self, points: np.ndarray, rgb, width: float, label: int | None = None) -> None:
        """Draw a polyline (N, 2) pixels, ``width`` in final pixels."""
        if len(points) < 2:
            return
        self._img.line((points * 2.0 + 0.5).ravel().tolist(), fill=_colour(rgb), width=max(1, round(2 * width)))
        if label is not None:
            self._lab.line(points.ravel().tolist(), fill=label, width=max(1, round(width)))

    def finish(self, light: np.ndarray, blur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Downsample and light the image; returns image (S, S, 3) uint8, labels (S, S) uint8, occluders bool.

        ``light`` = (strength, direction x, direction y): the image is darkened by the ramp
        1 − strength · clip(0.5 + d · (p − centre) / S, 0, 1). ``blur``: Gaussian radius in final pixels
        (0 = none).
        """
        small = self.image.reduce(2)
        if blur > 0:
            small = small.filter(ImageFilter.GaussianBlur(blur))
        ramp = (np.arange(self.size, dtype=np.float32) - self.size / 2) / self.size
        shade = np.clip(0.5 + light[1] * ramp[None, :] + light[2] * ramp[:, None], 0.0, 1.0)
        gain = Image.fromarray(((1.0 - light[0] * shade) * 255).astype(np.uint8)).convert("RGB")
        return (
            np.asarray(ImageChops.multiply(small, gain)),
            np.asarray(self.labels),
            np.asarray(self.occluders) > 0,
        )
