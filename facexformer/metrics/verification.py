"""1:1 face-verification accuracy with InsightFace's 10-fold protocol (``TASKS.md`` §8).

For each pair: embeddings L2-normalised, distance = squared L2 (in [0, 4]); "same" is predicted when
distance < threshold. The pairs are cut, in order and without shuffling, into ``folds`` consecutive folds
(sizes as sklearn's ``KFold``); for each fold the threshold in arange(0, 4, 0.01) with the best accuracy on
the other folds (first best on ties) is applied to it. Result: mean and population std of the fold accuracies.

Because folds depend on pair order, give each pair's dataset ``index`` under DDP: ``compute`` then sorts the
gathered pairs by it and drops duplicates (the padding DistributedSampler adds), so every process count gives
the single-process value.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from facexformer.metrics.float64_states import Float64States


def _is_empty(state: list[Tensor] | Tensor) -> bool:
    """A list state before synchronisation, one concatenated tensor after it: does it hold any element?"""
    parts = state if isinstance(state, list) else [state]
    return sum(part.numel() for part in parts) == 0


def flip_sum_embedding(embedding: Tensor, flipped_embedding: Tensor) -> Tensor:
    """InsightFace test-time embedding: L2-normalise(emb(image) + emb(mirrored image)); (B, D) -> (B, D)."""
    return F.normalize(embedding + flipped_embedding, dim=-1)


def fold_bounds(num_pairs: int, folds: int) -> list[tuple[int, int]]:
    """[start, end) of each consecutive fold; the first ``num_pairs % folds`` folds are one pair longer."""
    sizes = [num_pairs // folds + (1 if k < num_pairs % folds else 0) for k in range(folds)]
    ends = torch.tensor(sizes).cumsum(0).tolist()
    return [(end - size, end) for size, end in zip(sizes, ends, strict=True)]


def kfold_accuracy(distance: Tensor, same: Tensor, folds: int = 10) -> Tensor:
    """(N,) squared distances, (N,) bool labels -> (folds,) accuracy of each fold at its chosen threshold."""
    # i * 0.01 reproduces numpy's arange(0, 4, 0.01) bit for bit (torch.arange differs by an ulp at some i)
    thresholds = torch.arange(400, dtype=torch.float64, device=distance.device) * 0.01
    correct = (distance.double()[None, :] < thresholds[:, None]) == same.bool()[None, :]  # (T, N)
    accuracies = []
    for start, end in fold_bounds(distance.numel(), folds):
        test = torch.zeros(distance.numel(), dtype=torch.bool, device=distance.device)
        test[start:end] = True
        best = correct[:, ~test].double().mean(dim=1).argmax()
        accuracies.append(correct[best, test].double().mean())
    return torch.stack(accuracies)


class VerificationAccuracy(Float64States):
    """10-fold verification accuracy; ``compute()`` -> {"accuracy", "accuracy_std"} (fractions in [0, 1]).

    ``update(embeddings1 (B, D), embeddings2 (B, D), issame (B,) bool, index (B,) int64 or None)``.
    Give ``index`` in every update or in none. NaN (with no error) while there are fewer pairs than folds.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, folds: int = 10, **kwargs: Any):
        super().__init__(**kwargs)
        if folds < 2:
            raise ValueError(f"VerificationAccuracy: folds must be >= 2, got {folds}")
        self.folds = folds
        self.add_state("distance", default=[], dist_reduce_fx="cat")
        self.add_state("same", default=[], dist_reduce_fx="cat")
        self.add_state("index", default=[], dist_reduce_fx="cat")

    def update(self, embeddings1: Tensor, embeddings2: Tensor, issame: Tensor, index: Tensor | None = None) -> None:
        if embeddings1.ndim != 2 or embeddings1.shape != embeddings2.shape:
            raise ValueError(
                "VerificationAccuracy: embeddings must be two (B, D) tensors of one shape, got "
                f"{tuple(embeddings1.shape)} and {tuple(embeddings2.shape)}"
            )
        batch = embeddings1.shape[0]
        if issame.shape != (batch,) or (index is not None and index.shape != (batch,)):
            raise ValueError(f"VerificationAccuracy: issame and index must be ({batch},)")
        difference = F.normalize(embeddings1.double(), dim=1) - F.normalize(embeddings2.double(), dim=1)
        self.distance.append(difference.pow(2).sum(dim=1))
        # float64 (exact for 0/1 and indices below 2**53): see facexformer.metrics.float64_states
        self.same.append(issame.double())
        if index is not None:
            self.index.append(index.double())

    def _pairs(self) -> tuple[Tensor, Tensor]:
        distance = dim_zero_cat(self.distance)
        same = dim_zero_cat(self.same).bool()
        if _is_empty(self.index):
            return distance, same
        index = dim_zero_cat(self.index).long()
        if index.numel() != distance.numel():
            raise ValueError("VerificationAccuracy: give `index` in every update or in none")
        order = torch.argsort(index, stable=True)
        index, distance, same = index[order], distance[order], same[order]
        first = torch.ones_like(index, dtype=torch.bool)
        first[1:] = index[1:] != index[:-1]
        return distance[first], same[first]

    def compute(self) -> dict[str, Tensor]:
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=self.device)
        if _is_empty(self.distance):
            return {"accuracy": nan, "accuracy_std": nan}
        distance, same = self._pairs()
        if distance.numel() < self.folds:
            return {"accuracy": nan, "accuracy_std": nan}
        accuracy = kfold_accuracy(distance, same, self.folds)
        return {"accuracy": accuracy.mean(), "accuracy_std": accuracy.std(unbiased=False)}
