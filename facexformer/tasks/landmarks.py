"""Facial landmarks: N points, either regressed from one token or decoded from one heatmap per point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.geometry.crop import CropWindow, uncrop_points
from facexformer.geometry.landmark_schemes import default_normalization, scheme_for
from facexformer.losses.awing import AdaptiveWingLoss
from facexformer.losses.masked import CoordinateL1Loss, HeatmapMSELoss
from facexformer.losses.star import STARLoss
from facexformer.losses.wing import SmoothL1Loss, WingLoss
from facexformer.metrics.landmarks import AUC, NME, DegenerateTargets, FailureRate, NonFinitePredictions, resolve_groups
from facexformer.model.heads import TokenHead
from facexformer.model.heatmap_head import HeatmapHead, render_gaussians, soft_argmax
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.drawing import Box, Overlay
from facexformer.tasks.label import Label

PREDICTION_COLOUR, LABEL_COLOUR = (0, 255, 0), (255, 0, 0)


def pixels_to_normalized(points: torch.Tensor, size: int) -> torch.Tensor:
    """(…, 2) pixels of a size×size crop (pixel centres at integers) -> [-1, 1] (align_corners=False)."""
    return (2 * points + 1) / size - 1


def normalized_to_pixels(points: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of ``pixels_to_normalized``: [-1, 1] -> pixels; -1 is -0.5 and +1 is size - 0.5."""
    return ((points + 1) * size - 1) / 2


def pixels_to_heatmap(points: torch.Tensor, size: int, heatmap_size: int) -> torch.Tensor:
    """(…, 2) pixels of a size×size crop -> pixels of a heatmap_size² map covering the same square.

    Both grids put pixel centres at integers and share the crop's outer edges (align_corners=False):
    crop pixel u sits at (u + 0.5) · heatmap_size / size - 0.5.
    """
    return (points + 0.5) * (heatmap_size / size) - 0.5


def heatmap_to_pixels(points: torch.Tensor, size: int, heatmap_size: int) -> torch.Tensor:
    """Inverse of ``pixels_to_heatmap``: (…, 2) heatmap pixels -> pixels of the size×size crop."""
    return (points + 0.5) * (size / heatmap_size) - 0.5


def pixels_to_star(points: torch.Tensor, size: int, heatmap_size: int) -> torch.Tensor:
    """(…, 2) crop pixels -> STAR's heatmap coordinates, clamped to [-1, 1] as STAR clamps its labels.

    STAR's grid is align_corners=True on the heatmap: column j of a W-wide map is 2j / (W - 1) - 1. The
    crop point is first placed exactly on the heatmap (``pixels_to_heatmap``). STAR itself feeds its
    align_corners=False crop coordinates straight into that grid, which shifts points by up to half a
    heatmap pixel towards the centre; here the heatmap peak sits over the point it marks.
    """
    columns = pixels_to_heatmap(points, size, heatmap_size)
    return (2 * columns / (heatmap_size - 1) - 1).clamp(-1, 1)


class RegressionVariant:
    """The released head: one token, an MLP to (B, N, 2) coordinates normalised to [-1, 1]."""

    num_tokens = 1

    def __init__(self, num_points: int, criterion: type[nn.Module]):
        self.num_points, self.criterion = num_points, criterion

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.num_points, 2))

    def loss(self, criterion: nn.Module, output: torch.Tensor, points: torch.Tensor, size: int) -> torch.Tensor:
        """(B, N, 2) output against (B, N, 2) points in pixels of the size×size crop."""
        return criterion(output, pixels_to_normalized(points, size).to(output.dtype))

    def trivial_output(self, mean: torch.Tensor, size: int) -> torch.Tensor:
        return pixels_to_normalized(mean, size)

    def decode(self, output: torch.Tensor, size: int) -> torch.Tensor:
        # in float32 at least: bf16 pixels near 200 are 1 px apart
        return normalized_to_pixels(output.to(torch.promote_types(output.dtype, torch.float32)), size)


