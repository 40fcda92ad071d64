"""Adaptive Wing against STAR's own code (loss_fixture_seed0.pt), plus hand-computed values."""

import math

import pytest
import torch

from facexformer.losses.awing import AdaptiveWingLoss, foreground_weight

FIXTURE = "reference/landmarks/loss_fixture_seed0.pt"


@pytest.fixture(scope="module")
def entry(shared_dir):
    return torch.load(shared_dir / FIXTURE, weights_only=True)["AWingLoss"]


def test_matches_reference_value_and_gradient(entry):
    output = entry["inputs"]["output"].clone().requires_grad_()
    loss = AdaptiveWingLoss()(output, entry["inputs"]["groundtruth"])
    loss.backward()
    torch.testing.assert_close(loss, entry["loss"], rtol=1e-5, atol=0.0)
    grad = entry["grad"]
    torch.testing.assert_close(output.grad, grad, rtol=1e-5, atol=1e-5 * grad.abs().max().item())


def test_float32_close_to_reference(entry):
    output = entry["inputs"]["output"].float()
    loss = AdaptiveWingLoss()(output, entry["inputs"]["groundtruth"].float())
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(entry["loss"].item(), rel=1e-5)


def test_defaults_are_the_references(entry):
    module = AdaptiveWingLoss()
    for name, value in entry["resolved_defaults"].items():
        assert getattr(module, name) == pytest.approx(value)


def test_hand_computed_both_branches_without_weights():
    target = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    output = torch.tensor([[[[0.25, 1.0]]]], dtype=torch.float64)
    omega, theta, alpha = 14.0, 0.5, 2.1
    small = omega * math.log(1 + 0.25**alpha)
    slope = omega / (1 + theta**alpha) * alpha * theta ** (alpha - 1)
    large = slope * 1.0 - (theta * slope - omega * math.log(1 + theta**alpha))
    loss = AdaptiveWingLoss(use_weight_map=False)(output, target)
    torch.testing.assert_close(loss, torch.tensor((small + large) / 2, dtype=torch.float64))


def test_pieces_meet_at_theta():
    target = torch.full((1, 1, 1, 2), 0.3, dtype=torch.float64)
    output = target + torch.tensor([0.5 - 1e-9, 0.5 + 1e-9], dtype=torch.float64)
    per_element = [AdaptiveWingLoss(use_weight_map=False)(output[..., i : i + 1], target[..., :1]) for i in (0, 1)]
    assert per_element[0].item() == pytest.approx(per_element[1].item(), abs=1e-7)


def test_weight_map_threshold_inclusive():
    target = torch.zeros(1, 1, 5, 5)
    target[0, 0, 2, 2] = 0.2
    weight = foreground_weight(target)
    assert weight[0, 0, 1:4, 1:4].eq(11).all()
    assert weight.eq(11).sum() == 9
    target[0, 0, 2, 2] = 0.19
    assert foreground_weight(target).eq(1).all()


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="AdaptiveWingLoss"):
        AdaptiveWingLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
