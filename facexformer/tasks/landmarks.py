"""Facial landmarks: N points regressed from one token, in the released normalised coordinates."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.landmark_schemes import SCHEMES, scheme_for
from facexformer.losses.wing import SmoothL1Loss, WingLoss
from facexformer.metrics.landmarks import AUC, NME, FailureRate
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task


def pixels_to_normalized(points: torch.Tensor, size: int) -> torch.Tensor:
    """(…, 2) pixels of a size×size crop (pixel centres at integers) -> [-1, 1] (align_corners=False)."""
    return (2 * points + 1) / size - 1


def normalized_to_pixels(points: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of ``pixels_to_normalized``: [-1, 1] -> pixels; -1 is -0.5 and +1 is size - 0.5."""
    return ((points + 1) * size - 1) / 2


class Landmarks(Task):
    """``num_points`` landmarks. Output (B, N, 2) normalised (x, y); labels ``landmarks`` (B, N, 2) pixels.

    Losses on coordinates: ``"wing"`` (STAR's Wing), ``"smoothl1"``, ``"l1"``. Metrics: NME with the
    scheme's default normalisation, failure rate and AUC at ``threshold``.
    """

    name = "landmarks"
    label_keys = ("landmarks",)
    keypoint_keys = ("landmarks",)
    official_prefixes = {
        "face_decoder.landmarks_token.": "tokens.landmarks.",
        "face_decoder.landmarks_prediction_head.": "heads.landmarks.mlp.",
    }
    losses = {"wing": WingLoss, "smoothl1": SmoothL1Loss, "l1": nn.L1Loss}

    def __init__(self, num_points: int = 68, loss: str = "wing", threshold: float = 0.1, weight: float = 1.0):
        super().__init__(weight)
        if loss not in self.losses:
            raise ValueError(f"landmarks: unknown loss {loss!r}; choose one of {sorted(self.losses)}")
        self.num_points, self.loss_name, self.threshold = num_points, loss, threshold
        self.remember(num_points=num_points, loss=loss, threshold=threshold)

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.num_points, 2))

    def build_loss(self) -> nn.Module:
        return self.losses[self.loss_name]()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        target = pixels_to_normalized(batch["landmarks"], batch["image"].shape[-1])
        return criterion(output, target.to(output.dtype))

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

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """(B, N, 2) normalised -> (B, N, 2) pixels of the size×size crop."""
        return normalized_to_pixels(output, size)
