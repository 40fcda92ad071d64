"""Facial landmarks: N points, either regressed from one token or decoded from one heatmap per point."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.landmark_schemes import SCHEMES, scheme_for
from facexformer.losses.awing import AdaptiveWingLoss
from facexformer.losses.star import STARLoss
from facexformer.losses.wing import SmoothL1Loss, WingLoss
from facexformer.metrics.landmarks import AUC, NME, FailureRate
from facexformer.model.heads import TokenHead
from facexformer.model.heatmap_head import HeatmapHead, render_gaussians, soft_argmax
from facexformer.tasks.base import Batch, Task


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

    Metrics (on decoded pixels): NME with the scheme's default normalisation, failure rate and AUC at
    ``threshold``.
    """

    name = "landmarks"
    label_keys = ("landmarks",)
    keypoint_keys = ("landmarks",)
    official_prefixes = {
        "face_decoder.landmarks_token.": "tokens.landmarks.",
        "face_decoder.landmarks_prediction_head.": "heads.landmarks.mlp.",
    }
    losses: dict[str, dict[str, Any]] = {
        "regression": {"wing": WingLoss, "smoothl1": SmoothL1Loss, "l1": nn.L1Loss},
        "heatmap": {"star": STARLoss, "awing": AdaptiveWingLoss, "l2": nn.MSELoss},
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
        self.num_points, self.loss_name, self.threshold = num_points, loss, threshold
        self.head, self.heatmap_size = head, heatmap_size
        self.sigma, self.decode_window, self.heatmap_upscale = sigma, decode_window, heatmap_upscale
        if head == "heatmap":
            self.official_prefixes = {}
        self.remember(
            num_points=num_points,
            loss=loss,
            threshold=threshold,
            head=head,
            heatmap_size=heatmap_size,
            sigma=sigma,
            decode_window=decode_window,
            heatmap_upscale=heatmap_upscale,
        )

    @property
    def num_tokens(self) -> int:
        return self.num_points if self.head == "heatmap" else 1

    def build_head(self, dim: int) -> nn.Module:
        if self.head == "heatmap":
            activation = "softmax" if self.loss_name == "star" else "none"
            return HeatmapHead(dim, self.num_points, self.heatmap_size, activation, upscale=self.heatmap_upscale)
        return TokenHead(dim, (self.num_points, 2))

    def build_loss(self) -> nn.Module:
        return self.losses[self.head][self.loss_name]()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        size = batch["image"].shape[-1]
        points = batch["landmarks"].float()
        if self.head == "regression":
            return criterion(output, pixels_to_normalized(points, size).to(output.dtype))
        heatmap_size = output.shape[-1]
        if self.loss_name == "star":
            return criterion(output, pixels_to_star(points, size, heatmap_size))
        centres = pixels_to_heatmap(points, size, heatmap_size)
        target = render_gaussians(centres, output.shape[-2], heatmap_size, self.sigma)
        return criterion(output.float(), target)

    def build_metrics(self) -> MetricCollection:
        scheme = SCHEMES.get(self.num_points)
        norm = "inter_ocular" if scheme is not None and scheme.ocular else "bbox"
        kwargs = {"normalization": norm, "num_landmarks": self.num_points}
        return MetricCollection(
            {
                "nme": NME(**kwargs),
                "fr": FailureRate(threshold=self.threshold, **kwargs),
                "auc": AUC(threshold=self.threshold, **kwargs),
            },
            compute_groups=True,
        )

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        metrics.update(self.decode(output.detach().float(), batch["image"].shape[-1]), batch["landmarks"])

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        index = torch.tensor(scheme_for(self.num_points).flip_index, device=flipped.device)
        batch["landmarks"][flipped] = batch["landmarks"][flipped][:, index]

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        """The training mean shape (1, N, 2) normalised, or its Gaussian maps for the heatmap head."""
        size = batch["image"].shape[-1]
        mean = batch["landmarks"].float().nanmean(0, keepdim=True)
        if self.head == "regression":
            return pixels_to_normalized(mean, size)
        heatmap_size = self.heatmap_size or size
        return render_gaussians(pixels_to_heatmap(mean, size, heatmap_size), heatmap_size, heatmap_size, self.sigma)

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Raw output -> (B, N, 2) pixels of the size×size crop.

        Regression: (B, N, 2) normalised. Heatmap: (B, N, H, W) maps, by soft-argmax (see the class).
        """
        if self.head == "regression":
            return normalized_to_pixels(output.float(), size)
        window = self.decode_window
        if window is None and self.loss_name != "star":
            window = round(3 * self.sigma)
        return heatmap_to_pixels(soft_argmax(output.clamp_min(0), window), size, output.shape[-1])