class HeatmapVariant:
    """One token per point, one heatmap per token (``HeatmapHead``), decoded by a windowed soft-argmax."""

    def __init__(
        self,
        num_points: int,
        criterion: type[nn.Module],
        star: bool,
        heatmap_size: int | None,
        sigma: float,
        decode_window: int | None,
        upscale: int,
    ):
        self.num_points, self.criterion, self.star = num_points, criterion, star
        self.heatmap_size, self.sigma, self.upscale = heatmap_size, sigma, upscale
        self.window = round(3 * sigma) if decode_window is None and not star else decode_window

    @property
    def num_tokens(self) -> int:
        return self.num_points

    def build_head(self, dim: int) -> nn.Module:
        activation = "softmax" if self.star else "none"
        return HeatmapHead(dim, self.num_points, self.heatmap_size, activation, upscale=self.upscale)

    def loss(self, criterion: nn.Module, output: torch.Tensor, points: torch.Tensor, size: int) -> torch.Tensor:
        """(B, N, H, W) maps against (B, N, 2) points in pixels of the size×size crop."""
        heatmap_size = output.shape[-1]
        if self.star:
            return criterion(output, pixels_to_star(points, size, heatmap_size))
        centres = pixels_to_heatmap(points, size, heatmap_size)
        target = render_gaussians(centres, output.shape[-2], heatmap_size, self.sigma)
        return criterion(output.float(), target)

    def trivial_output(self, mean: torch.Tensor, size: int) -> torch.Tensor:
        heatmap_size = self.heatmap_size or size
        return render_gaussians(pixels_to_heatmap(mean, size, heatmap_size), heatmap_size, heatmap_size, self.sigma)

    def decode(self, output: torch.Tensor, size: int) -> torch.Tensor:
        return heatmap_to_pixels(soft_argmax(output.clamp_min(0), self.window), size, output.shape[-1])


