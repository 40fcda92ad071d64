import math

import pytest
import torch

from facexformer.metrics.verification import VerificationAccuracy, flip_sum_embedding, fold_bounds


def _pairs(distances: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit 2-D embeddings whose squared L2 distance is each given value (2 - 2 cos angle)."""
    angles = torch.tensor([math.acos(1 - d / 2) for d in distances], dtype=torch.float64)
    first = torch.stack([torch.ones_like(angles), torch.zeros_like(angles)], dim=1) * 3.0  # norm irrelevant
    second = torch.stack([angles.cos(), angles.sin()], dim=1)
    return first, second


def test_fold_bounds_follow_kfold_sizes():
    assert fold_bounds(23, 10) == [(0, 3), (3, 6), (6, 9)] + [(9 + 2 * k, 11 + 2 * k) for k in range(7)]


def test_separable_pairs_score_one_and_a_mislabelled_pair_costs_its_fold():
    same = torch.tensor([True, False] * 10)
    first, second = _pairs([0.5 if s else 1.5 for s in same.tolist()])
    metric = VerificationAccuracy()
    metric.update(first, second, same)
    result = metric.compute()
    assert result["accuracy"].item() == pytest.approx(1.0)
    assert result["accuracy_std"].item() == pytest.approx(0.0)
    # pair 0 (fold 0) labelled "different" although close: fold 0 scores 1/2, the other nine folds 1
    flipped = same.clone()
    flipped[0] = False
    metric = VerificationAccuracy()
    metric.update(first, second, flipped)
    result = metric.compute()
    assert result["accuracy"].item() == pytest.approx(0.95)
    assert result["accuracy_std"].item() == pytest.approx(0.15)


def test_index_restores_dataset_order_and_drops_duplicates():
    torch.manual_seed(0)
    first, second = torch.randn(30, 8, dtype=torch.float64), torch.randn(30, 8, dtype=torch.float64)
    same = torch.rand(30) < 0.5
    ordered = VerificationAccuracy()
    ordered.update(first, second, same)
    shuffled = VerificationAccuracy()
    order = torch.cat([torch.randperm(30), torch.tensor([4, 7])])  # two padded duplicates
    shuffled.update(first[order[:16]], second[order[:16]], same[order[:16]], order[:16])
    shuffled.update(first[order[16:]], second[order[16:]], same[order[16:]], order[16:])
    for key, value in ordered.compute().items():
        assert shuffled.compute()[key].item() == pytest.approx(value.item())


def test_too_few_pairs_is_nan_and_mixed_index_use_raises():
    metric = VerificationAccuracy()
    assert math.isnan(metric.compute()["accuracy"].item())
    first, second = _pairs([0.5] * 5)
    metric.update(first, second, torch.ones(5, dtype=torch.bool))
    assert math.isnan(metric.compute()["accuracy"].item())
    metric.update(first, second, torch.ones(5, dtype=torch.bool), torch.arange(5))
    with pytest.raises(ValueError, match="every update or in none"):
        metric.compute()


def test_flip_sum_embedding_is_unit_norm():
    embedding = flip_sum_embedding(torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 4.0]]))
    assert torch.allclose(embedding, torch.tensor([[0.6, 0.8]]))
