import math

import pytest
import torch

from facexformer.metrics.visibility import RecallAtPrecision


def _sweep(scores: torch.Tensor, labels: torch.Tensor, min_precision: float) -> float:
    """Highest recall over thresholds t (predict occluded when score >= t) with precision >= min_precision."""
    best = 0.0
    positives = int(labels.sum())
    for threshold in scores.unique():
        predicted = scores >= threshold
        true_pos = int((predicted & labels.bool()).sum())
        if true_pos / int(predicted.sum()) >= min_precision:
            best = max(best, true_pos / positives)
    return best


def test_recall_at_precision_on_a_hand_example():
    scores = torch.tensor([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]])
    labels = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    # t = 0.5: 4 TP, 1 FP -> precision 0.8, recall 1; the loosest point with precision >= 0.85 is t = 0.8
    at_80 = RecallAtPrecision(0.8, from_logits=False)
    at_80.update(scores, labels)
    assert at_80.compute().item() == pytest.approx(1.0)
    assert at_80.compute_with_threshold()[1].item() == pytest.approx(0.5)
    at_85 = RecallAtPrecision(0.85, from_logits=False)
    at_85.update(scores, labels)
    assert at_85.compute().item() == pytest.approx(0.5)


def test_recall_at_precision_matches_a_threshold_sweep_on_logits():
    torch.manual_seed(0)
    labels = (torch.rand(12, 29) < 0.3).float()
    logits = torch.randn(12, 29) + 1.5 * labels
    metric = RecallAtPrecision()
    metric.update(logits[:5], labels[:5])
    metric.update(logits[5:], labels[5:])
    expected = _sweep(logits.sigmoid().flatten(), labels.flatten(), 0.8)
    assert 0.0 < expected < 1.0
    assert metric.compute().item() == pytest.approx(expected)


def test_empty_state_is_nan_and_shapes_must_match():
    metric = RecallAtPrecision()
    assert math.isnan(metric.compute().item())
    with pytest.raises(ValueError, match="!="):
        metric.update(torch.zeros(2, 29), torch.zeros(2, 28))
