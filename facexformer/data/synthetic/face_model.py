"""The 3D face: the packaged 68-point mean face, its deformations, the head ellipsoid and the pose.

Face frame (the mean face's own, see ``facexformer/assets/README.md``): x = image right (subject's left), y =
down, z = away from the camera, units ≈ mm.

Pose convention. Labels are 300W-LP ``Pose_Para`` angles (pitch, yaw, roll). 3DDFA (which made 300W-LP) turns
its y-up, z-toward-viewer model by ``Rx(-pitch) Ry(-yaw) Rz(-roll)`` = ``euler_to_matrix(angles).T`` and then
flips image rows. In the y-down face frame here that is ``F euler_to_matrix(angles).T F`` with F = diag(1, -1,
-1). Resulting image-space meaning: +yaw turns the nose towards the image's left (the subject looks to their
right), +pitch raises the face (looks up), +roll turns the face clockwise on screen (the image-right eye goes
down).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from scipy.spatial import ConvexHull, Delaunay

from facexformer.data.synthetic.canvas import unit_circle
from facexformer.geometry import euler_to_matrix

_FLIP_YZ = np.diag([1.0, -1.0, -1.0])
# Head ellipsoid (face frame, mm): centre and semi-axes.
HEAD_CENTRE = np.array([0.0, -25.0, 75.0])
HEAD_AXES = np.array([78.0, 115.0, 90.0])
_JAW_BUMP = np.sin(np.linspace(0.25, np.pi - 0.25, 9))  # weights of jaw points 4..12 (chin = 1)


@lru_cache(maxsize=1)
def mean_face() -> np.ndarray:
    """The packaged 3D mean face, (68, 3) mm, with the mouth closed (the raw file has it 5 mm open)."""
    text = resources.files("facexformer").joinpath("assets/mean_face_68.txt").read_text()
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) != 68 or any(len(r) != 3 for r in rows):
        raise ValueError(f"facexformer/assets/mean_face_68.txt: expected 68 lines of 'x y z', got {len(rows)} lines")
    points = np.array(rows, dtype=np.float64)
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        points[[upper, lower], 1] = points[[upper, lower], 1].mean()
    points.setflags(write=False)
    return points


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """(T, 3) triangles over the 68 points (Delaunay on the frontal x, y), oriented towards the camera."""
    pts = mean_face()
    tri = Delaunay(pts[:, :2]).simplices.copy()
    normals = np.cross(pts[tri[:, 1]] - pts[tri[:, 0]], pts[tri[:, 2]] - pts[tri[:, 0]])
    flip = normals[:, 2] > 0
    tri[flip] = tri[flip][:, ::-1]
    tri.setflags(write=False)
    return tri


@lru_cache(maxsize=1)
def hull_candidates() -> np.ndarray:
    """Indices of the points that can bound the face in the image: mean-face 3D hull vertices and the jaw."""
    hull = ConvexHull(mean_face()).vertices
    return np.union1d(hull, np.arange(17))


@lru_cache(maxsize=1)
def _incidence() -> np.ndarray:
    """(68, T) 1 where point i is a corner of triangle t."""
    tri = face_triangles()
    inc = np.zeros((68, len(tri)))
    for corner in range(3):
        inc[tri[:, corner], np.arange(len(tri))] = 1.0
    inc.setflags(write=False)
    return inc


def vertex_normals(points: np.ndarray) -> np.ndarray:
    """(68, 3) unit normals of the face surface at each point, pointing out of the face."""
    tri = face_triangles()
    face_n = np.cross(points[tri[:, 1]] - points[tri[:, 0]], points[tri[:, 2]] - points[tri[:, 0]])
    normals = _incidence() @ face_n
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)


def pose_rotation(angles_deg: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking face-frame vectors to the y-down camera frame for 300W-LP (pitch, yaw, roll)."""
    r = euler_to_matrix(torch.as_tensor(angles_deg, dtype=torch.float64)).numpy()
    return _FLIP_YZ @ r.T @ _FLIP_YZ


def _move(points: np.ndarray, index: list[int], dx: float = 0.0, dy: float = 0.0, dz: float = 0.0) -> None:
    points[index] += (dx, dy, dz)


