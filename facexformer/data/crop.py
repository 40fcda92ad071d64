"""``CropFace``: the sample transform between a dataset (original frame) and a batch (a fixed-size crop).

The geometry is ``facexformer.geometry.crop`` (``CropWindow``); this module chooses, per dataset, where the face
box comes from and in which channel order the source stores its pixels, and moves every task's labels.
"""

from __future__ import annotations

import torch

from facexformer.batch import Sample
from facexformer.data.datasets.base import box_from_points, whole_image_box
from facexformer.geometry.crop import CropSettings, CropWindow, Margin, crop_box, crop_points, uncrop_points
from facexformer.tasks import TASKS

__all__ = ["BOX_SOURCES", "CHANNEL_ORDERS", "CropFace", "crop_box", "crop_points", "uncrop_points"]

BOX_SOURCES = ("box", "image", "landmarks")
CHANNEL_ORDERS = ("rgb", "bgr")


def _task_keys(kind: str) -> set[str]:
    """Label keys of every registered task declared as ``kind`` ("keypoint_keys" or "mask_keys")."""
    return {key for task in TASKS.values() for key in getattr(task, kind)}


class CropFace:
    """Crop a sample to its face and resize it: ``image`` -> (3, size, size) uint8 RGB.

    Crop options (``size``, ``margin``, ``square``, ``zoom``, ``interpolation``, ``clip``): see
    ``facexformer.geometry.crop.crop_box``; the defaults are the released ``inference.py`` crop.
    ``box``: where the face box comes from: ``"box"`` (the sample's ``box``), ``"image"`` (the whole image,
    e.g. parsing datasets scored on whole images) or ``"landmarks"`` (tight box of the sample's ``landmarks``).
    ``channels``: the order the source stores its pixels in; ``"bgr"`` sources (OpenCV-written arrays such
    as FSA-Net's BIWI crops) are swapped to RGB.

    Every registered task's labels declared as keypoints (``Label`` kind ``"keypoints"``, the task's
    ``keypoint_keys``, e.g. ``landmarks``) move to crop pixels (NaN rows stay NaN) and those declared as masks
    (``mask_keys``, e.g. ``parsing``) are cut and resized with nearest-neighbour sampling (0 = background
    outside the image). ``box`` and every other key stay in the
    original frame. Recorded per sample, so results can be mapped back (``CropWindow.invert_points``,
    ``uncrop_points``): ``crop`` float32 (4,) = (left, top, crop_w, crop_h) original pixels and
    ``image_size`` int64 (2,) = the original (width, height).
    """

    def __init__(
        self,
        size: int = 224,
        margin: Margin = 0.25,
        square: bool | str = False,
        interpolation: str = "bicubic",
        clip: bool = True,
        zoom: float = 1.0,
        box: str = "box",
        channels: str = "rgb",
    ):
        if box not in BOX_SOURCES:
            raise ValueError(f"CropFace: unknown box source {box!r}; choose one of {BOX_SOURCES}")
        if channels not in CHANNEL_ORDERS:
            raise ValueError(f"CropFace: unknown channel order {channels!r}; choose one of {CHANNEL_ORDERS}")
        try:
            margin = margin if isinstance(margin, int | float) else tuple(margin)
            self.settings = CropSettings(size, margin, square, zoom, interpolation, clip)
        except ValueError as err:
            raise ValueError(f"CropFace: {err}") from err
        self.box_source, self.channels = box, channels

    @property
    def size(self) -> int:
        return self.settings.size

    def face_box(self, sample: Sample) -> list[float]:
        """The (x0, y0, x1, y1) box this crop is built around, from ``box_source``."""
        if self.box_source == "image":
            return whole_image_box(sample["image"]).tolist()
        if self.box_source == "landmarks":
            if "landmarks" not in sample:
                raise KeyError("CropFace(box='landmarks'): the sample has no 'landmarks'")
            return box_from_points(sample["landmarks"].float()).tolist()
        return sample["box"].tolist()

    def crop_for(self, sample: Sample) -> CropWindow:
        """The ``CropWindow`` of ``sample`` (its image must be uint8 (3, H, W))."""
        image, where = sample["image"], sample.get("source", "sample")
        if not (
            isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3
        ):
            raise TypeError(f"CropFace: {where}: 'image' must be a uint8 tensor (3, H, W)")
        height, width = image.shape[1:]
        try:
            return self.settings.crop(self.face_box(sample), (width, height))
        except (ValueError, KeyError) as err:
            raise type(err)(f"CropFace: {where}: {err}") from err

    def __call__(self, sample: Sample) -> Sample:
        crop = self.crop_for(sample)
        image = sample["image"].flip(0) if self.channels == "bgr" else sample["image"]
        out = dict(sample)
        out["image"] = crop.apply_image(image)
        out["crop"] = crop.as_tensor()
        out["image_size"] = torch.tensor(crop.image_size, dtype=torch.int64)
        for key in _task_keys("keypoint_keys") & set(sample):
            out[key] = crop.apply_points(sample[key].float())
        for key in _task_keys("mask_keys") & set(sample):
            out[key] = crop.apply_mask(sample[key])
        return out
