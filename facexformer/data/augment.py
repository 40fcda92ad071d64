"""Batch augmentation on the device, after transfer: flips and affine warps that keep every label consistent.

Geometry is sampled here (per sample) and applied with kornia's warps, so the same transform moves the image,
each task's keypoints and label maps; each task then fixes what a mirror means for its labels (landmark index
permutation, left/right parsing classes, yaw and roll signs). Photometric changes and occlusion (random
erasing) touch the image only: the face under an occluder keeps its labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kornia.augmentation as K
import torch
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine
from torch import nn

from facexformer.batch import Batch
from facexformer.tasks.base import Task

#: the option fields a per-task override may set (every field but ``tasks``)
PER_SAMPLE_FIELDS = (
    "flip",
    "rotate",
    "translate",
    "scale",
    "affine",
    "resize",
    "resize_scale",
    "gamma",
    "blur",
    "grayscale",
    "erase",
)


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
        resize: probability of a random resized crop: a square of ``resize_scale`` (min, max) times the side, at
            a random place inside the image, resized back to the full side (labels move with it); applied
            before the warp.
        resize_scale: (min, max) side of that square as a fraction of the image side, in (0, 1].
        gamma: probability of a gamma change in (0.7, 1.5).
        blur: probability of a Gaussian blur.
        grayscale: probability of dropping colour.
        erase: probability of erasing a random rectangle (occlusion).
        tasks: per-task settings, ``{task name: {field: value}}``: a sample labelled for that task is augmented
            with these fields in place of the ones above (the paper lists augmentation per task); a sample with
            several such tasks takes the first one listed here.
    """

    flip: float = 0.5
    rotate: float = 18.0
    translate: float = 0.05
    scale: tuple[float, float] = (0.9, 1.1)
    affine: float = 0.5
    resize: float = 0.0
    resize_scale: tuple[float, float] = (0.8, 1.0)
    gamma: float = 0.2
    blur: float = 0.1
    grayscale: float = 0.1
    erase: float = 0.1
    tasks: dict[str, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        for name in ("flip", "affine", "resize", "gamma", "blur", "grayscale", "erase"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment.{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.rotate < 0 or self.translate < 0:
            raise ValueError(f"augment.rotate and translate are maxima >= 0, got {self.rotate}, {self.translate}")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"augment.scale is (min, max) with 0 < min <= max, got {self.scale}")
        low, high = self.resize_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"augment.resize_scale is (min, max) with 0 < min <= max <= 1, got {self.resize_scale}")
        for task, fields in (self.tasks or {}).items():
            unknown = set(fields) - set(PER_SAMPLE_FIELDS)
            if unknown:
                raise TypeError(f"augment.tasks.{task}: unknown field(s) {sorted(unknown)}; known: {PER_SAMPLE_FIELDS}")
            self.for_task(task)

    def for_task(self, name: str | None) -> AugmentOptions:
        """The settings of samples labelled for task ``name``: these with its overrides (none for a task without
        any, or None), without ``tasks``."""
        fields = {f: getattr(self, f) for f in PER_SAMPLE_FIELDS}
        try:
            return AugmentOptions(**{**fields, **(self.tasks or {}).get(name, {})})
        except ValueError as err:
            raise ValueError(f"augment.tasks.{name}: {err}") from err


class FaceAugment(nn.Module):
    """Augment a collated batch whose ``image`` is float (B, 3, S, S) in [0, 1].

    Args:
        tasks: the model's tasks: their declared labels (``Task.labels``) say which keys are keypoints and
            masks that move with the image; their ``flip`` rules relabel mirrored samples.
        flip: probability of a horizontal mirror.
        rotate: max in-plane rotation in degrees (never applied to samples with head-pose labels).
        translate: max shift as a fraction of the side; scale: (min, max) zoom; affine: probability of a warp.
        resize, resize_scale: probability of a random resized crop, and its square's side range (fraction).
        gamma, blur, grayscale, erase: probabilities of each photometric change (image only).
        per_task: ``{task: {field: value}}`` settings for the samples of a task (``AugmentOptions.tasks``).

    The defaults are ``AugmentOptions``'s; ``FaceAugment.from_options`` builds one from those.
    """

    @classmethod
    def from_options(cls, tasks: Sequence[Task], options: AugmentOptions) -> FaceAugment:
        """A ``FaceAugment`` for ``tasks`` with the settings ``options``."""
        fields = {f: getattr(options, f) for f in PER_SAMPLE_FIELDS}
        return cls(tasks, **fields, per_task=options.tasks)

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
        resize: float = AugmentOptions.resize,
        resize_scale: tuple[float, float] = AugmentOptions.resize_scale,
        per_task: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        super().__init__()
        self.tasks = list(tasks)
        base = AugmentOptions(
            flip=flip,
            rotate=rotate,
            translate=translate,
            scale=tuple(scale),
            affine=affine,
            resize=resize,
            resize_scale=tuple(resize_scale),
            gamma=gamma,
            blur=blur,
            grayscale=grayscale,
            erase=erase,
            tasks={name: dict(fields) for name, fields in (per_task or {}).items()},
        )
        self.flip_p, self.rotate, self.translate, self.scale, self.affine_p = flip, rotate, translate, scale, affine
        # option set 0 is the base; set k > 0 is the override of task override_tasks[k - 1]
        self.override_tasks = list(base.tasks or {})
        self.options = [base.for_task(None)] + [base.for_task(name) for name in self.override_tasks]
        self.photometric = nn.ModuleList(
            K.AugmentationSequential(
                K.RandomGamma((0.7, 1.5), p=o.gamma),
                K.RandomGaussianBlur((5, 5), (0.1, 2.0), p=o.blur),
                K.RandomGrayscale(p=o.grayscale),
                K.RandomErasing(scale=(0.02, 0.15), ratio=(0.3, 3.3), p=o.erase),
                data_keys=["input"],
            )
            for o in self.options
        )

    def option_choice(self, batch: Batch) -> torch.Tensor:
        """(B,) int64: the option set of each sample (0 the base, k the k-th per-task override)."""
        image = batch["image"]
        choice = torch.zeros(image.shape[0], dtype=torch.long, device=image.device)
        free = torch.ones_like(choice, dtype=torch.bool)
        masks = batch.get("task_mask", {})
        for k, name in enumerate(self.override_tasks, start=1):
            if name in masks:
                mine = masks[name].to(image.device) & free
                choice[mine], free = k, free & ~mine
        return choice

    def _per_sample(self, field: str, choice: torch.Tensor) -> torch.Tensor:
        """(B, ...) float: ``field`` of each sample's option set."""
        values = torch.tensor([getattr(o, field) for o in self.options], dtype=torch.float32, device=choice.device)
        return values[choice]

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
            choice = self.option_choice(batch)
            flipped = torch.rand(batch["image"].shape[0], device=device) < self._per_sample("flip", choice)
            if flipped.any():
                self._flip(batch, flipped, size)
            if any(o.affine > 0 or o.resize > 0 for o in self.options):
                self._affine(batch, size, choice)
            batch["image"] = self._photometric(batch["image"], choice).clamp(0, 1)
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

    def _photometric(self, images: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        """Each option set's photometric changes on its samples (image only)."""
        if not choice.any():
            return self.photometric[0](images)
        images = images.clone()
        for k, pipeline in enumerate(self.photometric):
            rows = (choice == k).nonzero().flatten()
            if rows.numel():
                images[rows] = pipeline(images[rows])
        return images

    def affine_matrices(self, batch: Batch, size: int, choice: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample (B, 2, 3) maps from source to augmented pixel coordinates (identity where not drawn): the
        random resized crop, then the warp. ``choice``: each sample's option set (``option_choice``)."""
        image = batch["image"]
        b, device = image.shape[0], image.device
        if choice is None:
            choice = self.option_choice(batch)
        drawn = torch.rand(b, device=device) < self._per_sample("affine", choice)
        angle = (torch.rand(b, device=device) * 2 - 1) * self._per_sample("rotate", choice)
        masks = batch.get("task_mask", {})
        for task in self.tasks:
            if not task.rotation_invariant and task.name in masks:
                angle = torch.where(masks[task.name].to(device), torch.zeros_like(angle), angle)
        low, high = self._per_sample("scale", choice).unbind(-1)
        zoom = low + torch.rand(b, device=device) * (high - low)
        shift = (torch.rand(b, 2, device=device) * 2 - 1) * (self._per_sample("translate", choice) * size)[:, None]
        angle, zoom, shift = angle * drawn, torch.where(drawn, zoom, torch.ones_like(zoom)), shift * drawn[:, None]
        centre = torch.full((b, 2), (size - 1) / 2, device=device)
        matrix = get_rotation_matrix2d(centre, angle, zoom[:, None].expand(b, 2))
        matrix[:, :, 2] += shift
        if any(o.resize > 0 for o in self.options):
            crop = self._resized_crop_matrices(b, size, choice)
            matrix = torch.cat(
                [matrix[:, :, :2] @ crop[:, :, :2], (matrix[:, :, :2] @ crop[:, :, 2:]) + matrix[:, :, 2:]], -1
            )
        return matrix

    def _resized_crop_matrices(self, b: int, size: int, choice: torch.Tensor) -> torch.Tensor:
        """(B, 2, 3): a square of side fraction f (drawn in ``resize_scale``) at a random place inside the image
        -> the whole image (pixel u -> (u - corner) / f); identity where the crop is not drawn."""
        device = choice.device
        drawn = torch.rand(b, device=device) < self._per_sample("resize", choice)
        low, high = self._per_sample("resize_scale", choice).unbind(-1)
        fraction = torch.where(drawn, low + torch.rand(b, device=device) * (high - low), torch.ones_like(low))
        corner = torch.rand(b, 2, device=device) * ((size - 1) * (1 - fraction))[:, None]
        matrix = torch.zeros(b, 2, 3, device=device)
        matrix[:, 0, 0] = matrix[:, 1, 1] = 1 / fraction
        matrix[:, :, 2] = -corner / fraction[:, None]
        return matrix

    def _affine(self, batch: Batch, size: int, choice: torch.Tensor) -> None:
        matrix = self.affine_matrices(batch, size, choice)
        batch["image"] = warp_affine(batch["image"], matrix, (size, size), align_corners=True)
        for key in self._keys(batch, "mask_keys"):
            labels = batch[key]
            warped = warp_affine(labels[:, None].float(), matrix, (size, size), mode="nearest", align_corners=True)
            batch[key] = warped[:, 0].round().to(labels.dtype)
        for key in self._keys(batch, "keypoint_keys"):
            points = batch[key]
            batch[key] = points @ matrix[:, :, :2].transpose(1, 2).to(points.dtype) + matrix[:, None, :, 2]
