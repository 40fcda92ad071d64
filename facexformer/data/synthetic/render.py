"""Paint one synthetic face (painter's algorithm, back to front) and its parsing labels.

Parsing (LaPa order): 1 skin = head and face; 2/4 = brow/eye on the IMAGE's left (iBUG 17-21 / 36-41, the
subject's right); 3/5 = image-right brow/eye; 6 nose = convex hull of the nose points; 7/8/9 = upper lip /
inner mouth (teeth included) / lower lip; 10 hair (cap, bangs, long hair, sideburns). Background 0 also covers
the neck, torso, hat and occluders; clear glasses keep the labels underneath, dark lenses relabel as skin.
Beards keep skin. Parts whose surface normal faces away from the camera (far eye/brow at large yaw) are not
drawn.

This file holds the projection, the painter's state and the paint order; the steps themselves are in
``paint_head.py`` (background, body, head, hair), ``paint_features.py`` (skin marks, beard, brows, eyes,
mouth, nose) and ``paint_accessories.py`` (earrings, glasses, hat, occluders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facexformer.data.synthetic.canvas import Canvas
from facexformer.data.synthetic.face_model import (
    HEAD_AXES,
    HEAD_CENTRE,
    cap_outline,
    deform,
    pose_rotation,
    vertex_normals,
)
from facexformer.data.synthetic.paint_accessories import earrings, glasses, hat, occluder
from facexformer.data.synthetic.paint_features import beard, brows, eyes, mouth, mustache, nose, skin_marks
from facexformer.data.synthetic.paint_head import background, bangs, body, hair_back, hair_front, head, sideburns
from facexformer.data.synthetic.traits import HAIR_COLOURS, Traits

_MEAN_FACE_HEIGHT = 140.0  # mm, brow top to chin of the mean face


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


class Painter:
    """The state one face is painted with: traits, deformed points ``p`` (68, 3) mm, projection, canvas."""

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
        """Cosine between the mean normal of the face points ``index`` and the direction to the camera."""
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

    # -- all -------------------------------------------------------------------------------------------------
    def paint(self) -> Rendered:
        t = self.t
        self.hairline_y = -118.0 if t.receding else -100.0
        front_y = (self.hairline_y - HEAD_CENTRE[1]) / (HEAD_AXES[1] * 1.07)
        self.hair_cap = self.cap_plane(front_y, 0.3)
        self.hat_colour = self.rng.uniform(20, 235, 3)
        for step in (
            background,
            body,
            hair_back,
            head,
            skin_marks,
            beard,
            sideburns,
            hair_front,
            brows,
            eyes,
            mustache,
            mouth,
            nose,
            bangs,
            earrings,
            glasses,
            hat,
            occluder,
        ):
            step(self)
        light = np.array([self.rng.uniform(0.0, 0.6), *self._light_direction()])
        image, parsing, occluders = self.canvas.finish(light, t.blur * self.size / 224.0)
        return Rendered(image, parsing, occluders, self.p, self.proj(self.p), self.proj, self.earrings_drawn)

    def _light_direction(self) -> np.ndarray:
        angle = self.rng.uniform(0, 2 * np.pi)
        return np.array([np.cos(angle), np.sin(angle)])


def render(traits: Traits, size: int, rng: np.random.Generator) -> Rendered:
    """Render ``traits`` at ``size`` x ``size`` pixels; ``rng`` draws colours and small details."""
    return Painter(traits, size, rng).paint()
