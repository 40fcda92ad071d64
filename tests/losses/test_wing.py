"""Wing and STAR-SmoothL1 against STAR's own code (loss_fixture_seed0.pt), plus hand-computed values."""

import math

import pytest
import torch

from facexformer.losses.wing import SmoothL1Loss, WingLoss

FIXTURE = "reference/landmarks/loss_fixture_seed0.pt"


@pytest.fixture(scope="module")
def fixture(shared_dir):
    return torch.load(shared_dir / FIXTURE, weights_only=True)


def _assert_grad_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    expected = expected.to(actual.dtype)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


@pytest.mark.parametrize(("key", "cls"), [("WingLoss", WingLoss), ("SmoothL1Loss", SmoothL1Loss)])
def test_matches_reference_value_and_gradient(fixture, key, cls):
    entry = fixture[key]
    pred = entry["inputs"]["pred"].clone().requires_grad_()
    loss = cls()(pred, entry["inputs"]["target"])
    loss.backward()
    torch.testing.assert_close(loss, entry["loss"], rtol=1e-5, atol=0.0)
    _assert_grad_close(pred.grad, entry["grad"])


@pytest.mark.parametrize(("key", "cls"), [("WingLoss", WingLoss), ("SmoothL1Loss", SmoothL1Loss)])
def test_defaults_are_the_references(fixture, key, cls):
    module = cls()
    for name, value in fixture[key]["resolved_defaults"].items():
        assert getattr(module, name) == pytest.approx(value)


def test_wing_hand_computed():
    pred = torch.tensor([[[0.003, 0.004], [0.3, 0.4], [0.0, 0.0]]], dtype=torch.float64)
    target = torch.zeros_like(pred)
    # Norms 0.005 (log branch), 0.5 (linear branch), 0 (floored to 1e-3, log branch).
    offset = 0.01 - 0.01 * math.log(1 + 0.01 / 2)
    expected = [0.01 * math.log(1 + 0.005 / 2), 0.5 - offset, 0.01 * math.log(1 + 1e-3 / 2)]
    per_point = WingLoss()(pred, target, reduction="none")
    torch.testing.assert_close(per_point, torch.tensor([expected], dtype=torch.float64))
    torch.testing.assert_close(WingLoss()(pred, target), torch.tensor(sum(expected) / 3, dtype=torch.float64))


def test_smooth_l1_hand_computed_and_tiny_error_gradient():
    pred = torch.tensor([[[0.003, 0.004], [0.3, 0.4], [1e-5, 0.0]]], dtype=torch.float64, requires_grad=True)
    target = torch.zeros_like(pred)
    loss = SmoothL1Loss()(pred, target, reduction="sum")
    expected = 0.5 / 0.01 * 0.005**2 + (0.5 - 0.005) + 0.5 / 0.01 * 1e-10
    torch.testing.assert_close(loss, torch.tensor(expected, dtype=torch.float64))
    loss.backward()
    # Quadratic branch: d/dx (50 x²) = 100 x; linear branch: unit vector.
    torch.testing.assert_close(pred.grad[0, 0], torch.tensor([0.3, 0.4], dtype=torch.float64))
    torch.testing.assert_close(pred.grad[0, 1], torch.tensor([0.6, 0.8], dtype=torch.float64))
    torch.testing.assert_close(pred.grad[0, 2], torch.tensor([1e-3, 0.0], dtype=torch.float64))


def test_wing_tiny_errors_get_no_gradient():
    pred = torch.tensor([[[1e-5, 0.0], [0.5, 0.0]]], dtype=torch.float64, requires_grad=True)
    WingLoss()(pred, torch.zeros_like(pred)).backward()
    assert pred.grad[0, 0].abs().max() == 0
    assert pred.grad[0, 1, 0] > 0


def test_shape_mismatch_and_bad_reduction_raise():
    with pytest.raises(ValueError, match="WingLoss"):
        WingLoss()(torch.zeros(2, 5, 2), torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="reduction"):
        SmoothL1Loss()(torch.zeros(2, 5, 2), torch.zeros(2, 5, 2), reduction="avg")
