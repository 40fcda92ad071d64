"""The face crop as a model saves it: ``CropSettings`` <-> the JSON-able dict of its fields.

A model keeps its crop in its hyperparameters (``FaceXFormer(crop=...)``, ``FaceXFormer.crop_settings``); JSON has
no tuples, so a per-side margin is saved as a list and read back as a tuple.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from facexformer.geometry.crop import CropSettings


def crop_settings_from(crop: CropSettings | Mapping[str, Any] | None, image_size: int) -> CropSettings:
    """``crop`` as ``CropSettings``: given as such, as a dict of its fields (``size`` defaults to ``image_size``, a
    list margin becomes a tuple), or ``None`` for the released crop. ``image_size``: the network's input side in
    pixels; a crop of another size is refused (``ValueError``), anything else than the three forms (``TypeError``).
    """
    if crop is None:
        crop = CropSettings(size=image_size)
    elif isinstance(crop, Mapping):
        fields = {"size": image_size, **crop}
        if isinstance(fields.get("margin"), list):
            fields["margin"] = tuple(fields["margin"])
        crop = CropSettings(**fields)
    if not isinstance(crop, CropSettings):
        raise TypeError(f"crop must be a CropSettings or a dict of its fields, got {type(crop).__name__}")
    if crop.size != image_size:
        raise ValueError(f"crop size {crop.size} differs from image_size {image_size}: the network sees the crop")
    return crop


def crop_config(crop: CropSettings | Mapping[str, Any] | None, image_size: int) -> dict[str, Any]:
    """``crop`` (any form ``crop_settings_from`` takes) as the JSON-able dict of its fields, margin as a float or
    a list of four."""
    settings = crop_settings_from(crop, image_size)
    config = dataclasses.asdict(settings)
    config["margin"] = list(settings.margin) if isinstance(settings.margin, Sequence) else settings.margin
    return config
