"""Pictures of predictions: landmarks, parsing with the LaPa palette, head-pose axes, overlays, CED plots.

Image functions take any image ``predict`` takes (path, PIL, (H, W, 3) uint8 array, (3, H, W) tensor) and
return a new RGB ``PIL.Image``; they need only Pillow. ``plot_ced`` needs matplotlib (imported when called).

``draw_overlay`` names no task: every face gets its box, and each of its outputs is drawn by its task's
``draw`` hook (``facexformer.tasks.base.Task.draw``) on one ``facexformer.tasks.drawing.Overlay``, which paints
label maps first, then boxes, lines, points and captions. The single-purpose functions below draw through the
same ``Overlay``.

Head-pose axes (``facexformer.tasks.headpose.pose_axes_2d``): 300W-LP (pitch, yaw, roll) degrees, drawn
orthographically as the SyntheticFaces renderer's camera sees them; +yaw turns the forward (blue) axis towards
the image's left, +pitch turns it up, +roll turns the face clockwise on screen. Red = the face's x (towards the
subject's left ear), green = up (forehead), blue = forward (out of the nose). In ``draw_overlay`` they start at
the centre of the face box (a landmark-free anchor that every face has).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from facexformer.inference.predict import FacePrediction, ImageInput, to_rgb_array
from facexformer.tasks import TASKS
from facexformer.tasks.drawing import Colour, Overlay, add_legend
from facexformer.tasks.headpose import AXIS_COLOURS, draw_axes, pose_axes_2d
from facexformer.tasks.parsing import CLASS_NAMES, LAPA_PALETTE

__all__ = [
    "AXIS_COLOURS",
    "LAPA_PALETTE",
    "add_legend",
    "draw_headpose_axes",
    "draw_landmarks",
    "draw_overlay",
    "draw_parsing",
    "plot_ced",
    "pose_axes_2d",
]


def _rgb(image: ImageInput) -> Image.Image:
    return Image.fromarray(to_rgb_array(image))


def _numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)


def draw_landmarks(
    image: ImageInput,
    points: np.ndarray | torch.Tensor,
    indices: bool = False,
    colour: Colour = (0, 255, 0),
    radius: float | None = None,
) -> Image.Image:
    """Dots at ``points`` (N, 2) pixels (x, y) of ``image``; ``indices`` writes each point's index beside it.

    ``radius`` defaults to 1/90 of the points' extent (the face's size: dots stay apart on a small face), at
    most 1/100 of the shorter image side. NaN points are skipped.
    """
    overlay = Overlay(_rgb(image))
    try:
        overlay.points(_numpy(points).astype(float), colour, radius, indices)
    except ValueError as err:
        raise ValueError(f"draw_landmarks: {err}") from None
    return overlay.render()


def draw_parsing(
    image: ImageInput,
    labels: np.ndarray | torch.Tensor,
    alpha: float = 0.5,
    legend: bool = True,
    palette: Sequence[Colour] = LAPA_PALETTE,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Image.Image:
    """Blend class colours over ``image`` where ``labels`` (H, W) is not background (0).

    ``alpha``: colour weight in [0, 1]. ``legend``: append a panel on the right naming the classes present
    (the result is then wider than ``image``).
    """
    try:
        overlay = Overlay(_rgb(image), alpha)
        overlay.label_map(_numpy(labels), palette, class_names)
    except ValueError as err:
        raise ValueError(f"draw_parsing: {err}") from None
    return overlay.render(legend)


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
    overlay = Overlay(_rgb(image))
    width_px, height_px = overlay.size
    centre = centre if centre is not None else ((width_px - 1) / 2, (height_px - 1) / 2)
    draw_axes(overlay, (pitch, yaw, roll), centre, size if size is not None else min(overlay.size) / 3, width)
    return overlay.render()


def draw_overlay(
    image: ImageInput,
    predictions: FacePrediction | Sequence[FacePrediction],
    alpha: float = 0.5,
    legend: bool = True,
) -> Image.Image:
    """Every face's box and outputs on ``image``, each output drawn by its task's ``draw`` hook (parsing
    blended, landmarks, head-pose axes from the box centre, class labels above the box); a legend of the
    label-map classes on the right when ``legend``. Outputs of tasks whose class is not imported are skipped."""
    faces = [predictions] if isinstance(predictions, FacePrediction) else list(predictions)
    overlay = Overlay(_rgb(image), alpha)
    for face in faces:
        overlay.box(face.box)
        for name, value in face.outputs.items():
            task = TASKS.get(name)
            if task is not None and value is not None:
                task.draw(overlay, value, face.box)
    return overlay.render(legend)


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
