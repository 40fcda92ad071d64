"""Painting steps for what a synthetic face wears or is hidden by: earrings, glasses, hat, occluders."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facexformer.data.synthetic.canvas import ellipse, mix
from facexformer.data.synthetic.face_model import HEAD_AXES

if TYPE_CHECKING:
    from facexformer.data.synthetic.render import Painter


_OCCLUDER_COLOURS = np.array([[230, 230, 235], [150, 190, 225], [40, 40, 45], [200, 60, 50], [60, 120, 70]])


def earrings(pt: Painter) -> None:
    """Small rings at the ears that face the camera; sets ``pt.earrings_drawn``."""
    if not pt.t.earrings:
        return
    colour = pt.rng.choice(np.array([[218, 180, 60], [200, 200, 210]]))
    for x in (-78.0, 78.0):
        if pt.proj.facing(np.array([np.sign(x), 0.0, -0.4]))[0] < 0.05:
            continue
        ring = np.concatenate([ellipse(np.array([x, 12.0]), (3.0, 4.5), samples=10), np.full((10, 1), 50.0)], axis=1)
        pt.canvas.polygon(pt.proj(ring), colour)
        pt.earrings_drawn = True


def glasses(pt: Painter) -> None:
    """Frames and arms; sunglasses also paint dark lenses labelled skin (occluding)."""
    t, c = pt.t, pt.canvas
    if t.glasses == "none":
        return
    frame = pt.rng.choice(np.array([[20, 20, 20], [90, 60, 30], [170, 170, 180]]))
    sun = t.glasses == "sun"
    lenses = []
    for lo in (36, 42):
        centre = pt.p[lo : lo + 6].mean(axis=0) + (0, 2, -9)
        ring = ellipse(centre[:2], (19, 14), samples=20)
        lens = np.concatenate([ring, np.full((20, 1), centre[2])], axis=1)
        lenses.append(lens)
        pts = pt.proj(lens)
        if sun:
            c.polygon(pts, (28, 28, 34), label=1, occludes=True)
        c.line(np.concatenate([pts, pts[:1]]), frame, pt.px * 1.3)
    c.line(pt.proj(np.array([lenses[0][0], lenses[1][10]])), frame, pt.px * 1.2)
    for lens, sign in ((lenses[0], -1), (lenses[1], 1)):
        if pt.proj.facing(np.array([sign, 0.0, -0.3]))[0] > 0:
            arm = np.array([lens[10] if sign < 0 else lens[0], (sign * 76.0, -38.0, 40.0)])
            c.line(pt.proj(arm), frame, pt.px * 1.2)


def hat(pt: Painter) -> None:
    """The front of the hat over the head: background, occluding."""
    if not pt.t.hat:
        return
    n, d = pt.cap_plane(-0.5, -0.1)
    pt.canvas.polygon(pt.ellipsoid_region(HEAD_AXES * 1.12, n, d, front=True), pt.hat_colour, label=0, occludes=True)


def occluder(pt: Painter) -> None:
    """The trait's occluder (a mask, bars or a hand) on top of the face: background, occluding."""
    kind, rng, c, p = pt.t.occluder, pt.rng, pt.canvas, pt.p
    colour = _OCCLUDER_COLOURS[rng.integers(len(_OCCLUDER_COLOURS))]
    if kind == "mask":
        top = np.array([p[1], p[41] + (0, 13, -8), p[29] + (0, 0, -2), p[46] + (0, 13, -8), p[15]])
        c.polygon(pt.proj(np.concatenate([top, p[14:1:-1] + (0, 4, 0)])), colour, label=0, occludes=True)
    elif kind == "bars":
        lm = pt.proj(p)
        for _ in range(int(rng.integers(1, 3))):
            centre = lm[rng.integers(68)]
            width = rng.uniform(0.06, 0.12) * pt.t.face_height * pt.size
            bar = ellipse(centre, (pt.size * 1.5, width / 2), rng.uniform(0, np.pi), samples=4)
            c.polygon(bar, colour, label=0, occludes=True)
    elif kind == "hand":
        lm = pt.proj(p)
        centre = lm[rng.choice([30, 57, 39, 42, 8, 3, 13])] + rng.normal(0, 0.05, 2) * pt.size
        unit = pt.t.face_height * pt.size / 140.0
        angle = rng.uniform(0, 2 * np.pi)
        hand = mix(pt.skin, _OCCLUDER_COLOURS[0], 0.1) if rng.random() < 0.5 else pt.t.skin * 0.9
        c.polygon(ellipse(centre, (26 * unit, 32 * unit), angle), hand, label=0, occludes=True)
        direction = np.array([np.sin(angle), -np.cos(angle)])
        for k in range(4):
            offset = (k - 1.5) * 12 * unit * np.array([np.cos(angle), np.sin(angle)])
            base = centre + offset + direction * 20 * unit
            finger = ellipse(base + direction * 22 * unit, (5 * unit, 24 * unit), angle, samples=12)
            c.polygon(finger, hand, label=0, occludes=True)
