"""Painting steps for the background, body, head and hair of a synthetic face (see ``render.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facexformer.data.synthetic.canvas import convex_hull, ellipse, shade
from facexformer.data.synthetic.face_model import HEAD_AXES, hull_candidates

if TYPE_CHECKING:
    from facexformer.data.synthetic.render import Painter


_WAVE_STEPS = np.array([0.0, 0.25, 0.5, 0.75])


def background(pt: Painter) -> None:
    """Random ellipses and polygons behind everything (parsing stays 0)."""
    c, rng, s = pt.canvas, pt.rng, pt.size
    for _ in range(int(rng.integers(2, 7))):
        centre = rng.uniform(0, s, 2)
        axes = rng.uniform(0.1, 0.6, 2) * s
        shape = ellipse(centre, axes, rng.uniform(0, np.pi), samples=int(rng.choice([4, 16])))
        c.polygon(shape, rng.uniform(20, 235, 3))


def body(pt: Painter) -> None:
    """Shirt and neck below the head, labelled background."""
    p, c = pt.proj, pt.canvas
    top, bottom = p(np.array([[0.0, 50.0, 70.0], [0.0, 230.0, 70.0]]))
    axis = bottom - top
    across = np.array([-axis[1], axis[0]]) / max(np.linalg.norm(axis), 1e-6) * 52 * p.scale
    shirt = pt.rng.uniform(20, 235, 3)
    sx, sy = bottom
    s = p.scale
    c.polygon(
        np.array(
            [
                [sx - 90 * s, sy - 25 * s],
                [sx + 90 * s, sy - 25 * s],
                [sx + 230 * s, sy + 60 * s],
                [sx + 260 * s, sy + 900 * s],
                [sx - 260 * s, sy + 900 * s],
                [sx - 230 * s, sy + 60 * s],
            ]
        ),
        shirt,
        label=0,
    )
    c.polygon(
        np.array([top - across, top + across, bottom + across, bottom - across]),
        shade(pt.skin, 0.82),
        label=0,
    )


def hair_back(pt: Painter) -> None:
    """The hat's back half and the hair behind the head (long-hair curtain, back of the cap): label 10."""
    t = pt.t
    if t.hat:
        n, d = pt.cap_plane(-0.5, -0.1)
        pt.canvas.polygon(pt.ellipsoid_region(HEAD_AXES * 1.12, n, d, front=False), pt.hat_colour, label=0)
    if t.bald:
        return
    colour = shade(pt.hair, 0.8)
    if t.long_hair:
        length = pt.rng.uniform(120, 200)
        curtain = np.array(
            [
                [-80, -50, 75],
                [-96, 40, 80],
                [-100, length, 70],
                [100, length, 70],
                [96, 40, 80],
                [80, -50, 75],
            ],
            dtype=np.float64,
        )
        pt.canvas.polygon(_wavy(pt, pt.proj(curtain)), colour, label=10)
    pt.canvas.polygon(_wavy(pt, pt.ellipsoid_region(HEAD_AXES * 1.07, *pt.hair_cap, front=False)), colour, label=10)


def _wavy(pt: Painter, outline: np.ndarray) -> np.ndarray:
    if not pt.t.wavy or len(outline) < 3:
        return outline
    step = np.roll(outline, -1, axis=0) - outline
    dense = (outline[:, None, :] + step[:, None, :] * _WAVE_STEPS[None, :, None]).reshape(-1, 2)
    centre = dense.mean(axis=0)
    return centre + (dense - centre) * (1.0 + 0.03 * np.sin(np.arange(len(dense)) * 1.3))[:, None]


def head(pt: Painter) -> None:
    """The front of the head ellipsoid and the face hull in skin colour: label 1."""
    pt.canvas.polygon(pt.ellipsoid_region(HEAD_AXES, None, 0.0, front=True), pt.skin, label=1)
    pt.canvas.polygon(convex_hull(pt.proj(pt.p[hull_candidates()])), pt.skin, label=1)


def hair_front(pt: Painter) -> None:
    """The hair cap in front of the head: label 10."""
    if pt.t.bald:
        return
    region = pt.ellipsoid_region(HEAD_AXES * 1.07, *pt.hair_cap, front=True)
    pt.canvas.polygon(_wavy(pt, region), pt.hair, label=10)


def sideburns(pt: Painter) -> None:
    """Hair strips in front of the ears, on the sides that face the camera: label 10."""
    if not pt.t.sideburns or pt.t.bald:
        return
    for sign, idx in ((-1, [0, 1, 2]), (1, [16, 15, 14])):
        if pt.proj.facing(np.array([sign, 0.0, -0.3]))[0] < 0.0:
            continue
        pts = pt.p[idx]
        back = pts[::-1] + (sign * 2, 0, 14)
        pt.canvas.polygon(pt.proj(np.concatenate([pts, back])), pt.hair, label=10)


def bangs(pt: Painter) -> None:
    """A fringe across the forehead down to about the brows; label 10, occluding."""
    t = pt.t
    if not t.bangs or t.bald:
        return
    xs = np.linspace(-62, 62, 13)
    bottom_y = pt.p[17:27, 1].min() + pt.rng.uniform(-6, 5) + 3 * np.sin(np.arange(13) * 2.1)
    top = pt.forehead(xs, np.full(13, pt.hairline_y - 6), grow=1.08)
    bottom = pt.forehead(xs[::-1], bottom_y[::-1], grow=1.08)
    pt.canvas.polygon(pt.proj(np.concatenate([top, bottom])), shade(pt.hair, 1.05), label=10, occludes=True)
