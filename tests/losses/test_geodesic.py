import pytest
import torch

from facexformer.geometry import euler_to_matrix
from facexformer.losses.geodesic import GeodesicLoss, geodesic_distance


def test_geodesic_angle_of_rotations_about_one_axis():
    angles = torch.tensor([[0.0, 0.0, 10.0], [0.0, 0.0, 40.0], [20.0, 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.0, -25.0], [0.0, 0.0, 40.0], [-30.0, 0.0, 0.0]], dtype=torch.float64)
    distance = geodesic_distance(euler_to_matrix(angles), euler_to_matrix(target))
    # same axis: the angle is |a - b| (the identical pair is clamped to arccos(1 - 1e-7) ~ 4.5e-4 rad)
    expected = torch.deg2rad(torch.tensor([35.0, 0.0, 50.0], dtype=torch.float64))
    assert torch.allclose(distance, expected, atol=1e-3)
    loss = GeodesicLoss()(euler_to_matrix(angles), euler_to_matrix(target))
    assert loss.item() == pytest.approx(distance.mean().item())


def test_geodesic_matches_trace_formula_and_has_finite_gradient():
    torch.manual_seed(0)
    pred = euler_to_matrix(torch.rand(4, 3, dtype=torch.float64) * 120 - 60).requires_grad_(True)
    target = euler_to_matrix(torch.rand(4, 3, dtype=torch.float64) * 120 - 60)
    trace = torch.einsum("bij,bij->b", pred, target)  # tr(P Tᵀ)
    expected = torch.acos((trace - 1) / 2).mean()
    loss = GeodesicLoss()(pred, target)
    assert torch.allclose(loss, expected)
    assert torch.autograd.gradcheck(lambda p: GeodesicLoss()(p, target), (pred,))
    identical = target.clone().requires_grad_(True)
    GeodesicLoss()(identical, target).backward()  # clamped: finite gradient at zero angle
    assert torch.isfinite(identical.grad).all()


def test_geodesic_none_reduction_and_bad_shapes():
    eye = torch.eye(3).expand(2, 3, 3)
    assert GeodesicLoss(reduction="none")(eye, eye).shape == (2,)
    with pytest.raises(ValueError, match="rotations"):
        geodesic_distance(torch.zeros(2, 9), torch.zeros(2, 9))
    with pytest.raises(ValueError, match="reduction"):
        GeodesicLoss(reduction="sum")
