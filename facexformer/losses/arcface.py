"""ArcFace (additive angular margin) loss with its own class centres, and PartialFC-style class sampling.

Logits are s · cos θ_j for the normalised embedding against each normalised class centre, with the target's
angle widened to θ_y + m. Where θ_y + m would pass π (cos θ_y < cos(π − m)) the target logit falls back to
s · (cos θ_y − m · sin m), which keeps it decreasing in θ_y (the original ArcFace's "easy_margin=False" rule).
Defaults s = 64, m = 0.5 are InsightFace arcface_torch's (``TASKS.md`` §8; the paper gives none).

With ``sample_rate < 1`` (training mode only), each step scores a random subset of
max(round(sample_rate · C), #positives) class centres that always contains the batch's classes, as PartialFC
does. Unlike PartialFC, the centres are not sharded across processes: every rank holds all of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ArcFaceLoss(nn.Module):
    """ArcFace cross-entropy on (B, D) embeddings and (B,) int64 identities -> scalar.

    Holds the (num_classes, embedding_dim) class-centre matrix ``weight`` as a parameter.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        scale: float = 64.0,
        margin: float = 0.5,
        sample_rate: float = 1.0,
    ):
        super().__init__()
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"ArcFaceLoss: sample_rate must lie in (0, 1], got {sample_rate}")
        if not 0.0 <= margin < math.pi / 2:
            raise ValueError(f"ArcFaceLoss: margin must lie in [0, pi/2) radians, got {margin}")
        self.num_classes = num_classes
        self.scale = scale
        self.margin = margin
        self.sample_rate = sample_rate
        self.num_sample = max(1, int(round(sample_rate * num_classes)))
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim).normal_(0.0, 0.01))

    def sample_classes(self, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Pick the class centres to score: (K,) sorted class indices and the (B,) labels remapped into them.

        Every class present in ``labels`` is kept; the rest of the K slots are drawn uniformly at random.
        """
        positives = torch.unique(labels)
        if positives.numel() >= self.num_sample:
            index = positives
        else:
            priority = torch.rand(self.num_classes, device=labels.device)
            priority[positives] = 2.0
            index = priority.topk(self.num_sample).indices.sort().values
        return index, torch.searchsorted(index, labels)

    def margin_logits(self, cosine: Tensor, labels: Tensor) -> Tensor:
        """(B, K) cosines and (B,) target columns -> (B, K) scaled logits, angular margin on the targets."""
        target = cosine.gather(1, labels[:, None])
        sine = (1.0 - target * target).clamp(min=1e-9).sqrt()
        widened = target * math.cos(self.margin) - sine * math.sin(self.margin)
        fallback = target - self.margin * math.sin(self.margin)
        target_logit = torch.where(target > math.cos(math.pi - self.margin), widened, fallback)
        return self.scale * cosine.scatter(1, labels[:, None], target_logit)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"ArcFaceLoss: embeddings must be (B, {self.weight.shape[1]}), got {tuple(embeddings.shape)}"
            )
        if labels.shape != embeddings.shape[:1] or labels.dtype.is_floating_point:
            raise ValueError(
                f"ArcFaceLoss: labels must be ({embeddings.shape[0]},) integers, "
                f"got {labels.dtype} {tuple(labels.shape)}"
            )
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"ArcFaceLoss: identities must lie in [0, {self.num_classes - 1}], "
                f"found [{int(labels.min())}, {int(labels.max())}]"
            )
        weight = self.weight
        if self.training and self.num_sample < self.num_classes:
            index, labels = self.sample_classes(labels)
            weight = weight[index]
        cosine = F.normalize(embeddings, dim=1) @ F.normalize(weight, dim=1).T
        return F.cross_entropy(self.margin_logits(cosine.clamp(-1.0, 1.0), labels), labels)