class Landmarks(Task):
    """``num_points`` landmarks; label ``landmarks`` (B, N, 2) pixels of the S×S crop.

    ``head="regression"`` (the released head): raw output (B, N, 2) normalised (x, y) in [-1, 1]
    (``pixels_to_normalized``), from one token; losses on coordinates: ``"wing"`` (STAR's Wing),
    ``"smoothl1"``, ``"l1"``.

    ``head="heatmap"``: one token per point; raw output (B, N, H, W) heatmaps with H = W = ``heatmap_size``
    (None: the face-token grid times ``heatmap_upscale``, S for a stride-4 backbone), heatmap pixel grid as
    in ``pixels_to_heatmap``; the maps are computed at that upscaled grid and resized. Losses: ``"star"``
    (STAR v2 on softmax-normalised maps, targets from ``pixels_to_star``), ``"awing"`` (Adaptive Wing) or
    ``"l2"`` (mean squared error) on raw maps against Gaussians of ``sigma`` heatmap pixels with peak 1.
    ``decode`` takes the soft-argmax of the maps' positive part (differentiable), within ±``decode_window``
    heatmap pixels of each map's argmax; by default the whole map for "star" (its loss acts on that global
    mean) and round(3 sigma) for the Gaussian-target losses (their maps keep small values far from the
    peak). The heatmap head has no released weights.

    Missing points (NaN in ``landmarks``) are left out of every loss, per point and per sample; a sample
    with no annotated point adds nothing (``facexformer.losses.masked``).

    Metrics: NME, failure rate and AUC at ``threshold``, measured in original-image pixels, so the number
    does not depend on the crop: where the batch records the crop (``crop`` (B, 4), see
    ``facexformer.data.crop.CropFace``), predictions and labels are mapped back through it first (rows without
    one are scored in crop pixels). ``normalization``: ``"inter_ocular"`` (outer eye corners), ``"inter_pupil"``,
    ``"bbox"``, ``"diagonal"`` (of the landmark extent) or ``"none"``; None takes the scheme's default
    (``landmark_schemes.default_normalization``). A batch key ``landmarks_norm`` (B,) pixels, where finite,
    is the dataset's own normalising distance and wins (AFLW-19's csv ``box_size``). ``nonfinite`` counts
    images whose prediction is not finite (each a failure, NME NaN) and ``degenerate`` the images skipped for
    a ground truth without a normalising distance.
    """

    name = "landmarks"
    labels = (Label("landmarks", "keypoints", ("num_points", 2)),)
    released_prefixes = {
        "face_decoder.landmarks_token.": "tokens.landmarks.",
        "face_decoder.landmarks_prediction_head.": "heads.landmarks.mlp.",
    }
    losses: dict[str, dict[str, Any]] = {
        "regression": {"wing": WingLoss, "smoothl1": SmoothL1Loss, "l1": CoordinateL1Loss},
        "heatmap": {"star": STARLoss, "awing": AdaptiveWingLoss, "l2": HeatmapMSELoss},
    }

    def __init__(
        self,
        num_points: int = 68,
        loss: str = "wing",
        threshold: float = 0.1,
        weight: float = 1.0,
        head: str = "regression",
        heatmap_size: int | None = None,
        sigma: float = 1.5,
        decode_window: int | None = None,
        heatmap_upscale: int = 4,
        normalization: str | None = None,
    ):
        super().__init__(weight)
        if head not in self.losses:
            raise ValueError(f"landmarks: unknown head {head!r}; choose one of {sorted(self.losses)}")
        if loss not in self.losses[head]:
            other = next(h for h in self.losses if h != head)
            hint = f" ({loss!r} is a {other}-head loss)" if loss in self.losses[other] else ""
            choices = sorted(self.losses[head])
            raise ValueError(f"landmarks: loss {loss!r} does not fit head={head!r}{hint}; choose from {choices}")
        if head == "regression" and (heatmap_size is not None or decode_window is not None or heatmap_upscale != 4):
            raise ValueError("landmarks: heatmap_size, heatmap_upscale and decode_window only apply to head='heatmap'")
        if heatmap_upscale not in (1, 2, 4):
            raise ValueError(f"landmarks: heatmap_upscale must be 1, 2 or 4, got {heatmap_upscale}")
        if sigma <= 0:
            raise ValueError(f"landmarks: sigma must be positive, got {sigma}")
        self.normalization = normalization or default_normalization(num_points)
        try:
            resolve_groups(self.normalization, num_points)
        except ValueError as err:
            raise ValueError(f"landmarks: {err}") from err
        self.num_points, self.loss_name, self.threshold = num_points, loss, threshold
        self.head, self.heatmap_size = head, heatmap_size
        self.sigma, self.decode_window, self.heatmap_upscale = sigma, decode_window, heatmap_upscale
        criterion = self.losses[head][loss]
        self.variant: RegressionVariant | HeatmapVariant
        if head == "heatmap":
            self.released_prefixes = {}
            self.variant = HeatmapVariant(
                num_points, criterion, loss == "star", heatmap_size, sigma, decode_window, heatmap_upscale
            )
        else:
            self.variant = RegressionVariant(num_points, criterion)
        self.remember(
            num_points=num_points,
            loss=loss,
            threshold=threshold,
            head=head,
            heatmap_size=heatmap_size,
            sigma=sigma,
            decode_window=decode_window,
            heatmap_upscale=heatmap_upscale,
            normalization=normalization,
        )

    @property
    def num_tokens(self) -> int:
        return self.variant.num_tokens

    def build_head(self, dim: int) -> nn.Module:
        return self.variant.build_head(dim)

    def build_loss(self) -> nn.Module:
        return self.variant.criterion()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.variant.loss(criterion, output, batch["landmarks"].float(), batch["image"].shape[-1])

    def build_metrics(self) -> MetricCollection:
        kwargs = {"normalization": self.normalization, "num_landmarks": self.num_points}
        return MetricCollection(
            {
                "nme": NME(**kwargs),
                "fr": FailureRate(threshold=self.threshold, **kwargs),
                "auc": AUC(threshold=self.threshold, **kwargs),
                "nonfinite": NonFinitePredictions(**kwargs),
                "degenerate": DegenerateTargets(**kwargs),
            },
            compute_groups=True,
        )

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        size = batch["image"].shape[-1]
        preds = self.decode(output.detach().double(), size)
        target = batch["landmarks"].double()
        if batch.get("crop") is not None:
            crop = batch["crop"].to(device=preds.device, dtype=torch.float64)
            crop = torch.where(crop.isfinite().all(-1, keepdim=True), crop, crop.new_tensor([0, 0, size, size]))
            preds, target = uncrop_points(preds, crop, size), uncrop_points(target, crop, size)
        metrics.update(preds, target, distance=batch.get("landmarks_norm"))

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        index = torch.tensor(scheme_for(self.num_points).flip_index, device=flipped.device)
        batch["landmarks"][flipped] = batch["landmarks"][flipped][:, index]

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        """The training mean shape (1, N, 2) normalised, or its Gaussian maps for the heatmap head."""
        mean = batch["landmarks"].float().nanmean(0, keepdim=True)
        return self.variant.trivial_output(mean, batch["image"].shape[-1])

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Raw output -> (B, N, 2) pixels of the size×size crop.

        Regression: (B, N, 2) normalised. Heatmap: (B, N, H, W) maps, by soft-argmax (see the class).
        """
        return self.variant.decode(output, size)

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[np.ndarray]:
        """-> per face (N, 2) float32 pixels (x, y) of its photo."""
        points = self.decode(output, crops[0].size).float().cpu()
        return [crop.invert_points(p).numpy() for crop, p in zip(crops, points, strict=True)]

    @classmethod
    def to_json(cls, value: np.ndarray) -> dict[str, Any]:
        return {cls.name: np.asarray(value, dtype=float).tolist()}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(record[cls.name], dtype=np.float32).reshape(-1, 2)

    @classmethod
    def draw(cls, overlay: Overlay, value: np.ndarray, box: Box, reference: bool = False) -> None:
        """Green dots (labels: red)."""
        overlay.points(value, LABEL_COLOUR if reference else PREDICTION_COLOUR)

    def reference(self, batch: Batch, index: int) -> np.ndarray | None:
        points = batch.get("landmarks")
        if points is None or bool(torch.isnan(points[index]).all()):
            return None
        return points[index].float().cpu().numpy()
