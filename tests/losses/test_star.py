"""STAR loss (v1 and v2) against STAR's own code (loss_fixture_seed0.pt), and its invariances."""

import pytest
import torch

import facexformer.losses.star as star
from facexformer.losses.star import STARLoss, heatmap_mean_cov

FIXTURE = "reference/landmarks/loss_fixture_seed0.pt"
VERSIONS = {"STARLoss": "v1", "STARLoss_v2": "v2"}


@pytest.fixture(scope="module")
def fixture(shared_dir):
    return torch.load(shared_dir / FIXTURE, weights_only=True)


def _inputs(fixture, key="STARLoss_v2", dtype=torch.float64):
    inputs = fixture[key]["inputs"]
    return inputs["heatmap"].to(dtype), inputs["groundtruth"]


@pytest.mark.parametrize("key", sorted(VERSIONS))
def test_matches_reference_value_and_gradient(fixture, key):
    heatmap, target = _inputs(fixture, key)
    heatmap.requires_grad_()
    loss = STARLoss(version=VERSIONS[key])(heatmap, target)
    loss.backward()
    torch.testing.assert_close(loss, fixture[key]["loss"], rtol=1e-5, atol=0.0)
    grad = fixture[key]["grad"].double()
    torch.testing.assert_close(heatmap.grad, grad, rtol=1e-5, atol=1e-5 * grad.abs().max().item())


@pytest.mark.parametrize("key", sorted(VERSIONS))
def test_float32_close_to_reference(fixture, key):
    heatmap, target = _inputs(fixture, key, torch.float32)
    loss = STARLoss(version=VERSIONS[key])(heatmap, target)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(fixture[key]["loss"].item(), rel=1e-5)


def test_versions_differ_and_defaults_match(fixture):
    heatmap, target = _inputs(fixture)
    assert STARLoss(version="v1")(heatmap, target).item() != pytest.approx(STARLoss()(heatmap, target).item())
    module = STARLoss()
    defaults = fixture["STARLoss_v2"]["resolved_defaults"]
    assert (module.w, module.dist, module.version) == (defaults["w"], defaults["dist"], "v2")


def test_mean_cov_match_reference_intermediates(fixture):
    heatmap, _ = _inputs(fixture, "STARLoss")
    mean, cov = heatmap_mean_cov(heatmap)
    aux = fixture["STARLoss"]["aux"]
    torch.testing.assert_close(mean, aux["means"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(cov, aux["covariance"], rtol=1e-9, atol=1e-12)


def test_mean_cov_hand_computed():
    heatmap = torch.tensor([[[[2.0, 0.0], [0.0, 2.0]]]], dtype=torch.float64)
    mean, cov = heatmap_mean_cov(heatmap)
    # P = 1/2 at (x, y) = (-1, -1) and (1, 1): S = [[1, 1], [1, 1]]; V1 = 1 + eps, V2 = 1/2 + eps.
    v1, v2 = 1 + 1e-5, 0.5 + 1e-5
    torch.testing.assert_close(mean, torch.zeros(1, 1, 2, dtype=torch.float64))
    torch.testing.assert_close(cov, torch.ones(1, 1, 2, 2, dtype=torch.float64) / (v1 - v2 / v1))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_independent_of_eigenvector_signs(fixture, version, monkeypatch):
    heatmap, target = _inputs(fixture)
    expected = STARLoss(version=version)(heatmap, target)
    solve = star._eigh_on_cpu

    def flipped(cov):
        values, vectors = solve(cov)
        return values, vectors * torch.tensor([1.0, -1.0], dtype=vectors.dtype)

    monkeypatch.setattr(star, "_eigh_on_cpu", flipped)
    torch.testing.assert_close(STARLoss(version=version)(heatmap, target), expected, rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_equivariant_under_mirror_and_transpose(fixture, version):
    heatmap, target = _inputs(fixture)
    heatmap, target = heatmap[:1, :8], target[:1, :8]
    loss = STARLoss(version=version)
    expected = loss(heatmap, target)
    mirrored = loss(heatmap.flip(-1), target * torch.tensor([-1.0, 1.0], dtype=target.dtype))
    transposed = loss(heatmap.transpose(-1, -2), target.flip(-1))
    torch.testing.assert_close(mirrored, expected, rtol=1e-6, atol=0.0)
    torch.testing.assert_close(transposed, expected, rtol=1e-6, atol=0.0)


@pytest.mark.parametrize(("version", "dist"), [("v1", "l1"), ("v1", "l2"), ("v1", "wing"), ("v2", "l1"), ("v2", "l2")])
def test_other_distances_finite_with_gradient(fixture, version, dist):
    heatmap, target = _inputs(fixture)
    heatmap = heatmap[:1, :4].clone().requires_grad_()
    loss = STARLoss(dist=dist, version=version)(heatmap, target[:1, :4])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(heatmap.grad).all() and heatmap.grad.abs().max() > 0


def test_weight_scales_eigen_term(fixture):
    heatmap, target = _inputs(fixture)
    _, cov = heatmap_mean_cov(heatmap)
    eigen = torch.linalg.eigvalsh(cov).abs().sum(-1).mean()
    difference = STARLoss(w=3.0)(heatmap, target) - STARLoss(w=1.0)(heatmap, target)
    torch.testing.assert_close(difference, 2.0 * eigen)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_and_autocast_compute_in_float32(fixture, dtype):
    heatmap, target = _inputs(fixture, dtype=torch.float32)
    heatmap, target = heatmap[:1, :8], target[:1, :8].float()
    expected = STARLoss()(heatmap, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = STARLoss()(heatmap, target)
    from_half = STARLoss()(heatmap.to(dtype), target)
    assert under_autocast.dtype == torch.float32 and from_half.dtype == torch.float32
    torch.testing.assert_close(under_autocast, expected, rtol=1e-6, atol=0.0)
    torch.testing.assert_close(from_half, expected, rtol=2e-2, atol=0.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="version"):
        STARLoss(version="v3")
    with pytest.raises(ValueError, match="dist"):
        STARLoss(dist="huber")
    with pytest.raises(ValueError, match="wing"):
        STARLoss(dist="wing", version="v2")
    with pytest.raises(ValueError, match="targets"):
        STARLoss()(torch.rand(1, 3, 8, 8), torch.rand(1, 4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_reference(fixture):
    heatmap, target = _inputs(fixture)
    loss = STARLoss()(heatmap.cuda(), target.cuda())
    assert loss.is_cuda
    torch.testing.assert_close(loss.cpu(), fixture["STARLoss_v2"]["loss"], rtol=1e-5, atol=0.0)
