import math

import pytest
import torch
import torch.nn.functional as F

from facexformer.losses.age import AGE_BIN_CENTRES, AgeLoss, expected_age


def test_expected_age_of_one_hot_and_uniform_bins():
    centres = torch.tensor(AGE_BIN_CENTRES)
    logits = torch.full((2, 8), -1e4)
    logits[0, 3] = 0.0
    logits[1] = 0.0
    assert torch.allclose(expected_age(logits, centres), torch.tensor([34.5, sum(AGE_BIN_CENTRES) / 8]))


def test_age_loss_matches_direct_formula_and_skips_unknown_years():
    torch.manual_seed(0)
    logits = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    groups = torch.tensor([2, 0, 7])
    years = torch.tensor([27.0, math.nan, 81.0], dtype=torch.float64)
    probs = logits.softmax(-1)
    centres = torch.tensor(AGE_BIN_CENTRES, dtype=torch.float64)
    expected_years = (probs * centres).sum(-1)
    l1 = ((expected_years[0] - 27).abs() + (expected_years[2] - 81).abs()) / 2
    expected = 0.5 * (l1 + F.cross_entropy(logits, groups))
    loss = AgeLoss()(logits, groups, years)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert torch.autograd.gradcheck(lambda x: AgeLoss()(x, groups, years), (logits,))


def test_age_loss_without_known_years_is_half_the_cross_entropy():
    logits = torch.randn(2, 8)
    groups = torch.tensor([1, 5])
    loss = AgeLoss()(logits, groups, torch.full((2,), math.nan))
    assert torch.allclose(loss, 0.5 * F.cross_entropy(logits, groups))


def test_age_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="age_group and age"):
        AgeLoss()(torch.zeros(2, 8), torch.zeros(3, dtype=torch.long), torch.zeros(2))
    with pytest.raises(ValueError, match="bin centres"):
        AgeLoss()(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), torch.zeros(2))
