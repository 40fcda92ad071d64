"""The face crop between a dataset (original frame) and a batch (a fixed-size crop), and its inverse.

Pixel convention: pixel centres sit at integer coordinates, pixel ``i`` covers ``[i - 0.5, i + 0.5]``
(the convention of kornia and OpenCV, and of every dataset reader here). A crop of ``crop_w`` original pixels
starting at column ``left``, resized to ``size`` columns, maps ``u`` to
``u' = (u - left + 0.5) * size / crop_w - 0.5``; rows likewise.

Default crop = the released FaceXFormer ``inference.py`` (``adjust_bbox`` + ``Image.crop`` + bicubic
``Resize``): each side of the face box moves out by 25% of the box's width (left/right) or height
(top/bottom), the result is clipped to the image, the four floats are truncated with ``int()`` and the region
is resized, not squared, to 224 x 224 with PIL's (antialiased) bicubic filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from facexformer.data.datasets.base import Sample

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


def crop_box(
    box: Sequence[float],
    image_size: tuple[int, int],
    margin: float = 0.25,
    square: bool = False,
    clip: bool = True,
) -> tuple[int, int, int, int]:
    """The crop region ``(left, top, width, height)`` in whole original pixels for a face box.

    ``box``: (x0, y0, x1, y1) pixels; ``image_size``: (width, height) of the image. Each side moves out by
    ``margin`` times the box's width or height; ``square`` then grows the shorter side about the centre to the
    longer one; ``clip`` clips to ``[0, width] x [0, height]`` (so a square crop near a border is no longer
    square). The edges are rounded down (``math.floor``,
    the same as the released code's ``int()`` on the non-negative clipped values). A region outside the image
    is allowed when ``clip=False`` (the crop pads with zeros).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
        raise ValueError(f"crop_box: box {box} is not a finite (x0, y0, x1, y1) with x1 >= x0, y1 >= y0")
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    x0, y0, x1, y1 = x0 - dx, y0 - dy, x1 + dx, y1 + dy
    if square:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(x1 - x0, y1 - y0) / 2
        x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    if clip:
        width, height = image_size
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
    left, top, right, bottom = (math.floor(v) for v in (x0, y0, x1, y1))
    if right <= left or bottom <= top:
        raise ValueError(
            f"crop_box: box {box} gives an empty crop ({left}, {top}, {right}, {bottom}) "
            f"in an image of (width, height) {image_size}"
        )
    return left, top, right - left, bottom - top


def crop_points(points: torch.Tensor, crop: torch.Tensor, size: int) -> torch.Tensor:
    """Original-image pixels (..., N, 2) -> pixels of the ``size`` x ``size`` crop ``crop`` (..., 4)."""
    origin, extent = crop[..., None, :2], crop[..., None, 2:]
    return (points - origin + 0.5) * (size / extent) - 0.5


def uncrop_points(points: torch.Tensor, crop: torch.Tensor, size: int) -> torch.Tensor:
    """Crop pixels (..., N, 2) -> original-image pixels; ``crop`` (..., 4) = (left, top, crop_w, crop_h).

    The exact inverse of :func:`crop_points`: ``u = (u' + 0.5) * crop_w / size - 0.5 + left``.
    """
    origin, extent = crop[..., None, :2], crop[..., None, 2:]
    return (points + 0.5) * (extent / size) - 0.5 + origin


def _crop_mask(mask: torch.Tensor, left: int, top: int, width: int, height: int, size: int) -> torch.Tensor:
    """Cut (H, W) ``mask`` to the region (zero outside the image) and resize it to (size, size), nearest."""
    out = mask.new_zeros((height, width))
    rows = slice(max(top, 0), min(top + height, mask.shape[0]))
    cols = slice(max(left, 0), min(left + width, mask.shape[1]))
    if rows.start < rows.stop and cols.start < cols.stop:
        out[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = mask[rows, cols]
    resized = F.interpolate(out[None, None].double(), size=(size, size), mode="nearest-exact")
    return resized[0, 0].to(mask.dtype)


class CropFace:
    """Crop a sample to its face box and resize it: ``image`` -> (3, size, size) uint8.

    ``landmarks`` move to crop pixels (NaN rows stay NaN), ``parsing`` is cut the same way and resized with
    nearest-neighbour sampling at pixel centres (zero = background outside the image), ``box`` and every other
    key stay as they are (original frame). The crop is stored as ``crop``: float32 (4,) = (left, top, crop_w,
    crop_h) in original pixels, for :func:`uncrop_points`.
    """

    def __init__(
        self,
        size: int = 224,
        margin: float = 0.25,
        square: bool = False,
        interpolation: str = "bicubic",
        clip: bool = True,
    ):
        if interpolation not in _RESAMPLE:
            choices = tuple(_RESAMPLE)
            raise ValueError(f"CropFace: unknown interpolation {interpolation!r}; choose one of {choices}")
        if size <= 0 or margin < 0:
            raise ValueError(f"CropFace: size must be positive and margin non-negative, got {size}, {margin}")
        self.size = size
        self.margin = margin
        self.square = square
        self.clip = clip
        self.interpolation = interpolation

    def __call__(self, sample: Sample) -> Sample:
        image, where = sample["image"], sample.get("source", "sample")
        if not (isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.ndim == 3
                and image.shape[0] == 3):
            raise TypeError(f"CropFace: {where}: 'image' must be a uint8 tensor (3, H, W)")
        height, width = image.shape[1:]
        try:
            left, top, crop_w, crop_h = crop_box(
                sample["box"].tolist(), (width, height), self.margin, self.square, self.clip
            )
        except ValueError as err:
            raise ValueError(f"CropFace: {where}: {err}") from err
        pil = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))
        region = pil.crop((left, top, left + crop_w, top + crop_h))
        resized = region.resize((self.size, self.size), _RESAMPLE[self.interpolation])
        crop = torch.tensor([left, top, crop_w, crop_h], dtype=torch.float32)

        out = dict(sample)
        out["image"] = torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1).contiguous()
        out["crop"] = crop
        if "landmarks" in sample:
            out["landmarks"] = crop_points(sample["landmarks"].float(), crop, self.size)
        if "parsing" in sample:
            out["parsing"] = _crop_mask(sample["parsing"], left, top, crop_w, crop_h, self.size)
        return out
