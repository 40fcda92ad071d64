"""Labels of a rendered synthetic face: COFW-29 visibility, CelebA attributes, age group.

COFW 29-point order (checked against the real COFW test faces in the reference samples; "left" = image left):
0/1 brow outer ends (left/right), 2/3 brow inner ends, 4/5 left brow top/bottom middle, 6/7 right brow
top/bottom middle, 8/9 outer eye corners, 10/11 inner eye corners, 12/13 left eye upper/lower lid middle,
14/15 right eye upper/lower lid middle, 16/17 pupils, 18/19 nose wings, 20 nose tip, 21 nose base, 22/23 mouth
corners, 24 upper lip top, 25 upper lip bottom, 26 lower lip top, 27 lower lip bottom, 28 chin. Mapping from
iBUG-68 (``_COFW_FROM_68``; brow bottoms are the brow point moved down by the brow thickness): 0←17, 1←26,
2←21, 3←22, 4/5←19, 6/7←24, 8←36, 9←45, 10←39, 11←42, 12←mean(37,38), 13←mean(40,41), 14←mean(43,44),
15←mean(46,47), 16←mean(36..41), 17←mean(42..47), 18←31, 19←35, 20←30, 21←33, 22←48, 23←54, 24←51, 25←62,
26←66, 27←57, 28←8.

A COFW point is occluded (1) when it lies under an occluder mask pixel (hand, face mask, bars, dark lenses,
bangs, hat), or is hidden by the face itself: its surface normal faces away from the camera, or a triangle of
the 68-point face mesh lies in front of it (more than 3 mm nearer). Points outside the image follow the same
rules.
"""

from __future__ import annotations

import numpy as np

from facexformer.data.synthetic.face_model import face_triangles, vertex_normals
from facexformer.data.synthetic.render import Rendered
from facexformer.data.synthetic.traits import Traits

_COFW_FROM_68: tuple[tuple[int, ...], ...] = (
    (17,),
    (26,),
    (21,),
    (22,),
    (19,),
    (19,),
    (24,),
    (24,),
    (36,),
    (45,),
    (39,),
    (42,),
    (37, 38),
    (40, 41),
    (43, 44),
    (46, 47),
    tuple(range(36, 42)),
    tuple(range(42, 48)),
    (31,),
    (35,),
    (30,),
    (33,),
    (48,),
    (54,),
    (51,),
    (62,),
    (66,),
    (57,),
    (8,),
)
_BROW_TOP, _BROW_BOTTOM = (4, 6), (5, 7)
_COFW_MATRIX = np.zeros((29, 68))
for _row, _cols in enumerate(_COFW_FROM_68):
    _COFW_MATRIX[_row, list(_cols)] = 1.0 / len(_cols)

ATTRIBUTE_COUNT = 40


def cofw_points(face: np.ndarray, brow_thick: float) -> np.ndarray:
    """(29, 3) face-frame COFW points from the (68, 3) deformed face."""
    pts = _COFW_MATRIX @ face
    pts[list(_BROW_TOP), 1] -= brow_thick / 2
    pts[list(_BROW_BOTTOM), 1] += brow_thick / 2
    return pts


def visibility(rendered: Rendered, traits: Traits) -> np.ndarray:
    """(29,) float32 COFW occlusion flags, 1 = occluded (rules in the module docstring)."""
    proj = rendered.projection
    points = cofw_points(rendered.face, traits.brow_thick)
    normals = _COFW_MATRIX @ vertex_normals(rendered.face)
    hidden = proj.facing(normals) < 0.0
    cam = proj.camera(points)
    hidden |= _behind_mesh(cam, proj.camera(rendered.face), margin=3.0 * proj.scale)
    size = rendered.occluders.shape[0]
    ij = np.round(cam[:, :2]).astype(int)
    inside = ((ij >= 0) & (ij < size)).all(axis=1)
    covered = np.zeros(29, dtype=bool)
    covered[inside] = rendered.occluders[ij[inside, 1], ij[inside, 0]]
    return (hidden | covered).astype(np.float32)


def _behind_mesh(query: np.ndarray, vertices: np.ndarray, margin: float) -> np.ndarray:
    """(Q,) True where a mesh triangle covers the query's pixel position and is nearer by more than margin."""
    tri = vertices[face_triangles()]  # (T, 3, 3)
    a, b, c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
    v0, v1 = b - a, c - a
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    ok = np.abs(det) > 1e-9
    rel = query[:, None, :2] - a[None]  # (Q, T, 2)
    u = (rel[..., 0] * v1[:, 1] - rel[..., 1] * v1[:, 0]) / np.where(ok, det, 1.0)
    v = (v0[:, 0] * rel[..., 1] - v0[:, 1] * rel[..., 0]) / np.where(ok, det, 1.0)
    inside = ok & (u >= 0) & (v >= 0) & (u + v <= 1)
    depth = (
        tri[None, :, 0, 2]
        + u * (tri[None, :, 1, 2] - tri[None, :, 0, 2])
        + v * (tri[None, :, 2, 2] - tri[None, :, 0, 2])
    )
    return (inside & (depth < query[:, None, 2] - margin)).any(axis=1)


def attributes(traits: Traits, rendered: Rendered) -> np.ndarray:
    """(40,) float32 CelebA attributes in file order, each following a drawn cue.

    Constant 0 (no cue drawn): 2 Attractive, 37 Wearing_Necklace, 38 Wearing_Necktie. 19 High_Cheekbones
    follows
    Smiling (the smile raises the cheeks' corners; in CelebA the two co-occur). 39 Young = age < 35.
    """
    t = traits
    a = np.zeros(ATTRIBUTE_COUNT, dtype=np.float32)
    hair = t.hair
    smiling = t.smile > 0.3
    values = {
        0: t.beard == "stubble",
        1: t.brow_arch > 3.0,
        3: t.bags,
        4: hair == "none",
        5: t.bangs,
        6: t.lip_scale > 1.2,
        7: t.nose_scale > 1.12,
        8: hair == "black",
        9: hair == "blond",
        10: t.blur > 0,
        11: hair == "brown",
        12: t.brow_thick > 6.0,
        13: t.face_shape == "round",
        14: t.double_chin,
        15: t.glasses != "none",
        16: t.beard in ("goatee", "full"),
        17: hair == "gray",
        18: t.lipstick and t.eyeshadow,
        19: smiling,
        20: t.gender == 0,
        21: t.mouth_open > 2.5,
        22: t.beard in ("mustache", "full"),
        23: t.eye_open < 0.55,
        24: t.beard in ("none", "stubble"),
        25: t.face_shape == "oval",
        26: t.skin_tone == 0,
        27: t.nose_point > 4.0,
        28: t.receding,
        29: t.rosy,
        30: t.sideburns and hair != "none",
        31: smiling,
        32: hair != "none" and not t.wavy,
        33: hair != "none" and t.wavy,
        34: rendered.earrings_drawn,
        35: t.hat,
        36: t.lipstick,
        39: t.age < 35,
    }
    for index, value in values.items():
        a[index] = float(value)
    return a
