"""Paint one synthetic face (painter's algorithm, back to front) and its parsing labels.

Parsing (LaPa order): 1 skin = head and face; 2/4 = brow/eye on the IMAGE's left (iBUG 17-21 / 36-41, the
subject's right); 3/5 = image-right brow/eye; 6 nose = convex hull of the nose points; 7/8/9 = upper lip /
inner mouth (teeth included) / lower lip; 10 hair (cap, bangs, long hair, sideburns). Background 0 also covers
the neck, torso, hat and occluders; clear glasses keep the labels underneath, dark lenses relabel as skin.
Beards keep skin. Parts whose surface normal faces away from the camera (far eye/brow at large yaw) are not
drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facexformer.data.synthetic.canvas import Canvas, convex_hull, ellipse
from facexformer.data.synthetic.face_model import (
    HEAD_AXES,
    HEAD_CENTRE,
    cap_outline,
    deform,
    hull_candidates,
    pose_rotation,
    vertex_normals,
)
from facexformer.data.synthetic.traits import HAIR_COLOURS, Traits

_MEAN_FACE_HEIGHT = 140.0  # mm, brow top to chin of the mean face
_WRINKLE_X = np.linspace(-30.0, 30.0, 7)
_WAVE_STEPS = np.array([0.0, 0.25, 0.5, 0.75])
_OCCLUDER_COLOURS = np.array([[230, 230, 235], [150, 190, 225], [40, 40, 45], [200, 60, 50], [60, 120, 70]])


@dataclass
class Rendered:
    """A rendered face: image (S, S, 3) uint8, parsing (S, S) uint8, occluder mask (S, S) bool, the deformed
    face-frame points ``face`` (68, 3) mm, their pixels ``landmarks`` (68, 2) and the projection used."""

    image: np.ndarray
    parsing: np.ndarray
    occluders: np.ndarray
    face: np.ndarray
    landmarks: np.ndarray
    projection: Projection
    earrings_drawn: bool


class Projection:
    """Weak perspective: pixels = scale · (R p)[:2] + offset; depth = scale · (R p)[2] (larger = farther)."""

    def __init__(self, rotation: np.ndarray, scale: float, offset: np.ndarray) -> None:
        self.rotation, self.scale, self.offset = rotation, scale, offset

    def camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) face frame -> (N, 3) camera: pixel x, pixel y, depth."""
        cam = points @ self.rotation.T * self.scale
        cam[:, :2] += self.offset
        return cam

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return self.camera(np.atleast_2d(points))[:, :2]

    def facing(self, normals: np.ndarray) -> np.ndarray:
        """Cosine between face-frame normals (N, 3) and the direction towards the camera."""
        return -(np.atleast_2d(normals) @ self.rotation.T)[:, 2]


def _shade(rgb: np.ndarray, k: float) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float64) * k


def _mix(a, b, t: float) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) * (1 - t) + np.asarray(b, dtype=np.float64) * t


