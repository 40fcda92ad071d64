"""Pictures of predictions: landmarks, parsing with the LaPa palette, head-pose axes, overlays, CED plots.

Image functions take any image ``predict`` takes (path, PIL, (H, W, 3) uint8 array, (3, H, W) tensor) and
return a new RGB ``PIL.Image``; they need only Pillow. ``plot_ced`` needs matplotlib (imported when called).

Head-pose axes. Angles are 300W-LP (pitch, yaw, roll) degrees, R = Rz(roll) Ry(yaw) Rx(pitch)
(``facexformer.geometry``). A face-frame vector v (x = image right of a frontal face, y = down, z = away from
the camera) is drawn at ``F Rᵀ F v`` with F = diag(1, -1, -1), orthographically (the SyntheticFaces
renderer's camera, ``facexformer.data.synthetic.face_model.pose_rotation``). Hence +yaw turns the forward
(blue) axis towards the image's left, +pitch turns it up and +roll turns the face clockwise on screen. Axes:
red = the face's x (towards the subject's left ear), green = up (forehead), blue = forward (out of the nose).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from facexformer.geometry import euler_to_matrix
from facexformer.inference.predict import FacePrediction, ImageInput, to_rgb_array
from facexformer.tasks.parsing import CLASS_NAMES

#: LaPa's colormap.txt, the released ``inference.py`` colours, in LaPa's class order (RGB)
LAPA_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (0, 153, 255),
    (102, 255, 153),
    (0, 204, 153),
    (255, 255, 102),
    (255, 255, 204),
    (255, 153, 0),
    (255, 102, 255),
    (102, 0, 51),
    (255, 204, 255),
    (255, 0, 102),
)
AXIS_COLOURS = ((230, 40, 40), (40, 200, 40), (40, 90, 255))
_FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def _rgb(image: ImageInput) -> Image.Image:
    return Image.fromarray(to_rgb_array(image))


def _colour(index: int, palette: Sequence[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Palette colour of class ``index``; classes past the palette get a fixed pseudo-random colour."""
    if index < len(palette):
        return tuple(palette[index])
    return (index * 67 % 256, index * 151 % 256, index * 223 % 256)


def draw_landmarks(
    image: ImageInput,
    points: np.ndarray | torch.Tensor,
    indices: bool = False,
    colour: tuple[int, int, int] = (0, 255, 0),
    radius: float | None = None,
) -> Image.Image:
    """Dots at ``points`` (N, 2) pixels (x, y) of ``image``; ``indices`` writes each point's index beside it.

    ``radius`` defaults to 1/150 of the shorter image side (at least 1 pixel). NaN points are skipped.
    """
    out = _rgb(image)
    points = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"draw_landmarks: points must be (N, 2) (x, y) pixels, got {points.shape}")
    radius = radius if radius is not None else max(1.0, min(out.size) / 150)
    draw = ImageDraw.Draw(out)
    for i, (x, y) in enumerate(points):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        if indices:
            draw.text((x + radius + 1, y - radius - 1), str(i), fill=colour)
    return out


