import math

import pytest
import torch

from facexformer.metrics.age import AgeMAE


def test_age_mae_from_bin_logits_skips_unknown_years():
    logits = torch.full((3, 8), -1e4)
    logits[0, 2] = 0.0  # expected age 24.5
    logits[1, 5] = 0.0  # 54.5, age unknown
    logits[2, 7] = 0.0  # 75
    metric = AgeMAE()
    metric.update(logits, torch.tensor([30.0, math.nan, 70.0]))
    assert metric.compute().item() == pytest.approx((5.5 + 5.0) / 2)


def test_age_mae_accepts_years_and_is_nan_without_known_ages():
    metric = AgeMAE()
    metric.update(torch.tensor([20.0, 40.0]), torch.tensor([math.nan, math.nan]))
    assert math.isnan(metric.compute().item())
    metric.update(torch.tensor([20.0]), torch.tensor([23.0]))
    assert metric.compute().item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="logits or"):
        metric.update(torch.zeros(2, 8), torch.zeros(3))
