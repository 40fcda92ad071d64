import pytest
import torch

from facexformer.geometry import euler_to_matrix
from facexformer.losses.geodesic import GeodesicLoss
from facexformer.model.rotation import RotationHead, rotation_from_6d, rotation_from_9d


def _is_rotation(matrix: torch.Tensor) -> bool:
    eye = torch.eye(3, dtype=matrix.dtype).expand_as(matrix)
    orthonormal = torch.allclose(matrix @ matrix.transpose(-1, -2), eye, atol=1e-6)
    det = torch.linalg.det(matrix)
    return orthonormal and torch.allclose(det, torch.ones_like(det))


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


def test_rotation_head_maps_nine_tokens_to_rotations():
    torch.manual_seed(4)
    head = RotationHead(16)
    rotation = head(torch.randn(3, 9, 16))
    assert rotation.shape == (3, 3, 3) and rotation.dtype == torch.float32
    assert _is_rotation(rotation.double())
    assert sorted(k for k, _ in head.named_parameters())[0] == "head.mlp.layers.0.bias"
