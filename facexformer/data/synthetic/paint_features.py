"""Painting steps for the facial features of a synthetic face: skin marks, beard, brows, eyes, mouth, nose."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facexformer.data.synthetic.canvas import convex_hull, ellipse, mix, shade

if TYPE_CHECKING:
    from facexformer.data.synthetic.render import Painter


_WRINKLE_X = np.linspace(-30.0, 30.0, 7)
# Inner-lip points each visible row of teeth hangs from (upper) or stands on (lower).
_TEETH_ROWS = {"none": (), "upper": ([60, 61, 62, 63, 64],), "both": ([60, 61, 62, 63, 64], [60, 67, 66, 65, 64])}


def skin_marks(pt: Painter) -> None:
    """Forehead wrinkles, nasolabial folds and crow's feet by age, eye bags, double chin, rosy cheeks."""
    t, c, pr = pt.t, pt.canvas, pt.proj
    line = shade(pt.skin, 0.72)
    brow_top = pt.p[17:27, 1].min()
    for k in range(int(np.clip((t.age - 28) / 11, 0, 4))):
        c.line(
            pr(pt.forehead(_WRINKLE_X, brow_top - 9 - 6 * k - 1.5 * np.cos(_WRINKLE_X / 20))),
            line,
            pt.px,
        )
    if t.age > 45:
        for sign, ala, corner in ((-1, 31, 48), (1, 35, 54)):
            pts = np.array(
                [
                    pt.p[ala] + (sign * 5, -1, 4),
                    pt.p[ala] + (sign * 9, 12, 4),
                    pt.p[corner] + (sign * 5, 4, -2),
                ]
            )
            c.line(pr(pts), line, pt.px)
    if t.age > 55:
        for sign, corner in ((-1, 36), (1, 45)):
            for dy in (-3.0, 0.0, 3.0):
                c.line(
                    pr(np.array([pt.p[corner] + (sign * 3, 0, 0), pt.p[corner] + (sign * 10, dy * 2, 4)])),
                    line,
                    pt.px,
                )
    if t.bags:
        for lo in (36, 42):
            c.line(
                pr(pt.p[[lo, lo + 5, lo + 4, lo + 3]] + (0, 4.5, 0)),
                shade(pt.skin, 0.78),
                pt.px * 1.2,
            )
    if t.double_chin:
        c.line(pr(pt.p[5:12] + (0, 7, 8)), shade(pt.skin, 0.75), pt.px)
    if t.rosy:
        for x in (-38.0, 38.0):
            centre = np.array([x, 8.0, -8.0])
            if pt.proj.facing(np.array([x / 60, 0, -1]))[0] > 0.2:
                ring = np.concatenate([ellipse(centre[:2], (10, 7)), np.full((20, 1), centre[2])], axis=1)
                c.polygon(pr(ring), mix(pt.skin, (225, 80, 95), 0.3))


def beard(pt: Painter) -> None:
    """Stubble, full beard or goatee over the skin (label unchanged)."""
    t, c, pr, p = pt.t, pt.canvas, pt.proj, pt.p
    if t.beard == "none":
        return
    beard = pt.hair if t.hair != "none" else np.array([70.0, 55.0, 45.0])
    area = np.concatenate([p[2:15] + (0, 3, 0), (p[54] + (12, -9, 2))[None], (p[48] + (-12, -9, 2))[None]])
    if t.beard in ("stubble", "full"):
        c.polygon(pr(area), mix(pt.skin, beard, 0.35 if t.beard == "stubble" else 1.0))
    if t.beard == "goatee":
        chin = np.concatenate([p[[59, 58, 57, 56, 55]] + (0, 1.5, 0), p[[9, 8, 7]] + (0, 4, 0)])
        c.polygon(pr(chin), beard)


def mustache(pt: Painter) -> None:
    """A mustache between nose and upper lip (label unchanged)."""
    t, p = pt.t, pt.p
    if t.beard not in ("mustache", "full"):
        return
    beard = pt.hair if t.hair != "none" else np.array([70.0, 55.0, 45.0])
    top = p[[31, 32, 33, 34, 35]] + (0, 2, 0)
    bottom = np.concatenate(
        [(p[54] + (3, 2, 0))[None], p[[53, 52, 51, 50, 49]] + (0, -1, 0), (p[48] + (-3, 2, 0))[None]]
    )
    pt.canvas.polygon(convex_hull(pt.proj(np.concatenate([top, bottom]))), beard)


def brows(pt: Painter) -> None:
    """Both eyebrows (label 2 image-left, 3 image-right), skipped when turned away."""
    t = pt.t
    colour = mix(pt.hair if t.hair not in ("none", "blond") else (80, 60, 45), (20, 15, 10), 0.35)
    if t.hair == "gray":
        colour = mix(colour, (150, 150, 150), 0.6)
    for idx, label, taper in (
        (list(range(17, 22)), 2, np.linspace(0.5, 1.0, 5)),
        (list(range(22, 27)), 3, np.linspace(1.0, 0.5, 5)),
    ):
        if pt.facing(idx) < 0.1:
            continue
        pts = pt.p[idx]
        half = np.zeros_like(pts)
        half[:, 1] = t.brow_thick / 2 * taper
        pt.canvas.polygon(pt.proj(np.concatenate([pts - half, (pts + half)[::-1]])), colour, label=label)


