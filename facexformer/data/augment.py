"""Batch augmentation on the device, after transfer: flips and affine warps that keep every label consistent.

Geometry is sampled here (per sample) and applied with kornia's warps, so the same transform moves the image,
each task's keypoints and label maps; each task then fixes what a mirror means for its labels (landmark index
permutation, left/right parsing classes, yaw and roll signs). Photometric changes and occlusion (random
erasing) touch the image only: the face under an occluder keeps its labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import kornia.augmentation as K
import torch
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine
from torch import nn

from facexformer.batch import Batch
from facexformer.tasks.base import Task


@dataclass(frozen=True)
class AugmentOptions:
    """The settings of ``FaceAugment``: the ``augment`` argument of ``MultiTaskDataModule`` and the configs, so
    a misspelt key is refused when the config is read.

    Args:
        flip: probability of a horizontal mirror.
        rotate: max in-plane rotation in degrees (never applied to samples with head-pose labels).
        translate: max shift as a fraction of the side.
        scale: (min, max) zoom.
        affine: probability of a warp (rotation, shift and zoom).
        gamma: probability of a gamma change in (0.7, 1.5).
        blur: probability of a Gaussian blur.
        grayscale: probability of dropping colour.
        erase: probability of erasing a random rectangle (occlusion).
    """

    flip: float = 0.5
    rotate: float = 18.0
    translate: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)
    affine: float = 0.5
    gamma: float = 0.2
    blur: float = 0.1
    grayscale: float = 0.1
    erase: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flip", "affine", "gamma", "blur", "grayscale", "erase"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment.{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.rotate < 0 or self.translate < 0:
            raise ValueError(f"augment.rotate and translate are maxima >= 0, got {self.rotate}, {self.translate}")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"augment.scale is (min, max) with 0 < min <= max, got {self.scale}")


class FaceAugment(nn.Module):
    """Augment a collated batch whose ``image`` is float (B, 3, S, S) in [0, 1].

    Args:
        tasks: the model's tasks: their declared labels (``Task.labels``) say which keys are keypoints and
            masks that move with the image; their ``flip`` rules relabel mirrored samples.
        flip: probability of a horizontal mirror.
        rotate: max in-plane rotation in degrees (never applied to samples with head-pose labels).
        translate: max shift as a fraction of the side; scale: (min, max) zoom; affine: probability of a warp.
        gamma, blur, grayscale, erase: probabilities of each photometric change (image only).

    The defaults are ``AugmentOptions``'s; ``FaceAugment.from_options`` builds one from those.
    """

    @classmethod
    def from_options(cls, tasks: Sequence[Task], options: AugmentOptions) -> FaceAugment:
        """A ``FaceAugment`` for ``tasks`` with the settings ``options``."""
        return cls(tasks, **asdict(options))

    def __init__(
        self,
        tasks: Sequence[Task],
        flip: float = AugmentOptions.flip,
        rotate: float = AugmentOptions.rotate,
        translate: float = AugmentOptions.translate,
        scale: tuple[float, float] = AugmentOptions.scale,
        affine: float = AugmentOptions.affine,
        gamma: float = AugmentOptions.gamma,
        blur: float = AugmentOptions.blur,
        grayscale: float = AugmentOptions.grayscale,
        erase: float = AugmentOptions.erase,
    ):
        super().__init__()
        self.tasks = list(tasks)
        self.flip_p, self.rotate, self.translate, self.scale, self.affine_p = flip, rotate, translate, scale, affine
        self.photometric = K.AugmentationSequential(
            K.RandomGamma((0.7, 1.5), p=gamma),
            K.RandomGaussianBlur((5, 5), (0.1, 2.0), p=blur),
            K.RandomGrayscale(p=grayscale),
            K.RandomErasing(scale=(0.02, 0.15), ratio=(0.3, 3.3), p=erase),
            data_keys=["input"],
        )

    def _keys(self, batch: Batch, attr: str) -> list[str]:
        return [k for t in self.tasks for k in getattr(t, attr) if k in batch]

    @torch.no_grad()
    def forward(self, batch: Batch, seed: int | None = None) -> Batch:
        """Augment ``batch`` in place (and return it).

        With ``seed``, the random draws depend on it alone (the global RNG is restored afterwards), so a
        resumed run augments step k exactly as an uninterrupted one.
        """
        device = batch["image"].device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            size = batch["image"].shape[-1]
            flipped = torch.rand(batch["image"].shape[0], device=device) < self.flip_p
            if flipped.any():
                self._flip(batch, flipped, size)
            if self.affine_p > 0:
                self._affine(batch, size)
            batch["image"] = self.photometric(batch["image"]).clamp(0, 1)
        return batch

    def _flip(self, batch: Batch, flipped: torch.Tensor, size: int) -> None:
        batch["image"][flipped] = batch["image"][flipped].flip(-1)
        for key in self._keys(batch, "mask_keys"):
            batch[key][flipped] = batch[key][flipped].flip(-1)
        for key in self._keys(batch, "keypoint_keys"):
            points = batch[key][flipped]
            points[..., 0] = size - 1 - points[..., 0]
            batch[key][flipped] = points
        for task in self.tasks:
            if all(k in batch for k in task.label_keys):
                task.flip(batch, flipped, size)

    def affine_matrices(self, batch: Batch, size: int) -> torch.Tensor:
        """Per-sample (B, 2, 3) maps from source to augmented pixel coordinates (identity where not drawn)."""
        image = batch["image"]
        b, device = image.shape[0], image.device
        drawn = torch.rand(b, device=device) < self.affine_p
        angle = (torch.rand(b, device=device) * 2 - 1) * self.rotate
        masks = batch.get("task_mask", {})
        for task in self.tasks:
            if not task.rotation_invariant and task.name in masks:
                angle = torch.where(masks[task.name].to(device), torch.zeros_like(angle), angle)
        zoom = self.scale[0] + torch.rand(b, device=device) * (self.scale[1] - self.scale[0])
        shift = (torch.rand(b, 2, device=device) * 2 - 1) * self.translate * size
        angle, zoom, shift = angle * drawn, torch.where(drawn, zoom, torch.ones_like(zoom)), shift * drawn[:, None]
        centre = torch.full((b, 2), (size - 1) / 2, device=device)
        matrix = get_rotation_matrix2d(centre, angle, zoom[:, None].expand(b, 2))
        matrix[:, :, 2] += shift
        return matrix

    def _affine(self, batch: Batch, size: int) -> None:
        matrix = self.affine_matrices(batch, size)
        batch["image"] = warp_affine(batch["image"], matrix, (size, size), align_corners=True)
        for key in self._keys(batch, "mask_keys"):
            labels = batch[key]
            warped = warp_affine(labels[:, None].float(), matrix, (size, size), mode="nearest", align_corners=True)
            batch[key] = warped[:, 0].round().to(labels.dtype)
        for key in self._keys(batch, "keypoint_keys"):
            points = batch[key]
            batch[key] = points @ matrix[:, :, :2].transpose(1, 2).to(points.dtype) + matrix[:, None, :, 2]
