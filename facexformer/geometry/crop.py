"""The face crop: one value object (``CropWindow``) that maps an image, points and masks into a fixed-size crop
and back, used by training, evaluation and prediction alike.

Pixel convention: pixel centres sit at integer coordinates, pixel ``i`` covers ``[i - 0.5, i + 0.5]``
(kornia and OpenCV's convention, and every dataset reader's here). A region of ``crop_w`` original pixels
starting at column ``left``, resized to ``size`` columns, maps ``u`` to
``u' = (u - left + 0.5) * size / crop_w - 0.5``; rows likewise.

The default settings are the released FaceXFormer ``inference.py`` (``adjust_bbox`` + ``Image.crop`` + bicubic
``Resize``): each side of the face box moves out by 25% of the box's width (left/right) or height
(top/bottom), the result is clipped to the image, the edges are truncated to whole pixels and the region is
resized, not squared, to 224 x 224 with PIL's (antialiased) bicubic filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}
INTERPOLATIONS = tuple(_RESAMPLE)
SQUARE_MODES = (False, True, "outer", "inner")
Margin = float | Sequence[float]


def _side_margins(margin: Margin) -> tuple[float, float, float, float]:
    """``margin`` as (left, top, right, bottom) fractions of the box's width / height."""
    values = (float(margin),) * 4 if isinstance(margin, int | float) else tuple(float(v) for v in margin)
    if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(
            f"crop margin must be a non-negative number or 4 of them (left, top, right, bottom), got {margin!r}"
        )
    return values  # type: ignore[return-value]