def eyes(pt: Painter) -> None:
    """Eye whites, irises and pupils inside the lids (label 4 / 5), or closed lids, lid lines, eyeshadow."""
    t, c = pt.t, pt.canvas
    iris_colour = pt.rng.choice(np.array([[60, 40, 25], [90, 60, 30], [70, 110, 150], [80, 110, 70]]))
    gaze = pt.rng.normal(0, 1.5, 2)
    for lo, label in ((36, 4), (42, 5)):
        idx = list(range(lo, lo + 6))
        if pt.facing(idx) < 0.2:
            continue
        eye = pt.p[idx]
        upper, lower = eye[[0, 1, 2, 3]], eye[[0, 5, 4, 3]]
        if t.eyeshadow:
            lid = np.concatenate([upper, (upper + (0, -6, -1))[::-1]])
            c.polygon(pt.proj(lid), mix(pt.skin, (120, 70, 110), 0.45))
        if t.eye_open > 0.05:
            c.polygon(pt.proj(eye), (236, 234, 228), label=label)
            centre = eye.mean(axis=0)[:2] + gaze
            for radius, colour in ((5.8, iris_colour), (2.4, (15, 12, 12))):
                c.polygon(
                    pt.proj(
                        _in_lids(
                            ellipse(centre, (radius, radius), samples=16),
                            upper,
                            lower,
                            centre_z=eye[:, 2].mean() - 1,
                        )
                    ),
                    colour,
                    label=label,
                )
        else:
            c.line(pt.proj(lower), (40, 30, 30), pt.px, label=label)
        c.line(pt.proj(upper), (30, 22, 20), pt.px * (1.6 if t.eyeshadow else 1.1))


def _in_lids(circle: np.ndarray, upper: np.ndarray, lower: np.ndarray, centre_z: float) -> np.ndarray:
    xs = np.clip(circle[:, 0], upper[0, 0], upper[-1, 0])
    top = np.interp(xs, upper[:, 0], upper[:, 1])
    bottom = np.interp(xs, lower[:, 0], lower[:, 1])
    ys = np.clip(circle[:, 1], top, bottom)
    return np.stack([xs, ys, np.full(len(xs), centre_z)], axis=1)


def mouth(pt: Painter) -> None:
    """Lips (7 upper, 9 lower) and, when open, the inner mouth and teeth (8)."""
    t, c, p = pt.t, pt.canvas, pt.p
    lips = mix(pt.skin, (190, 80, 85), 0.35)
    if t.lipstick:
        lips = pt.rng.choice(np.array([[190, 20, 40], [200, 60, 110], [130, 20, 40]])).astype(np.float64)
    inner = p[[60, 61, 62, 63, 64, 65, 66, 67]]
    gap = t.mouth_open + t.lip_raise
    if gap > 1.0:
        c.polygon(pt.proj(inner), (45, 12, 18), label=8)
        for row in _TEETH_ROWS[t.teeth]:
            edge = p[row]
            down = 1.0 if row[1] == 61 else -1.0  # the upper row hangs down from the upper lip
            band = np.concatenate([edge, (edge + (0, down * min(0.4 * gap, 5.0), 0))[::-1]])
            c.polygon(pt.proj(band), (240, 236, 225), label=8)
    c.polygon(pt.proj(p[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]), shade(lips, 0.92), label=7)
    c.polygon(pt.proj(p[[54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]]), lips, label=9)
    c.line(pt.proj(p[[60, 61, 62, 63, 64]]), shade(lips, 0.55), pt.px * 0.8)


def nose(pt: Painter) -> None:
    """The nose hull (label 6), its shaded side and the nostrils."""
    p, c = pt.p, pt.canvas
    extra = np.array([p[31] + (-3, -3, 7), p[35] + (3, -3, 7), p[27] + (-6, 0, 5), p[27] + (6, 0, 5)])
    pts = pt.proj(np.concatenate([p[27:36], extra]))
    c.polygon(convex_hull(pts), shade(pt.skin, 0.97), label=6)
    side = [27, 28, 29, 30, 31] if pt.t.pose[1] > 0 else [27, 28, 29, 30, 35]
    c.polygon(convex_hull(pt.proj(p[side])), shade(pt.skin, 0.86))
    if pt.facing([31, 32, 33, 34, 35]) > 0.3:
        for idx in (32, 34):
            ring = np.concatenate([ellipse(p[idx, :2] + (0, -1.2), (2.6, 1.3)), np.full((20, 1), p[idx, 2])], axis=1)
            c.polygon(pt.proj(ring), shade(pt.skin, 0.35))
