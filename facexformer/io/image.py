"""One image decoder for the whole package: files and PIL images -> (H, W, 3) uint8 RGB, faithfully.

What "faithfully" means here:

- **EXIF orientation is applied** (``ImageOps.exif_transpose``), as OpenCV's ``imread`` does by default, so
  the pixels are the upright picture a viewer shows; landmark annotations made on the displayed image line up.
- **Bit depth is scaled, not clipped**: 16-bit grey (PIL modes ``I;16*``) and 32-bit integer (``I``, read from
  16-bit files) images are divided by 257 (65535 -> 255) and rounded; float images (``F``) must hold values in
  [0, 1] and are multiplied by 255; non-finite or out-of-range floats are refused.
- **Colour models are converted to RGB**: palette (``P``, with or without transparency), CMYK, YCbCr, grey
  (``L``, ``1``), grey + alpha (``LA``), RGBA / RGBX. Alpha is dropped (the colour under it is kept), as
  OpenCV's ``imread`` drops it.
- **Failures are one clear error**: ``ImageDecodeError`` (a ``ValueError``) naming the file and what is wrong,
  for empty, truncated, undecodable or unsupported files and for images above PIL's decompression-bomb limit
  (``PIL.Image.MAX_IMAGE_PIXELS`` x 2); the underlying PIL exception is not chained. A missing file raises
  ``FileNotFoundError`` naming it. Only the first frame of a multi-frame file (GIF, TIFF) is read.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class ImageDecodeError(ValueError):
    """An image file (or in-memory image) cannot be decoded into RGB pixels; the message names it."""


def _describe(error: BaseException) -> str:
    if isinstance(error, Image.DecompressionBombError):
        return f"image is larger than PIL's decompression-bomb limit ({error})"
    if isinstance(error, UnidentifiedImageError):
        return "cannot decode image: not a recognised image format"
    text = str(error) or type(error).__name__
    if "truncated" in text:
        return f"cannot decode image: file is truncated ({text})"
    return f"cannot decode image ({text})"


def _check_file(path: Path, name: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{name}: no such image file")
    if not path.is_file():
        raise ImageDecodeError(f"{name}: not a regular file")
    if path.stat().st_size == 0:
        raise ImageDecodeError(f"{name}: empty file (0 bytes)")


def image_to_rgb(img: Image.Image, name: str = "<image>") -> np.ndarray:
    """A decoded PIL image -> (H, W, 3) uint8 RGB array, converted as in the module docstring (no EXIF step)."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img, dtype=np.float64)
        if values.min(initial=0) < 0 or values.max(initial=0) > 65535:
            raise ImageDecodeError(f"{name}: integer image (mode {mode}) holds values outside 0..65535")
        grey = np.round(values / 257.0).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    if mode == "F":
        grey = float_to_uint8(np.asarray(img, dtype=np.float32), name)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    try:
        rgb = img if img.mode == "RGB" else img.convert("RGB")
    except ValueError as err:
        raise ImageDecodeError(f"{name}: cannot convert colour mode {mode} to RGB ({err})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def float_to_uint8(values: np.ndarray, name: str = "<image>") -> np.ndarray:
    """Float pixels in [0, 1] (any shape) -> uint8 (round(255 v)); non-finite or out-of-range values raise."""
    finite = np.isfinite(values)
    if not finite.all():
        count = int((~finite).sum())
        raise ImageDecodeError(f"{name}: float image has {count} non-finite (NaN or inf) value(s)")
    if values.size and (values.min() < 0 or values.max() > 1):
        low, high = float(values.min()), float(values.max())
        raise ImageDecodeError(f"{name}: float images must be in [0, 1], got values in [{low:.3g}, {high:.3g}]")
    return np.round(values * 255).astype(np.uint8)


def decode_image(source: str | Path | bytes | BinaryIO, name: str | None = None) -> np.ndarray:
    """Decode a file path, bytes or binary file object -> (H, W, 3) uint8 RGB, upright (EXIF applied).

    ``name`` is used in error messages (default: the path, or ``<bytes>``). Raises ``ImageDecodeError`` or,
    for a path that does not exist, ``FileNotFoundError``.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        name = name or str(path)
        _check_file(path, name)
        opened: str | Path | BinaryIO = path
    else:
        name = name or "<bytes>"
        opened = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with Image.open(opened) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return image_to_rgb(upright, name)
    except ImageDecodeError:
        raise
    except _DECODE_ERRORS as err:
        message = f"{name}: {_describe(err)}"
    raise ImageDecodeError(message)


def read_image(source: str | Path | bytes | BinaryIO, name: str | None = None) -> torch.Tensor:
    """Like ``decode_image`` but returns a uint8 tensor (3, H, W), the dataset sample's ``image``."""
    return torch.from_numpy(decode_image(source, name)).permute(2, 0, 1).contiguous()
