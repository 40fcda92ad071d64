"""Box arithmetic of the MTCNN cascade, float32 in the order facenet-pytorch 2.6.0 evaluates it.

Boxes are (N, 4) float32 tensors ``(x0, y0, x1, y1)`` in pixels of the original image. The cascade mixes two
size conventions and both are kept, because they change the result: P-Net's offsets scale by ``x1 - x0``,
R-Net's and O-Net's by ``x1 - x0 + 1``, and the final "min" suppression uses ``+ 1`` areas.
"""

from __future__ import annotations

import torch
from torchvision.ops import nms

PROPOSAL_STRIDE = 2
PROPOSAL_WINDOW = 12


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which P-Net's 12-pixel window sees faces from ``min_face_size`` pixels up to the image's
    shorter side: ``12 / min_face_size * factor**k`` while the scaled shorter side is at least 12 pixels."""
    scale = PROPOSAL_WINDOW / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= PROPOSAL_WINDOW:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of the pyramid level at ``scale``: ``int(side * scale + 1)``."""
    return int(height * scale + 1), int(width * scale + 1)


def proposal_boxes(
    offsets: torch.Tensor, face_prob: torch.Tensor, scale: float, threshold: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """P-Net cells with ``face_prob >= threshold`` -> their windows in original pixels.

    ``offsets`` (4, h, w), ``face_prob`` (h, w) from one pyramid level at ``scale``. Returns boxes (N, 4)
    (integers, as float32), scores (N,) and offsets (N, 4), cells in row-major order.
    """
    cells = (face_prob >= threshold).nonzero()
    xy = cells.flip(1).to(offsets.dtype)
    start = ((PROPOSAL_STRIDE * xy + 1) / scale).floor()
    end = ((PROPOSAL_STRIDE * xy + PROPOSAL_WINDOW) / scale).floor()
    rows, cols = cells[:, 0], cells[:, 1]
    return torch.cat([start, end], dim=1), face_prob[rows, cols], offsets[:, rows, cols].T


def shift_boxes(boxes: torch.Tensor, offsets: torch.Tensor, inclusive: bool) -> torch.Tensor:
    """Move each side by its offset times the box's width (x) or height (y); ``inclusive`` counts both end
    pixels (``x1 - x0 + 1``). (N, 4), (N, 4) -> (N, 4)."""
    extra = 1 if inclusive else 0
    width = boxes[:, 2] - boxes[:, 0] + extra
    height = boxes[:, 3] - boxes[:, 1] + extra
    size = torch.stack([width, height, width, height], dim=1)
    return boxes + offsets * size


def square_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box's shorter side to its longer one about the same centre. (N, 4) -> (N, 4)."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x0 = boxes[:, 0] + width * 0.5 - side * 0.5
    y0 = boxes[:, 1] + height * 0.5 - side * 0.5
    return torch.stack([x0, y0, x0 + side, y0 + side], dim=1)


def crop_ranges(boxes: torch.Tensor, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Pixel ranges ``(top, bottom, left, right)`` (Python slice bounds) of each box, clipped to the image.

    Coordinates are truncated toward zero, then the box is read as 1-based inclusive pixels: rows
    ``max(y0, 1) - 1 .. min(y1, height)`` and likewise columns. A range can be empty (box outside the image).
    """
    out = []
    for x0, y0, x1, y1 in boxes.trunc().to(torch.int64).tolist():
        out.append((max(y0, 1) - 1, min(y1, height), max(x0, 1) - 1, min(x1, width)))
    return out


def nms_min_overlap(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy suppression by intersection over the smaller box's area, areas counting end pixels (``+ 1``).

    Highest score first; a box goes when its overlap with a kept box exceeds ``threshold``. Returns the kept
    indices (K,), int64, by decreasing score (ties: lower index first).
    """
    order = torch.sort(scores, descending=True, stable=True).indices
    x0, y0, x1, y1 = boxes.unbind(1)
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    keep = []
    while order.numel() > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = (torch.minimum(x1[best], x1[rest]) - torch.maximum(x0[best], x0[rest]) + 1).clamp(min=0)
        inter_h = (torch.minimum(y1[best], y1[rest]) - torch.maximum(y0[best], y0[rest]) + 1).clamp(min=0)
        overlap = inter_w * inter_h / torch.minimum(area[best], area[rest])
        order = rest[overlap <= threshold]
    return torch.tensor(keep, dtype=torch.int64)


def non_maximum_suppression(
    boxes: torch.Tensor, scores: torch.Tensor, threshold: float, overlap: str = "union"
) -> torch.Tensor:
    """Kept indices (K,) by decreasing score. ``overlap``: "union" = intersection over union with areas
    ``(x1 - x0) * (y1 - y0)`` (``torchvision.ops.nms``), "min" = :func:`nms_min_overlap`."""
    if overlap == "union":
        return nms(boxes, scores, threshold)
    if overlap == "min":
        return nms_min_overlap(boxes, scores, threshold)
    raise ValueError(f"overlap must be 'union' or 'min', got {overlap!r}")