def crop_box(
    box: Sequence[float],
    image_size: tuple[int, int],
    margin: Margin = 0.25,
    square: bool | str = False,
    clip: bool = True,
    zoom: float = 1.0,
) -> tuple[int, int, int, int]:
    """The crop region ``(left, top, width, height)`` in whole original pixels for a face box.

    ``box``: (x0, y0, x1, y1) pixels; ``image_size``: (width, height) of the image. Steps, in order:

    1. each side moves out by ``margin`` times the box's width (left/right) or height (top/bottom); a
       4-sequence gives (left, top, right, bottom) fractions separately;
    2. ``square``: ``True``/``"outer"`` grows the shorter side about the centre to the longer one,
       ``"inner"`` shrinks the longer side to the shorter one (torchvision's ``Resize(n)`` + ``CenterCrop``);
    3. ``zoom`` scales the region about its centre (0.875 = ``Resize(256)`` + ``CenterCrop(224)``);
    4. ``clip`` clips to ``[0, width] x [0, height]`` (a square region near a border is then no longer square);
       without it the region may leave the image and the crop pads with zeros;
    5. the edges are rounded down (``math.floor``, the released code's ``int()`` on clipped values).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
        raise ValueError(f"crop_box: box {box} is not a finite (x0, y0, x1, y1) with x1 >= x0, y1 >= y0")
    if square not in SQUARE_MODES:
        raise ValueError(f"crop_box: square must be one of {SQUARE_MODES}, got {square!r}")
    if not (math.isfinite(zoom) and zoom > 0):
        raise ValueError(f"crop_box: zoom must be a positive number, got {zoom!r}")
    left_m, top_m, right_m, bottom_m = _side_margins(margin)
    width, height = x1 - x0, y1 - y0
    x0, y0, x1, y1 = x0 - left_m * width, y0 - top_m * height, x1 + right_m * width, y1 + bottom_m * height
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
    if square:
        half_w = half_h = (min if square == "inner" else max)(half_w, half_h)
    half_w, half_h = half_w * zoom, half_h * zoom
    x0, y0, x1, y1 = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    if clip:
        image_w, image_h = image_size
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(image_w), x1), min(float(image_h), y1)
    left, top, right, bottom = (math.floor(v) for v in (x0, y0, x1, y1))
    if right <= left or bottom <= top:
        raise ValueError(
            f"crop_box: box {box} gives an empty crop ({left}, {top}, {right}, {bottom}) "
            f"in an image of (width, height) {image_size}"
        )
    return left, top, right - left, bottom - top


def crop_points(points: torch.Tensor, crop: torch.Tensor, size: int) -> torch.Tensor:
    """Original-image pixels (..., N, 2) -> pixels of the ``size`` x ``size`` crop ``crop`` (..., 4)
    = (left, top, crop_w, crop_h)."""
    origin, extent = crop[..., None, :2], crop[..., None, 2:]
    return (points - origin + 0.5) * (size / extent) - 0.5


def uncrop_points(points: torch.Tensor, crop: torch.Tensor, size: int) -> torch.Tensor:
    """Crop pixels (..., N, 2) -> original-image pixels; ``crop`` (..., 4) = (left, top, crop_w, crop_h).

    The exact inverse of :func:`crop_points`: ``u = (u' + 0.5) * crop_w / size - 0.5 + left``.
    """
    origin, extent = crop[..., None, :2], crop[..., None, 2:]
    return (points + 0.5) * (extent / size) - 0.5 + origin


@dataclass(frozen=True)
class CropSettings:
    """How a face box becomes a crop (see :func:`crop_box`): output ``size`` pixels, ``margin``, ``square``,
    ``zoom``, ``clip`` and the image ``interpolation`` ("bicubic", "bilinear" or "nearest")."""

    size: int = 224
    margin: Margin = 0.25
    square: bool | str = False
    zoom: float = 1.0
    interpolation: str = "bicubic"
    clip: bool = True

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLE:
            raise ValueError(f"unknown crop interpolation {self.interpolation!r}; choose one of {INTERPOLATIONS}")
        if not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(f"crop size must be a positive integer, got {self.size!r}")
        _side_margins(self.margin)
        if self.square not in SQUARE_MODES:
            raise ValueError(f"crop square must be one of {SQUARE_MODES}, got {self.square!r}")
        if not (math.isfinite(self.zoom) and self.zoom > 0):
            raise ValueError(f"crop zoom must be a positive number, got {self.zoom!r}")

    def crop(self, box: Sequence[float], image_size: tuple[int, int]) -> CropWindow:
        """The crop of face ``box`` (x0, y0, x1, y1) in an image of (width, height) ``image_size``."""
        region = crop_box(box, image_size, self.margin, self.square, self.clip, self.zoom)
        return CropWindow(tuple(float(v) for v in box), tuple(image_size), region, self)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CropWindow:
    """One face's crop: the ``box`` it came from, the (width, height) ``image_size`` of the original image,
    the ``region`` (left, top, width, height) in whole original pixels and the ``settings``.

    ``apply_*`` map original-image data into the ``size`` x ``size`` crop; ``invert_points`` and
    ``paste_mask`` map crop-frame results back to the original image.
    """

    box: tuple[float, float, float, float]
    image_size: tuple[int, int]
    region: tuple[int, int, int, int]
    settings: CropSettings = CropSettings()

    @classmethod
    def from_box(cls, box: Sequence[float], image_size: tuple[int, int], **settings: object) -> CropWindow:
        """``CropSettings(**settings).crop(box, image_size)``."""
        return CropSettings(**settings).crop(box, image_size)  # type: ignore[arg-type]

    @property
    def size(self) -> int:
        return self.settings.size

    def as_tensor(self) -> torch.Tensor:
        """The region as float32 (4,) (left, top, width, height): the per-sample ``crop`` key."""
        return torch.tensor(self.region, dtype=torch.float32)

    def apply_image(self, image: torch.Tensor | Image.Image) -> torch.Tensor:
        """uint8 (3, H, W) tensor or RGB PIL image -> uint8 (3, size, size); zero outside the image."""
        if isinstance(image, torch.Tensor):
            if not (image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3):
                raise TypeError(
                    f"CropWindow: image must be a uint8 tensor (3, H, W), got {image.dtype} {tuple(image.shape)}"
                )
            image = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy()))
        if tuple(image.size) != tuple(self.image_size):
            raise ValueError(
                f"CropWindow: image of (width, height) {image.size} but the crop was made for {self.image_size}"
            )
        left, top, width, height = self.region
        region = image.crop((left, top, left + width, top + height))
        resized = region.resize((self.size, self.size), _RESAMPLE[self.settings.interpolation])
        return torch.from_numpy(np.asarray(resized.convert("RGB")).copy()).permute(2, 0, 1).contiguous()

    def apply_points(self, points: torch.Tensor) -> torch.Tensor:
        """Original-image pixels (..., N, 2) -> crop pixels (NaN stays NaN)."""
        return crop_points(points, torch.tensor(self.region, dtype=points.dtype, device=points.device), self.size)

    def invert_points(self, points: torch.Tensor) -> torch.Tensor:
        """Crop pixels (..., N, 2) -> original-image pixels; the exact inverse of ``apply_points``."""
        region = torch.tensor(self.region, dtype=points.dtype, device=points.device)
        return uncrop_points(points, region, self.size)

    def apply_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(..., H, W) label map -> (..., size, size): cut to the region (0 outside the image), nearest
        sampling at pixel centres."""
        out = mask.new_zeros((*mask.shape[:-2], self.region[3], self.region[2]))
        inside_image, inside_region = self._overlap(mask.shape[-2:])
        out[inside_region] = mask[inside_image]
        return _resize(out, (self.size, self.size), "nearest-exact")

    def paste_mask(self, mask: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
        """(..., size, size) crop map -> (..., H, W) of the original image, 0 outside the region.

        ``mode``: "nearest" for label maps (pixel centres), "bilinear" for float maps such as logits
        (align_corners=False). A map already at the region's (height, width) in original pixels is pasted as
        it is (e.g. class ids arg-maxed after resizing the logits, which keeps a (K, H, W) map of a large
        photo out of memory).
        """
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"CropWindow.paste_mask: mode must be 'nearest' or 'bilinear', got {mode!r}")
        width, height = self.region[2:]
        resized = mask
        if tuple(mask.shape[-2:]) != (height, width):
            resized = _resize(mask, (height, width), "nearest-exact" if mode == "nearest" else "bilinear")
        out = mask.new_zeros((*mask.shape[:-2], self.image_size[1], self.image_size[0]))
        inside_image, inside_region = self._overlap((self.image_size[1], self.image_size[0]))
        out[inside_image] = resized[inside_region]
        return out

    def _overlap(self, shape: tuple[int, int]) -> tuple[tuple, tuple]:
        """Index tuples (..., rows, cols) of the part of the region inside an image of (rows, cols) ``shape``:
        first in image pixels, then in region pixels (empty slices when they do not overlap)."""
        left, top, width, height = self.region
        rows = slice(max(top, 0), max(min(top + height, shape[0]), max(top, 0)))
        cols = slice(max(left, 0), max(min(left + width, shape[1]), max(left, 0)))
        in_region = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
        return (..., rows, cols), (..., *in_region)


def crop_faces(
    image: torch.Tensor | Image.Image, boxes: Sequence[Sequence[float]], settings: CropSettings = CropSettings()
) -> tuple[torch.Tensor, list[CropWindow]]:
    """Crop every face of one image: uint8 (3, H, W) tensor or RGB PIL image and (x0, y0, x1, y1) ``boxes``
    -> uint8 (F, 3, size, size) crops and their ``CropWindow`` (F = len(boxes), may be 0): the crop a
    prediction pipeline needs, the same as training's ``CropFace`` for the same settings."""
    if isinstance(image, torch.Tensor):
        if not (image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3):
            raise TypeError(
                f"crop_faces: image must be a uint8 tensor (3, H, W), got {image.dtype} {tuple(image.shape)}"
            )
        image = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy()))
    crops = [settings.crop(box, image.size) for box in boxes]
    pixels = [crop.apply_image(image) for crop in crops]
    stacked = torch.stack(pixels) if pixels else torch.empty(0, 3, settings.size, settings.size, dtype=torch.uint8)
    return stacked, crops


def _resize(maps: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize the last two dims of ``maps`` (any leading dims, any dtype) to ``size`` (rows, columns)."""
    flat = maps.reshape(-1, 1, *maps.shape[-2:]).double()
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    resized = F.interpolate(flat, size=size, mode=mode, **kwargs)
    return resized.reshape(*maps.shape[:-2], *size).to(maps.dtype)