def deform(traits) -> np.ndarray:
    """The mean face deformed by identity (face shape, age, nose, lips, brows) and expression; (68, 3) mm."""
    p = mean_face().copy()
    jaw = list(range(3, 14))
    bump = _JAW_BUMP
    if traits.face_shape == "round":
        p[jaw, 0] *= 1.1
    elif traits.face_shape == "oval":
        p[jaw, 0] *= 0.92
        p[4:13, 1] += 6.0 * bump
    if traits.gender == 1:
        p[4:13, 0] *= 0.95
    if traits.age < 16:
        # Children: shorter lower face, larger eyes.
        k = 0.8 + 0.2 * traits.age / 16.0
        low = p[:, 1] > -8.0
        p[low, 1] = -8.0 + (p[low, 1] + 8.0) * k
        for eye in (slice(36, 42), slice(42, 48)):
            c = p[eye].mean(axis=0)
            p[eye] = c + (p[eye] - c) * (1.0 + 0.6 * (1.0 - k))
    # Nose width and protrusion.
    nose_base = [31, 32, 33, 34, 35]
    p[nose_base, 0] = p[33, 0] + (p[nose_base, 0] - p[33, 0]) * traits.nose_scale
    _move(p, [30], dz=-traits.nose_point)
    _move(p, [29], dz=-0.5 * traits.nose_point)
    # Lips: thickness about the closed mouth line.
    _move(p, [49, 50, 51, 52, 53], dy=-(traits.lip_scale - 1.0) * 6.0)
    _move(p, [55, 56, 57, 58, 59], dy=(traits.lip_scale - 1.0) * 8.0)
    # Brows: arch, global raise, inner raise.
    _move(p, [19, 24], dy=-traits.brow_arch)
    _move(p, [18, 20, 23, 25], dy=-0.6 * traits.brow_arch)
    _move(p, list(range(17, 27)), dy=-traits.brow_raise)
    _move(p, [21, 22], dy=-traits.brow_inner)
    _move(p, [20, 23], dy=-0.5 * traits.brow_inner)
    if traits.brow_inner < 0:
        _move(p, [21], dx=-0.4 * traits.brow_inner)
        _move(p, [22], dx=0.4 * traits.brow_inner)
    # Eyes: upper lid between the lower lid (closed) and 1.45x its normal height.
    for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
        p[up, 1] = p[low, 1] + (p[up, 1] - p[low, 1]) * traits.eye_open
    # Mouth: smile raises (frown lowers) and widens the corners; opening drops the lower lip and jaw.
    s = traits.smile
    for idx, sign in ((48, -1), (60, -1), (54, 1), (64, 1)):
        _move(p, [idx], dx=sign * (4.0 * max(s, 0.0) + traits.stretch), dy=-8.0 * s)
    _move(p, [49, 53, 59, 55], dy=-3.5 * s)
    _move(p, [49, 50, 51, 52, 53, 61, 62, 63], dy=-traits.lip_raise)
    o = traits.mouth_open
    _move(p, [55, 56, 57, 58, 59, 65, 66, 67], dy=o)
    p[4:13, 1] += 0.7 * o * bump
    return p


def cap_outline(w: np.ndarray, n: np.ndarray | None, d: float, samples: int = 48) -> np.ndarray:
    """Outline of the unit-sphere region {s·w < 0, s·n > d} (facing the viewer and inside a cap); (M, 3).

    ``w`` is the view-facing test direction, ``n`` the cap's unit axis (None: the whole front half). Returns
    an empty (0, 3) array when the region is empty. The outline joins an arc of the rim circle (s·w = 0)
    and an
    arc of the cap's circle (s·n = d).
    """
    w = w / np.linalg.norm(w)
    circle = unit_circle(samples)
    cos, sin = circle[:, :1], circle[:, 1:]
    e1, e2 = _basis(w)
    rim = cos * e1 + sin * e2
    if n is None:
        return rim
    f1, f2 = _basis(n)
    cut = d * n + np.sqrt(max(1.0 - d * d, 0.0)) * (cos * f1 + sin * f2)
    keep_rim = rim @ n > d
    keep_cut = cut @ w < 0
    if keep_rim.all():
        return rim
    if not keep_rim.any():
        return cut if keep_cut.all() else np.zeros((0, 3))
    arc_rim = _run(rim, keep_rim)
    if not keep_cut.any():
        return arc_rim
    arc_cut = _run(cut, keep_cut)
    if np.linalg.norm(arc_rim[-1] - arc_cut[0]) > np.linalg.norm(arc_rim[-1] - arc_cut[-1]):
        arc_cut = arc_cut[::-1]
    return np.concatenate([arc_rim, arc_cut])


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing the unit ``axis`` to a right-handed orthonormal basis."""
    x, y, z = axis
    e1 = np.array([0.0, z, -y]) if abs(x) < 0.9 else np.array([-z, 0.0, x])  # axis cross (e_x or e_y)
    e1 /= np.linalg.norm(e1)
    a, b, c = e1
    return e1, np.array([y * c - z * b, z * a - x * c, x * b - y * a])


def _run(points: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The contiguous (cyclic) run of ``points`` where ``keep`` holds, in order."""
    if keep.all():
        return points
    start = int(np.flatnonzero(keep & ~np.roll(keep, 1))[0])
    return np.roll(points, -start, axis=0)[: int(keep.sum())]
