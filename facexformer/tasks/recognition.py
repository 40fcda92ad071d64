"""Face recognition (paper v3 §3.4): one token -> an identity embedding trained with ArcFace."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer.losses.arcface import ArcFaceLoss
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.label import Label


class Recognition(Task):
    """Output (B, embedding_dim) un-normalised embeddings; label ``identity`` (B,) int64 in [0, num_identities).

    Loss: ArcFace (``ArcFaceLoss``: scale, angular margin in radians, PartialFC-style ``sample_rate``), computed
    in float32 even under autocast (with s = 64, bf16 cosines would move the logits by ~0.25). The loss module
    holds the (num_identities, embedding_dim) class centres and trains with the model.

    Metric ``identity_accuracy``: closed-set top-1 accuracy of the nearest class centre by cosine, i.e. the
    argmax of the ArcFace logits without margin. It scores every labelled sample, unlike a within-batch pair
    metric, which gets almost no same-identity pairs from random batches of a large set (MS1MV3: 93k ids).
    The open-set benchmarks (LFW, CFP-FP, ...) are ``facexformer.evaluation.recognition.evaluate_verification``.
    The centres live in the model's criterion (``build_loss``), which the model passes to ``update_metrics`` and
    ``trivial_output``; the task itself holds no module. A mirrored face keeps its identity: ``flip`` changes
    nothing.
    """

    name = "recognition"
    scores_with_criterion = True  # identity accuracy: the nearest class centre of the ArcFace loss
    labels = (Label("identity", "class", classes="num_identities"),)

    def __init__(
        self,
        num_identities: int,
        embedding_dim: int = 512,
        scale: float = 64.0,
        margin: float = 0.5,
        sample_rate: float = 1.0,
        weight: float = 1.0,
    ):
        super().__init__(weight)
        if num_identities < 2:
            raise ValueError(f"recognition: need at least 2 identities, got {num_identities}")
        if embedding_dim < 1:
            raise ValueError(f"recognition: embedding_dim must be positive, got {embedding_dim}")
        self.num_identities, self.embedding_dim = num_identities, embedding_dim
        self.scale, self.margin, self.sample_rate = scale, margin, sample_rate
        self.remember(
            num_identities=num_identities,
            embedding_dim=embedding_dim,
            scale=scale,
            margin=margin,
            sample_rate=sample_rate,
        )

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (self.embedding_dim,))

    def build_loss(self) -> nn.Module:
        return ArcFaceLoss(self.embedding_dim, self.num_identities, self.scale, self.margin, self.sample_rate)

    def centres(self, criterion: nn.Module | None) -> torch.Tensor:
        """(num_identities, embedding_dim) class centres (not normalised) of ``criterion``, the model's
        ``build_loss`` module."""
        if not isinstance(criterion, ArcFaceLoss):
            raise TypeError(
                "recognition: the class centres live in the model's criterion (an ArcFaceLoss from build_loss); "
                f"pass it as criterion=model.criteria['{self.name}'], got {type(criterion).__name__}"
            )
        return criterion.weight

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        with torch.autocast(output.device.type, enabled=False):
            return criterion(output.float(), batch["identity"].long())

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"identity_accuracy": MulticlassAccuracy(self.num_identities, average="micro")})

    def nearest_identity(self, output: torch.Tensor, criterion: nn.Module) -> torch.Tensor:
        """(B, embedding_dim) embeddings -> (B,) int64 index of the most cosine-similar class centre of
        ``criterion``."""
        with torch.autocast(output.device.type, enabled=False):
            centres = F.normalize(self.centres(criterion).detach().float(), dim=1)
            return (F.normalize(output.detach().float(), dim=1) @ centres.T).argmax(dim=1)

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module
    ) -> None:
        metrics.update(self.nearest_identity(output, criterion), batch["identity"].long())

    def trivial_output(self, batch: Batch, criterion: nn.Module) -> torch.Tensor:
        """(1, embedding_dim): the centre of the most frequent identity in ``batch``, so every face is matched
        to the majority identity (the best constant guess for ``identity_accuracy``)."""
        counts = torch.bincount(batch["identity"].long().flatten(), minlength=self.num_identities)
        return self.centres(criterion).detach()[int(counts.argmax())][None].clone()

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Raw output -> (B, embedding_dim) L2-normalised float32 embeddings (compare by cosine)."""
        return F.normalize(output.float(), dim=-1)
