import pytest
import torch

from facexformer.losses.star import heatmap_mean_cov
from facexformer.model.heatmap_head import HeatmapHead, render_gaussians, soft_argmax


@pytest.mark.parametrize("num_points", [68, 98, 19])
@pytest.mark.parametrize("heatmap_size", [None, 12])
def test_head_shapes_and_softmax_maps(num_points, heatmap_size):
    torch.manual_seed(0)
    head = HeatmapHead(16, num_points, heatmap_size)
    maps = head(torch.randn(2, num_points, 16), torch.randn(2, 16, 5, 5))
    side = heatmap_size or 20
    assert maps.shape == (2, num_points, side, side)
    assert maps.min() >= 0
    torch.testing.assert_close(maps.sum(dim=(-2, -1)), torch.ones(2, num_points))


@pytest.mark.parametrize("upscale", [1, 2])
def test_upscale_sets_the_native_map_size(upscale):
    head = HeatmapHead(16, 19, upscale=upscale)
    assert head(torch.randn(2, 19, 16), torch.randn(2, 16, 5, 5)).shape == (2, 19, 5 * upscale, 5 * upscale)


@pytest.mark.parametrize("mode", ["bf16 weights", "bf16-mixed"])
def test_shrinking_to_the_heatmap_size_runs_in_bfloat16(mode):
    """The antialiased resize has no bfloat16 CPU kernel: the head resizes in float32 (the 300W STAR study
    config trains in bf16-mixed on a CPU)."""
    torch.manual_seed(0)
    head = HeatmapHead(16, 5, heatmap_size=12)
    tokens, image = torch.randn(2, 5, 16), torch.randn(2, 16, 5, 5)
    expected = head(tokens, image)
    if mode == "bf16 weights":
        maps = head.to(torch.bfloat16)(tokens.bfloat16(), image.bfloat16())
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            maps = head(tokens, image)
    assert maps.shape == (2, 5, 12, 12)
    torch.testing.assert_close(maps.float(), expected, atol=2e-2, rtol=0)


def test_fresh_head_outputs_the_hypernetwork_maps_and_raw_maps_stay_raw():
    torch.manual_seed(0)
    head = HeatmapHead(16, 5, activation="none")
    tokens, image = torch.randn(2, 5, 16), torch.randn(2, 16, 4, 4)
    features = head.maps.upscaling(image)
    expected = torch.einsum("bnc,bchw->bnhw", head.maps.hypernetwork(tokens), features)
    out = head(tokens, image)
    torch.testing.assert_close(out, expected)
    assert out.min() < 0


def test_gradients_reach_tokens_and_hourglass():
    torch.manual_seed(0)
    head = HeatmapHead(16, 4)
    tokens = torch.randn(1, 4, 16, requires_grad=True)
    soft_argmax(head(tokens, torch.randn(1, 16, 4, 4))).sum().backward()
    assert tokens.grad.abs().sum() > 0
    assert head.refine_out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("centre", [(14.0, 12.0), (14.3, 11.75), (9.6, 16.2)])
def test_soft_argmax_recovers_a_rendered_gaussian(centre):
    centres = torch.tensor([[centre]], dtype=torch.float64)
    maps = render_gaussians(centres, 28, 32, sigma=1.2)
    assert maps.shape == (1, 1, 28, 32)
    torch.testing.assert_close(soft_argmax(maps), centres, atol=1e-9, rtol=0)
    # a ±4 px window cuts the tails at 3.3 sigma: still well under a hundredth of a pixel
    torch.testing.assert_close(soft_argmax(maps, window=4), centres, atol=2e-3, rtol=0)


def test_soft_argmax_of_a_border_point_is_pulled_inwards():
    maps = render_gaussians(torch.tensor([[[0.0, 5.0]]]), 11, 11, sigma=1.5)
    x, y = soft_argmax(maps)[0, 0]
    assert 0.5 < x < 1.5 and y == 5


def test_gaussian_peak_is_one_at_an_integer_centre():
    maps = render_gaussians(torch.tensor([[[3.0, 5.0]]]), 8, 8, sigma=1.5)
    assert maps[0, 0, 5, 3] == 1 and maps.argmax() == 5 * 8 + 3
    torch.testing.assert_close(maps[0, 0, 5, 2], maps[0, 0, 5, 4])


def test_window_ignores_far_mass():
    maps = render_gaussians(torch.tensor([[[4.0, 4.0]]]), 16, 16, sigma=1.0)
    maps[0, 0, 14, 14] = 0.5
    assert (soft_argmax(maps) - 4.0).abs().max() > 0.3
    torch.testing.assert_close(soft_argmax(maps, window=3), torch.tensor([[[4.0, 4.0]]]), atol=1e-3, rtol=0)


def test_soft_argmax_is_stars_mean_in_pixels():
    torch.manual_seed(0)
    maps = torch.rand(2, 3, 9, 13, dtype=torch.float64)
    maps[0, 0] = 0  # an empty map: both give the centre
    mean, _ = heatmap_mean_cov(maps)
    in_pixels = (mean + 1) / 2 * torch.tensor([12.0, 8.0], dtype=torch.float64)
    torch.testing.assert_close(soft_argmax(maps), in_pixels)
    torch.testing.assert_close(soft_argmax(maps)[0, 0], torch.tensor([6.0, 4.0], dtype=torch.float64))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="activation"):
        HeatmapHead(16, 4, activation="relu")
    with pytest.raises(ValueError, match="heatmap_size"):
        HeatmapHead(16, 4, heatmap_size=1)
    with pytest.raises(ValueError, match="sigma"):
        render_gaussians(torch.zeros(1, 1, 2), 4, 4, sigma=0)
    with pytest.raises(ValueError, match=r"\(B, N, H, W\)"):
        soft_argmax(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="window"):
        soft_argmax(torch.zeros(1, 1, 4, 4), window=-1)
