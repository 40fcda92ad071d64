"""``Overlay``: a picture that tasks annotate through their ``draw`` hooks (``facexformer.tasks.base.Task``).

Tasks add marks in any order; ``render`` paints them in layers, so a map never hides a point: label maps
(blended with ``alpha``, one merged map per ``key``, the first face's labels on top), face boxes, lines,
points, one caption line per face box (its tasks' words joined by spaces, on a dark band above the box, or
below it or further out where it would cover an earlier caption; kept inside the picture), and a legend panel
on the right naming the label-map classes present. Coordinates are pixels of the picture, pixel
centres at integers. Needs only Pillow and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]
CAPTION_COLOUR: Colour = (255, 255, 0)


def palette_colour(index: int, palette: Sequence[Colour]) -> Colour:
    """Palette colour of class ``index``; classes past the palette get a fixed pseudo-random colour."""
    if index < len(palette):
        return tuple(palette[index])  # type: ignore[return-value]
    return (index * 67 % 256, index * 151 % 256, index * 223 % 256)


@dataclass
class _LabelMap:
    labels: np.ndarray
    palette: Sequence[Colour]
    names: Sequence[str]


class Overlay:
    """Marks to paint over ``image`` (an RGB PIL image, not modified); ``render`` returns the picture.

    ``alpha``: colour weight of label maps in [0, 1].
    """

    def __init__(self, image: Image.Image, alpha: float = 0.5):
        if not 0 <= alpha <= 1:
            raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
        self.image, self.alpha = image.convert("RGB"), alpha
        self._maps: dict[str, _LabelMap] = {}
        self._boxes: list[tuple[Box, Colour]] = []
        self._lines: list[tuple[tuple[float, float, float, float], Colour, int | None]] = []
        self._points: list[tuple[np.ndarray, Colour, float | None, bool]] = []
        self._captions: dict[Box, list[str]] = {}

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the picture."""
        return self.image.size

    def label_map(
        self, labels: np.ndarray, palette: Sequence[Colour], names: Sequence[str] = (), key: str = "labels"
    ) -> None:
        """Colour the non-zero classes of ``labels`` (H, W) (0 = background, left as is) with ``palette``;
        maps of one ``key`` merge, the earlier map's labels on top. ``names``: class names for the legend."""
        labels = np.asarray(labels)
        if labels.shape != (self.image.height, self.image.width):
            raise ValueError(f"labels {labels.shape} do not match the image {(self.image.height, self.image.width)}")
        if key in self._maps:
            earlier = self._maps[key].labels
            labels = np.where(earlier > 0, earlier, labels)
        self._maps[key] = _LabelMap(labels, palette, names)

    def box(self, box: Box, colour: Colour = CAPTION_COLOUR) -> None:
        """Outline the (x0, y0, x1, y1) ``box``."""
        self._boxes.append((tuple(float(v) for v in box), colour))  # type: ignore[arg-type]

    def line(self, start: Sequence[float], end: Sequence[float], colour: Colour, width: int | None = None) -> None:
        """A segment from ``start`` to ``end`` (x, y); ``width`` defaults to 1/100 of the shorter side."""
        self._lines.append(((*map(float, start), *map(float, end)), colour, width))  # type: ignore[arg-type]

    def points(
        self, points: np.ndarray, colour: Colour = (0, 255, 0), radius: float | None = None, indices: bool = False
    ) -> None:
        """Dots at ``points`` (N, 2) (x, y), NaN rows skipped; ``radius`` defaults to 1/90 of the points' extent
        (``dot_radius``: it scales with the face); ``indices`` writes each point's index beside it."""
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must be (N, 2) (x, y) pixels, got {points.shape}")
        self._points.append((points, colour, radius, indices))

    def caption(self, box: Box, text: str) -> None:
        """A word for the face in ``box``, written above it after the words added before."""
        self._captions.setdefault(tuple(float(v) for v in box), []).append(text)  # type: ignore[arg-type]

    def render(self, legend: bool = True, scale: int = 1) -> Image.Image:
        """The picture with every mark painted (see the module docstring), ``scale`` times larger (label maps
        and the photo resized, marks drawn at the new size: a small crop becomes large enough to judge)."""
        out = self._blend()
        if scale != 1:
            out = out.resize((out.width * scale, out.height * scale), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(out)
        short = min(out.size)

        def at(*xy: float) -> list[float]:  # pixel centres sit at integers in both pictures
            return [(v + 0.5) * scale - 0.5 for v in xy]

        for box, colour in self._boxes:
            draw.rectangle(_ordered(at(*box)), outline=colour, width=max(1, round(short / 200)))
        for segment, colour, width in self._lines:
            line_width = width * scale if width is not None else max(1, round(short / 100))
            draw.line(at(*segment), fill=colour, width=line_width)
        for points, colour, radius, indices in self._points:
            r = radius * scale if radius is not None else dot_radius(points, short / 100) * scale
            for i, (x, y) in enumerate(points):
                if np.isfinite(x) and np.isfinite(y):
                    cx, cy = at(x, y)
                    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
                    if indices:
                        draw.text((cx + r + 1, cy - r - 1), str(i), fill=colour)
        font, placed = caption_font(short), []
        for box, words in self._captions.items():
            placed.append(draw_caption(draw, " ".join(words), at(*box), font, out.size, placed))
        entries = self._legend_entries()
        return add_legend(out, entries) if legend and entries else out

    def _blend(self) -> Image.Image:
        if not self._maps:
            return self.image.copy()
        blended = np.asarray(self.image).astype(np.float64)
        for layer in self._maps.values():
            labels = layer.labels
            top = int(labels.max(initial=0))
            lut = np.array([palette_colour(i, layer.palette) for i in range(top + 1)], dtype=np.float64)
            mask = labels > 0
            blended[mask] = (1 - self.alpha) * blended[mask] + self.alpha * lut[labels[mask]]
        return Image.fromarray(np.round(blended).astype(np.uint8))

    def _legend_entries(self) -> list[tuple[str, Colour]]:
        entries = []
        for layer in self._maps.values():
            for c in (int(v) for v in np.unique(layer.labels) if v > 0):
                name = layer.names[c] if c < len(layer.names) else f"class_{c}"
                entries.append((name, palette_colour(c, layer.palette)))
        return entries


def dot_radius(points: np.ndarray, largest: float) -> float:
    """Default dot radius for ``points`` (N, 2): 1/90 of their extent (the face's size, for landmarks), so
    that dots on a small face stay apart; at least 1 and at most ``largest`` pixels."""
    finite = points[np.isfinite(points).all(axis=1)]
    extent = float(np.ptp(finite, axis=0).max()) if len(finite) > 1 else 0.0
    return float(np.clip(extent / 90, 1.0, max(largest, 1.0)))


def caption_font(short: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """The caption font for a picture whose shorter side is ``short`` pixels (1/45 of it, 11 to 40 px)."""
    return ImageFont.load_default(size=int(np.clip(short / 45, 11, 40)))


def draw_caption(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: Sequence[float],
    font: Any,
    size: tuple[int, int],
    taken: Sequence[Box] = (),
) -> Box:
    """``text`` in yellow on a dark band above ``box``, or below it where the band above would cover a band in
    ``taken`` (captions drawn before) or leave the picture, stepping further out until one is free (above when
    none is); kept inside the picture. Returns the band (x0, y0, x1, y1) in pixels."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width, height, pad = right - left + 4, bottom - top + 4, 2
    x = min(max(0.0, box[0]), max(0.0, size[0] - width))
    above, below = box[1] - height, box[3]
    tries = [y for step in range(4) for y in (above - step * height, below + step * height)]
    fits = [y for y in tries if 0 <= y <= size[1] - height]
    free = [y for y in fits if not any(_overlap((x, y, x + width, y + height), band) for band in taken)]
    y = free[0] if free else min(max(0.0, above), max(0.0, size[1] - height))
    band = (x, y, x + width, y + height)
    draw.rectangle(band, fill=(0, 0, 0))
    draw.text((x + pad - left, y + pad - top), text, fill=CAPTION_COLOUR, font=font)
    return band


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _ordered(box: Sequence[float]) -> list[float]:
    x0, y0, x1, y1 = box
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


def add_legend(image: Image.Image, entries: Sequence[tuple[str, Colour]]) -> Image.Image:
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