class _Painter:
    def __init__(self, traits: Traits, size: int, rng: np.random.Generator) -> None:
        self.t, self.size, self.rng = traits, size, rng
        self.p = deform(traits)
        self.normals = vertex_normals(self.p)
        scale = traits.face_height * size / _MEAN_FACE_HEIGHT
        self.proj = Projection(pose_rotation(traits.pose), scale, size * (0.5 + traits.centre))
        self.px = scale / 224.0 * 2.4  # ~1 px line width at 224 for a medium face
        self.skin = traits.skin * (0.97 + 0.03 * rng.random())
        self.hair = np.array(HAIR_COLOURS.get(traits.hair, (60, 50, 45)), dtype=np.float64)
        self.canvas = Canvas(size, rng.uniform(20, 235, 3))
        self.earrings_drawn = False

    # -- helpers ---------------------------------------------------------------------------------------------
    def facing(self, index: list[int] | slice) -> float:
        return float(self.proj.facing(self.normals[index].mean(axis=0))[0])

    def ellipsoid_region(self, axes: np.ndarray, n: np.ndarray | None, d: float, front: bool) -> np.ndarray:
        """Pixels outlining the front (or back) part of the head-centred ellipsoid inside a cap."""
        w = self.proj.rotation[2] / axes * (1.0 if front else -1.0)
        sphere = cap_outline(w, n, d)
        return self.proj(HEAD_CENTRE + sphere * axes) if len(sphere) else sphere[:, :2]

    @staticmethod
    def cap_plane(front_y: float, back_y: float) -> tuple[np.ndarray, float]:
        """Cap axis and offset through the sphere points (0, front_y, -..) and (0, back_y, +..), top side."""
        f = np.array([0.0, front_y, -np.sqrt(1 - front_y**2)])
        b = np.array([0.0, back_y, np.sqrt(1 - back_y**2)])
        chord = f - b
        n = np.array([0.0, chord[2], -chord[1]]) / np.hypot(chord[1], chord[2])  # x-axis cross chord
        if n[1] > 0:
            n = -n
        return n, float(n @ f)

    def forehead(self, xs: np.ndarray, ys: np.ndarray, grow: float = 1.0) -> np.ndarray:
        """Face-frame points on the front of the (grown) head ellipsoid at the given x, y (mm)."""
        axes = HEAD_AXES * grow
        r = 1 - (xs / axes[0]) ** 2 - ((ys - HEAD_CENTRE[1]) / axes[1]) ** 2
        zs = HEAD_CENTRE[2] - axes[2] * np.sqrt(np.clip(r, 0.0, 1.0))
        return np.stack([xs, ys, zs], axis=1)

    # -- parts -----------------------------------------------------------------------------------------------
    def background(self) -> None:
        c, rng, s = self.canvas, self.rng, self.size
        for _ in range(int(rng.integers(2, 7))):
            centre = rng.uniform(0, s, 2)
            axes = rng.uniform(0.1, 0.6, 2) * s
            shape = ellipse(centre, axes, rng.uniform(0, np.pi), samples=int(rng.choice([4, 16])))
            c.polygon(shape, rng.uniform(20, 235, 3))

    def body(self) -> None:
        p, c = self.proj, self.canvas
        top, bottom = p(np.array([[0.0, 50.0, 70.0], [0.0, 230.0, 70.0]]))
        axis = bottom - top
        across = np.array([-axis[1], axis[0]]) / max(np.linalg.norm(axis), 1e-6) * 52 * p.scale
        shirt = self.rng.uniform(20, 235, 3)
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
            _shade(self.skin, 0.82),
            label=0,
        )

    def hair_back(self) -> None:
        t = self.t
        if t.hat:
            n, d = self.cap_plane(-0.5, -0.1)
            self.canvas.polygon(
                self.ellipsoid_region(HEAD_AXES * 1.12, n, d, front=False), self.hat_colour, label=0
            )
        if t.bald:
            return
        colour = _shade(self.hair, 0.8)
        if t.long_hair:
            length = self.rng.uniform(120, 200)
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
            self.canvas.polygon(self._wavy(self.proj(curtain)), colour, label=10)
        self.canvas.polygon(
            self._wavy(self.ellipsoid_region(HEAD_AXES * 1.07, *self.hair_cap, front=False)), colour, label=10
        )

    def _wavy(self, outline: np.ndarray) -> np.ndarray:
        if not self.t.wavy or len(outline) < 3:
            return outline
        step = np.roll(outline, -1, axis=0) - outline
        dense = (outline[:, None, :] + step[:, None, :] * _WAVE_STEPS[None, :, None]).reshape(-1, 2)
        centre = dense.mean(axis=0)
        return centre + (dense - centre) * (1.0 + 0.03 * np.sin(np.arange(len(dense)) * 1.3))[:, None]

    def head(self) -> None:
        self.canvas.polygon(self.ellipsoid_region(HEAD_AXES, None, 0.0, front=True), self.skin, label=1)
        self.canvas.polygon(convex_hull(self.proj(self.p[hull_candidates()])), self.skin, label=1)

    def skin_marks(self) -> None:
        t, c, pr = self.t, self.canvas, self.proj
        line = _shade(self.skin, 0.72)
        brow_top = self.p[17:27, 1].min()
        for k in range(int(np.clip((t.age - 28) / 11, 0, 4))):
            c.line(
                pr(self.forehead(_WRINKLE_X, brow_top - 9 - 6 * k - 1.5 * np.cos(_WRINKLE_X / 20))),
                line,
                self.px,
            )
        if t.age > 45:
            for sign, ala, corner in ((-1, 31, 48), (1, 35, 54)):
                pts = np.array(
                    [
                        self.p[ala] + (sign * 5, -1, 4),
                        self.p[ala] + (sign * 9, 12, 4),
                        self.p[corner] + (sign * 5, 4, -2),
                    ]
                )
                c.line(pr(pts), line, self.px)
        if t.age > 55:
            for sign, corner in ((-1, 36), (1, 45)):
                for dy in (-3.0, 0.0, 3.0):
                    c.line(
                        pr(
                            np.array(
                                [self.p[corner] + (sign * 3, 0, 0), self.p[corner] + (sign * 10, dy * 2, 4)]
                            )
                        ),
                        line,
                        self.px,
                    )
        if t.bags:
            for lo in (36, 42):
                c.line(
                    pr(self.p[[lo, lo + 5, lo + 4, lo + 3]] + (0, 4.5, 0)),
                    _shade(self.skin, 0.78),
                    self.px * 1.2,
                )
        if t.double_chin:
            c.line(pr(self.p[5:12] + (0, 7, 8)), _shade(self.skin, 0.75), self.px)
        if t.rosy:
            for x in (-38.0, 38.0):
                centre = np.array([x, 8.0, -8.0])
                if self.proj.facing(np.array([x / 60, 0, -1]))[0] > 0.2:
                    ring = np.concatenate([ellipse(centre[:2], (10, 7)), np.full((20, 1), centre[2])], axis=1)
                    c.polygon(pr(ring), _mix(self.skin, (225, 80, 95), 0.3))

    def beard(self) -> None:
        t, c, pr, p = self.t, self.canvas, self.proj, self.p
        if t.beard == "none":
            return
        beard = self.hair if t.hair != "none" else np.array([70.0, 55.0, 45.0])
        area = np.concatenate(
            [p[2:15] + (0, 3, 0), (p[54] + (12, -9, 2))[None], (p[48] + (-12, -9, 2))[None]]
        )
        if t.beard in ("stubble", "full"):
            c.polygon(pr(area), _mix(self.skin, beard, 0.35 if t.beard == "stubble" else 1.0))
        if t.beard == "goatee":
            chin = np.concatenate([p[[59, 58, 57, 56, 55]] + (0, 1.5, 0), p[[9, 8, 7]] + (0, 4, 0)])
            c.polygon(pr(chin), beard)

    def mustache(self) -> None:
        t, p = self.t, self.p
        if t.beard not in ("mustache", "full"):
            return
        beard = self.hair if t.hair != "none" else np.array([70.0, 55.0, 45.0])
        top = p[[31, 32, 33, 34, 35]] + (0, 2, 0)
        bottom = np.concatenate(
            [(p[54] + (3, 2, 0))[None], p[[53, 52, 51, 50, 49]] + (0, -1, 0), (p[48] + (-3, 2, 0))[None]]
        )
        self.canvas.polygon(convex_hull(self.proj(np.concatenate([top, bottom]))), beard)

    def sideburns(self) -> None:
        if not self.t.sideburns or self.t.bald:
            return
        for sign, idx in ((-1, [0, 1, 2]), (1, [16, 15, 14])):
            if self.proj.facing(np.array([sign, 0.0, -0.3]))[0] < 0.0:
                continue
            pts = self.p[idx]
            back = pts[::-1] + (sign * 2, 0, 14)
            self.canvas.polygon(self.proj(np.concatenate([pts, back])), self.hair, label=10)

    def hair_front(self) -> None:
        if self.t.bald:
            return
        region = self.ellipsoid_region(HEAD_AXES * 1.07, *self.hair_cap, front=True)
        self.canvas.polygon(self._wavy(region), self.hair, label=10)

    def brows(self) -> None:
        t = self.t
        colour = _mix(self.hair if t.hair not in ("none", "blond") else (80, 60, 45), (20, 15, 10), 0.35)
        if t.hair == "gray":
            colour = _mix(colour, (150, 150, 150), 0.6)
        for idx, label, taper in (
            (list(range(17, 22)), 2, np.linspace(0.5, 1.0, 5)),
            (list(range(22, 27)), 3, np.linspace(1.0, 0.5, 5)),
        ):
            if self.facing(idx) < 0.1:
                continue
            pts = self.p[idx]
            half = np.zeros_like(pts)
            half[:, 1] = t.brow_thick / 2 * taper
            self.canvas.polygon(
                self.proj(np.concatenate([pts - half, (pts + half)[::-1]])), colour, label=label
            )

    def eyes(self) -> None:
        t, c = self.t, self.canvas
        iris_colour = self.rng.choice(np.array([[60, 40, 25], [90, 60, 30], [70, 110, 150], [80, 110, 70]]))
        gaze = self.rng.normal(0, 1.5, 2)
        for lo, label in ((36, 4), (42, 5)):
            idx = list(range(lo, lo + 6))
            if self.facing(idx) < 0.2:
                continue
            eye = self.p[idx]
            upper, lower = eye[[0, 1, 2, 3]], eye[[0, 5, 4, 3]]
            if t.eyeshadow:
                lid = np.concatenate([upper, (upper + (0, -6, -1))[::-1]])
                c.polygon(self.proj(lid), _mix(self.skin, (120, 70, 110), 0.45))
            if t.eye_open > 0.05:
                c.polygon(self.proj(eye), (236, 234, 228), label=label)
                centre = eye.mean(axis=0)[:2] + gaze
                for radius, colour in ((5.8, iris_colour), (2.4, (15, 12, 12))):
                    c.polygon(
                        self.proj(
                            self._in_lids(
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
                c.line(self.proj(lower), (40, 30, 30), self.px, label=label)
            c.line(self.proj(upper), (30, 22, 20), self.px * (1.6 if t.eyeshadow else 1.1))

    @staticmethod
    def _in_lids(circle: np.ndarray, upper: np.ndarray, lower: np.ndarray, centre_z: float) -> np.ndarray:
        xs = np.clip(circle[:, 0], upper[0, 0], upper[-1, 0])
        top = np.interp(xs, upper[:, 0], upper[:, 1])
        bottom = np.interp(xs, lower[:, 0], lower[:, 1])
        ys = np.clip(circle[:, 1], top, bottom)
        return np.stack([xs, ys, np.full(len(xs), centre_z)], axis=1)

    def mouth(self) -> None:
        t, c, p = self.t, self.canvas, self.p
        lips = _mix(self.skin, (190, 80, 85), 0.35)
        if t.lipstick:
            lips = self.rng.choice(np.array([[190, 20, 40], [200, 60, 110], [130, 20, 40]])).astype(
                np.float64
            )
        inner = p[[60, 61, 62, 63, 64, 65, 66, 67]]
        if t.mouth_open > 1.0:
            c.polygon(self.proj(inner), (80, 25, 30), label=8)
            if t.smile > 0.3 or t.expression in (3, 4):
                upper = p[[60, 61, 62, 63, 64]]
                teeth = np.concatenate([upper, (upper + (0, min(0.45 * t.mouth_open, 4.5), 0))[::-1]])
                c.polygon(self.proj(teeth), (236, 232, 220), label=8)
        c.polygon(self.proj(p[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]), _shade(lips, 0.92), label=7)
        c.polygon(self.proj(p[[54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]]), lips, label=9)
        c.line(self.proj(p[[60, 61, 62, 63, 64]]), _shade(lips, 0.55), self.px * 0.8)

    def nose(self) -> None:
        p, c = self.p, self.canvas
        extra = np.array([p[31] + (-3, -3, 7), p[35] + (3, -3, 7), p[27] + (-6, 0, 5), p[27] + (6, 0, 5)])
        pts = self.proj(np.concatenate([p[27:36], extra]))
        c.polygon(convex_hull(pts), _shade(self.skin, 0.97), label=6)
        side = [27, 28, 29, 30, 31] if self.t.pose[1] > 0 else [27, 28, 29, 30, 35]
        c.polygon(convex_hull(self.proj(p[side])), _shade(self.skin, 0.86))
        if self.facing([31, 32, 33, 34, 35]) > 0.3:
            for idx in (32, 34):
                ring = np.concatenate(
                    [ellipse(p[idx, :2] + (0, -1.2), (2.6, 1.3)), np.full((20, 1), p[idx, 2])], axis=1
                )
                c.polygon(self.proj(ring), _shade(self.skin, 0.35))

    def bangs(self) -> None:
        t = self.t
        if not t.bangs or t.bald:
            return
        xs = np.linspace(-62, 62, 13)
        bottom_y = self.p[17:27, 1].min() + self.rng.uniform(-6, 5) + 3 * np.sin(np.arange(13) * 2.1)
        top = self.forehead(xs, np.full(13, self.hairline_y - 6), grow=1.08)
        bottom = self.forehead(xs[::-1], bottom_y[::-1], grow=1.08)
        self.canvas.polygon(
            self.proj(np.concatenate([top, bottom])), _shade(self.hair, 1.05), label=10, occludes=True
        )

    def earrings(self) -> None:
        if not self.t.earrings:
            return
        colour = self.rng.choice(np.array([[218, 180, 60], [200, 200, 210]]))
        for x in (-78.0, 78.0):
            if self.proj.facing(np.array([np.sign(x), 0.0, -0.4]))[0] < 0.05:
                continue
            ring = np.concatenate(
                [ellipse(np.array([x, 12.0]), (3.0, 4.5), samples=10), np.full((10, 1), 50.0)], axis=1
            )
            self.canvas.polygon(self.proj(ring), colour)
            self.earrings_drawn = True

    def glasses(self) -> None:
        t, c = self.t, self.canvas
        if t.glasses == "none":
            return
        frame = self.rng.choice(np.array([[20, 20, 20], [90, 60, 30], [170, 170, 180]]))
        sun = t.glasses == "sun"
        lenses = []
        for lo in (36, 42):
            centre = self.p[lo : lo + 6].mean(axis=0) + (0, 2, -9)
            ring = ellipse(centre[:2], (19, 14), samples=20)
            lens = np.concatenate([ring, np.full((20, 1), centre[2])], axis=1)
            lenses.append(lens)
            pts = self.proj(lens)
            if sun:
                c.polygon(pts, (28, 28, 34), label=1, occludes=True)
            c.line(np.concatenate([pts, pts[:1]]), frame, self.px * 1.3)
        c.line(self.proj(np.array([lenses[0][0], lenses[1][10]])), frame, self.px * 1.2)
        for lens, sign in ((lenses[0], -1), (lenses[1], 1)):
            if self.proj.facing(np.array([sign, 0.0, -0.3]))[0] > 0:
                arm = np.array([lens[10] if sign < 0 else lens[0], (sign * 76.0, -38.0, 40.0)])
                c.line(self.proj(arm), frame, self.px * 1.2)

    def hat(self) -> None:
        if not self.t.hat:
            return
        n, d = self.cap_plane(-0.5, -0.1)
        self.canvas.polygon(
            self.ellipsoid_region(HEAD_AXES * 1.12, n, d, front=True), self.hat_colour, label=0, occludes=True
        )

    def occluder(self) -> None:
        kind, rng, c, p = self.t.occluder, self.rng, self.canvas, self.p
        colour = _OCCLUDER_COLOURS[rng.integers(len(_OCCLUDER_COLOURS))]
        if kind == "mask":
            top = np.array([p[1], p[41] + (0, 13, -8), p[29] + (0, 0, -2), p[46] + (0, 13, -8), p[15]])
            c.polygon(
                self.proj(np.concatenate([top, p[14:1:-1] + (0, 4, 0)])), colour, label=0, occludes=True
            )
        elif kind == "bars":
            lm = self.proj(p)
            for _ in range(int(rng.integers(1, 3))):
                centre = lm[rng.integers(68)]
                width = rng.uniform(0.06, 0.12) * self.t.face_height * self.size
                bar = ellipse(centre, (self.size * 1.5, width / 2), rng.uniform(0, np.pi), samples=4)
                c.polygon(bar, colour, label=0, occludes=True)
        elif kind == "hand":
            lm = self.proj(p)
            centre = lm[rng.choice([30, 57, 39, 42, 8, 3, 13])] + rng.normal(0, 0.05, 2) * self.size
            unit = self.t.face_height * self.size / 140.0
            angle = rng.uniform(0, 2 * np.pi)
            hand = _mix(self.skin, _OCCLUDER_COLOURS[0], 0.1) if rng.random() < 0.5 else self.t.skin * 0.9
            c.polygon(ellipse(centre, (26 * unit, 32 * unit), angle), hand, label=0, occludes=True)
            direction = np.array([np.sin(angle), -np.cos(angle)])
            for k in range(4):
                offset = (k - 1.5) * 12 * unit * np.array([np.cos(angle), np.sin(angle)])
                base = centre + offset + direction * 20 * unit
                finger = ellipse(base + direction * 22 * unit, (5 * unit, 24 * unit), angle, samples=12)
                c.polygon(finger, hand, label=0, occludes=True)

    # -- all -------------------------------------------------------------------------------------------------
    def paint(self) -> Rendered:
        t = self.t
        self.hairline_y = -118.0 if t.receding else -100.0
        front_y = (self.hairline_y - HEAD_CENTRE[1]) / (HEAD_AXES[1] * 1.07)
        self.hair_cap = self.cap_plane(front_y, 0.3)
        self.hat_colour = self.rng.uniform(20, 235, 3)
        for step in (
            self.background,
            self.body,
            self.hair_back,
            self.head,
            self.skin_marks,
            self.beard,
            self.sideburns,
            self.hair_front,
            self.brows,
            self.eyes,
            self.mustache,
            self.mouth,
            self.nose,
            self.bangs,
            self.earrings,
            self.glasses,
            self.hat,
            self.occluder,
        ):
            step()
        light = np.array([self.rng.uniform(0.0, 0.6), *self._light_direction()])
        image, parsing, occluders = self.canvas.finish(light, t.blur * self.size / 224.0)
        return Rendered(image, parsing, occluders, self.p, self.proj(self.p), self.proj, self.earrings_drawn)

    def _light_direction(self) -> np.ndarray:
        angle = self.rng.uniform(0, 2 * np.pi)
        return np.array([np.cos(angle), np.sin(angle)])


def render(traits: Traits, size: int, rng: np.random.Generator) -> Rendered:
    """Render ``traits`` at ``size`` x ``size`` pixels; ``rng`` draws colours and small details."""
    return _Painter(traits, size, rng).paint()
