import pytest
import torch

from facexformer.geometry import euler_to_matrix
from facexformer.losses.geodesic import GeodesicLoss, geodesic_distance, rotation_from_6d, rotation_from_9d


def _is_rotation(matrix: torch.Tensor) -> bool:
    eye = torch.eye(3, dtype=matrix.dtype).expand_as(matrix)
    orthonormal = torch.allclose(matrix @ matrix.transpose(-1, -2), eye, atol=1e-6)
    det = torch.linalg.det(matrix)
    return orthonormal and torch.allclose(det, torch.ones_like(det))


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


def test_rotation_from_9d_returns_the_nearest_rotation():
    torch.manual_seed(1)
    rotation = euler_to_matrix(torch.tensor([[10.0, -35.0, 5.0]], dtype=torch.float64))
    stretched = rotation @ torch.diag(torch.tensor([2.0, 0.5, 1.3], dtype=torch.float64))
    assert torch.allclose(rotation_from_9d(stretched), rotation, atol=1e-10)
    assert torch.allclose(rotation_from_9d(rotation.reshape(1, 9)), rotation, atol=1e-10)
    reflected = rotation @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    assert _is_rotation(rotation_from_9d(reflected))
    assert _is_rotation(rotation_from_9d(torch.randn(8, 9, dtype=torch.float64)))


def test_rotation_from_9d_is_differentiable():
    torch.manual_seed(2)
    raw = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    target = euler_to_matrix(torch.tensor([[5.0, 20.0, -10.0], [0.0, -40.0, 3.0]], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: GeodesicLoss()(rotation_from_9d(x), target), (raw,))


def test_rotation_from_6d_gram_schmidt():
    torch.manual_seed(3)
    raw = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    rotation = rotation_from_6d(raw)
    assert _is_rotation(rotation.detach())
    first = raw[:, :3] / raw[:, :3].norm(dim=-1, keepdim=True)
    assert torch.allclose(rotation[..., 0], first)
    # the second column lies in the plane of the two input vectors
    normal = torch.linalg.cross(raw[:, :3], raw[:, 3:], dim=-1)
    assert (rotation[..., 1] * normal).sum(-1).abs().max() < 1e-10
    rotation.sum().backward()
    assert torch.isfinite(raw.grad).all()
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        rotation_from_6d(torch.zeros(2, 9))