def draw_parsing(
    image: ImageInput,
    labels: np.ndarray | torch.Tensor,
    alpha: float = 0.5,
    legend: bool = True,
    palette: Sequence[tuple[int, int, int]] = LAPA_PALETTE,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Image.Image:
    """Blend class colours over ``image`` where ``labels`` (H, W) is not background (0).

    ``alpha``: colour weight in [0, 1]. ``legend``: append a panel on the right naming the classes present
    (the result is then wider than ``image``).
    """
    base = to_rgb_array(image)
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != base.shape[:2]:
        raise ValueError(f"draw_parsing: labels {labels.shape} do not match the image {base.shape[:2]}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"draw_parsing: alpha must be in [0, 1], got {alpha}")
    present = [int(c) for c in np.unique(labels) if c > 0]
    lut = np.array([_colour(i, palette) for i in range(max(present, default=0) + 1)], dtype=np.float64)
    mask = labels > 0
    blended = base.astype(np.float64)
    blended[mask] = (1 - alpha) * blended[mask] + alpha * lut[labels[mask]]
    out = Image.fromarray(np.round(blended).astype(np.uint8))
    if legend and present:
        out = add_legend(out, _legend_entries(present, palette, class_names))
    return out


def _legend_entries(
    present: Sequence[int], palette: Sequence[tuple[int, int, int]], class_names: Sequence[str]
) -> list[tuple[str, tuple[int, int, int]]]:
    return [(class_names[c] if c < len(class_names) else f"class_{c}", _colour(c, palette)) for c in present]


def add_legend(image: Image.Image, entries: Sequence[tuple[str, tuple[int, int, int]]]) -> Image.Image:
    """``image`` with a white panel on its right listing ``(name, colour)`` swatches."""
    font = ImageFont.load_default()
    row, pad = 14, 4
    text_width = max(int(ImageDraw.Draw(image).textlength(name, font=font)) for name, _ in entries)
    panel_w, panel_h = text_width + row + 3 * pad, len(entries) * row + 2 * pad
    out = Image.new("RGB", (image.width + panel_w, max(image.height, panel_h)), (255, 255, 255))
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, (name, colour) in enumerate(entries):
        x, y = image.width + pad, pad + i * row
        draw.rectangle((x, y + 1, x + row - 4, y + row - 3), fill=colour, outline=(0, 0, 0))
        draw.text((x + row + pad, y), name, fill=(0, 0, 0), font=font)
    return out


def pose_axes_2d(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """(3, 2) image-plane directions (dx, dy; y down) of the face's x, up and forward unit axes.

    Degrees, 300W-LP convention; see the module docstring. A frontal face gives x = (1, 0), up = (0, -1),
    forward = (0, 0).
    """
    matrix = euler_to_matrix(torch.tensor([pitch, yaw, roll], dtype=torch.float64)).numpy()
    to_camera = _FLIP_YZ @ matrix.T @ _FLIP_YZ
    face_axes = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    return (face_axes @ to_camera.T)[:, :2]


def draw_headpose_axes(
    image: ImageInput,
    pitch: float,
    yaw: float,
    roll: float,
    centre: tuple[float, float] | None = None,
    size: float | None = None,
    width: int | None = None,
) -> Image.Image:
    """Draw the head's x (red), up (green) and forward (blue) axes from ``centre`` (pixels; default the
    image centre), each ``size`` pixels long when parallel to the image (default 1/3 of the shorter side)."""
    out = _rgb(image)
    centre = centre if centre is not None else ((out.width - 1) / 2, (out.height - 1) / 2)
    size = size if size is not None else min(out.size) / 3
    width = width if width is not None else max(1, round(min(out.size) / 100))
    draw = ImageDraw.Draw(out)
    for (dx, dy), colour in zip(pose_axes_2d(pitch, yaw, roll), AXIS_COLOURS, strict=True):
        end = (centre[0] + size * dx, centre[1] + size * dy)
        draw.line((*centre, *end), fill=colour, width=width)
    return out


def draw_overlay(
    image: ImageInput,
    predictions: FacePrediction | Sequence[FacePrediction],
    alpha: float = 0.5,
    legend: bool = True,
) -> Image.Image:
    """Every face's parsing, box, landmarks, head-pose axes (at the nose tip of 68-point landmarks, else the
    box centre) and class labels on ``image``; a parsing legend on the right when ``legend``."""
    faces = [predictions] if isinstance(predictions, FacePrediction) else list(predictions)
    out = _rgb(image)
    parsed = [f.parsing for f in faces if f.parsing is not None]
    if parsed:
        merged = np.zeros_like(parsed[0])
        for labels in reversed(parsed):
            merged = np.where(labels > 0, labels, merged)
        out = draw_parsing(out, merged, alpha, legend=False)
    for face in faces:
        out = _draw_face(out, face)
    present = [int(c) for c in np.unique(merged) if c > 0] if parsed else []
    if legend and present:
        out = add_legend(out, _legend_entries(present, LAPA_PALETTE, CLASS_NAMES))
    return out


def _draw_face(image: Image.Image, face: FacePrediction) -> Image.Image:
    x0, y0, x1, y1 = face.box
    draw = ImageDraw.Draw(image)
    draw.rectangle((x0, y0, x1, y1), outline=(255, 255, 0), width=max(1, round(min(image.size) / 200)))
    if face.headpose is not None:
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        if face.landmarks is not None and len(face.landmarks) == 68:
            centre = tuple(float(v) for v in face.landmarks[30])
        pitch, yaw, roll = (face.headpose[k] for k in ("pitch", "yaw", "roll"))
        image = draw_headpose_axes(image, pitch, yaw, roll, centre, (x1 - x0) / 2)
    if face.landmarks is not None:
        image = draw_landmarks(image, face.landmarks)
    words = [c.label for c in (face.age, face.gender, face.race, face.expression) if c is not None]
    if words:
        ImageDraw.Draw(image).text((x0 + 2, max(0.0, y0 - 12)), " ".join(words), fill=(255, 255, 0))
    return image


def plot_ced(
    data: torch.Tensor | np.ndarray | Sequence[float] | tuple[Any, Any],
    threshold: float = 0.1,
    step: float = 1e-4,
    ax: Any = None,
    label: str | None = None,
    xlabel: str = "NME",
) -> tuple[Any, Any]:
    """Plot a cumulative error distribution with its AUC and failure rate (FR) in the legend -> (fig, ax).

    ``data``: per-image errors (M,) (fractions, e.g. NMEs; the curve is ``ced_curve``), or an ``(x, y)``
    pair of a curve already computed (AUC by Simpson's rule / threshold, FR = 1 - y at the end).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ModuleNotFoundError(
            "plot_ced needs matplotlib, which is not installed: pip install matplotlib (or facexformer[plot])"
        ) from err
    from scipy.integrate import simpson

    from facexformer.metrics.landmarks import ced_curve

    if isinstance(data, tuple) and len(data) == 2:
        x, y = (np.asarray(v.cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in data)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"plot_ced: x and y must be 1-D curves of one length, got {x.shape}, {y.shape}")
    else:
        errors = data.detach().cpu() if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data))
        grid, fraction = ced_curve(errors.double(), threshold, step)
        x, y = grid.numpy(), fraction.numpy()
    auc = float(simpson(y, x=x) / threshold)
    failure = float(1.0 - y[-1])
    figure, ax = plt.subplots(figsize=(4, 3)) if ax is None else (ax.get_figure(), ax)
    prefix = f"{label}: " if label else ""
    ax.plot(x, y, label=f"{prefix}AUC@{threshold:g} = {auc:.4f}, FR = {failure:.4f}")
    ax.set_xlim(0.0, threshold)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of images")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return figure, ax
