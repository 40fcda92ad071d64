import json
import sys

import pytest
import torch

from facexformer import FaceXFormer
from facexformer.io.released import convert_released_state_dict
from facexformer.model.heatmap_head import render_gaussians
from facexformer.tasks.landmarks import (
    Landmarks,
    heatmap_to_pixels,
    normalized_to_pixels,
    pixels_to_heatmap,
    pixels_to_normalized,
    pixels_to_star,
)


def test_pixel_normalised_round_trip_and_edges():
    points = torch.rand(3, 68, 2, dtype=torch.float64) * 300 - 20
    torch.testing.assert_close(normalized_to_pixels(pixels_to_normalized(points, 224), 224), points)
    edges = torch.tensor([-0.5, 223.5], dtype=torch.float64)
    torch.testing.assert_close(pixels_to_normalized(edges, 224), torch.tensor([-1.0, 1.0], dtype=torch.float64))


def test_pixel_heatmap_round_trip_and_shared_edges():
    points = torch.rand(3, 98, 2, dtype=torch.float64) * 256
    torch.testing.assert_close(heatmap_to_pixels(pixels_to_heatmap(points, 256, 64), 256, 64), points)
    # crop edges are heatmap edges; heatmap pixel j covers crop pixels 4j .. 4j + 3 (centre 4j + 1.5)
    crop = torch.tensor([-0.5, 255.5, 1.5, 9.5], dtype=torch.float64)
    expected = torch.tensor([-0.5, 63.5, 0.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(pixels_to_heatmap(crop, 256, 64), expected)


def test_star_targets_use_the_align_corners_heatmap_grid():
    # heatmap pixel 0 is -1 and pixel 63 is +1 on STAR's grid; beyond the map the target is clamped
    crop = torch.tensor([1.5, 253.5, 129.5, -10.0, 300.0], dtype=torch.float64)
    expected = torch.tensor([-1.0, 1.0, 2 * 32 / 63 - 1, -1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(pixels_to_star(crop, 256, 64), expected)


def _batch(points: torch.Tensor, size: int) -> dict:
    return {"image": torch.zeros(points.shape[0], 3, size, size), "landmarks": points}


@pytest.mark.parametrize("loss", ["star", "awing", "l2"])
def test_heatmap_losses_prefer_the_true_position(loss):
    task = Landmarks(head="heatmap", loss=loss, sigma=1.0)
    criterion = task.build_loss()
    torch.manual_seed(0)
    points = 8 + torch.rand(2, 68, 2) * 48  # 64 px crop, 32 px heatmaps
    centres = pixels_to_heatmap(points, 64, 32)

    def output_at(c: torch.Tensor) -> torch.Tensor:
        maps = render_gaussians(c, 32, 32, sigma=1.0)
        return maps / maps.sum(dim=(-2, -1), keepdim=True) if loss == "star" else maps

    perfect = task.loss(criterion, output_at(centres), _batch(points, 64))
    shifted = task.loss(criterion, output_at(centres + torch.tensor([1.5, -1.0])), _batch(points, 64))
    assert perfect < shifted
    assert torch.isfinite(perfect)


@pytest.mark.parametrize("loss,tolerance", [("star", 1e-3), ("awing", 0.05)])
def test_decode_inverts_the_loss_targets(loss, tolerance):
    # star: global soft-argmax (exact away from the borders); awing: a ±5 heatmap px window (4 crop px each)
    task = Landmarks(head="heatmap", loss=loss)
    points = torch.tensor([[[40.3, 40.8], [80.0, 64.25], [53.0, 90.7]]])
    maps = render_gaussians(pixels_to_heatmap(points, 128, 32), 32, 32, sigma=1.5)
    torch.testing.assert_close(task.decode(maps, 128), points, atol=tolerance, rtol=0)


@pytest.mark.parametrize("num_points", [68, 98, 19])
def test_model_outputs_heatmaps_and_decodes_them(num_points, tiny_kwargs):
    model = FaceXFormer(tasks=[Landmarks(num_points, loss="star", head="heatmap")], **tiny_kwargs).eval()
    task = model.task("landmarks")
    assert task.num_tokens == num_points and model.net.tokens["landmarks"].num_embeddings == num_points
    with torch.no_grad():
        maps = model(torch.randn(2, 3, 64, 64))["landmarks"]
    assert maps.shape == (2, num_points, 64, 64)
    points = task.decode(maps, 64)
    assert points.shape == (2, num_points, 2) and points.min() >= -0.5 and points.max() <= 63.5


def test_heatmap_size_sets_the_map_resolution(tiny_kwargs):
    model = FaceXFormer(tasks=[Landmarks(head="heatmap", loss="l2", heatmap_size=16)], **tiny_kwargs)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64))["landmarks"].shape == (1, 68, 16, 16)


def test_heatmap_upscale_one_computes_maps_on_the_token_grid(tiny_kwargs):
    task = Landmarks(head="heatmap", loss="star", heatmap_upscale=1)
    model = FaceXFormer(tasks=[task], **tiny_kwargs).eval()
    assert not isinstance(model.net.heads["landmarks"].maps.upscaling[0], torch.nn.ConvTranspose2d)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))["landmarks"].shape == (1, 68, 16, 16)
    assert Landmarks(**task.to_config()["init_args"]).heatmap_upscale == 1


def test_gradients_reach_every_landmark_token(tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=[Landmarks(head="heatmap", loss="star")], **tiny_kwargs).train()
    batch = {"image": torch.rand(2, 3, 64, 64), "landmarks": torch.rand(2, 68, 2) * 63}
    model.training_step(batch | {"task_mask": {"landmarks": torch.ones(2, dtype=torch.bool)}}, 0).backward()
    grad = model.net.tokens["landmarks"].weight.grad
    assert grad.shape == (68, 32) and bool((grad.abs().sum(dim=1) > 0).all())


def test_wrong_head_or_loss_is_refused():
    with pytest.raises(ValueError, match="'star' is a heatmap-head loss"):
        Landmarks(loss="star")
    with pytest.raises(ValueError, match="'wing' is a regression-head loss"):
        Landmarks(head="heatmap", loss="wing")
    with pytest.raises(ValueError, match="unknown head"):
        Landmarks(head="mesh")
    with pytest.raises(ValueError, match="choose from"):
        Landmarks(head="heatmap", loss="mse")
    with pytest.raises(ValueError, match="only apply to head='heatmap'"):
        Landmarks(heatmap_size=64)
    with pytest.raises(ValueError, match="sigma"):
        Landmarks(head="heatmap", loss="awing", sigma=0)
    with pytest.raises(ValueError, match="only apply to head='heatmap'"):
        Landmarks(heatmap_upscale=2)
    with pytest.raises(ValueError, match="heatmap_upscale must be 1, 2 or 4"):
        Landmarks(head="heatmap", loss="star", heatmap_upscale=8)


@pytest.mark.parametrize("scheme,num_points", [("300w", 68), ("wflw", 98)])
def test_flip_permutes_and_keeps_mirrored_x(shared_dir, scheme, num_points):
    perm = json.loads((shared_dir / "reference" / "landmarks" / "flip_index.json").read_text())[scheme]
    task = Landmarks(num_points)
    mirrored = torch.rand(3, num_points, 2) * 100
    batch = {"landmarks": mirrored.clone()}
    task.flip(batch, torch.tensor([True, False, True]), width=101)
    torch.testing.assert_close(batch["landmarks"][1], mirrored[1])
    for i in (0, 2):
        torch.testing.assert_close(batch["landmarks"][i], mirrored[i][perm])
    # the x values are permuted as they are (mirroring is the augmentation's job), never re-mirrored
    assert sorted(batch["landmarks"][0, :, 0].tolist()) == sorted(mirrored[0, :, 0].tolist())


def test_config_round_trip_and_released_prefixes():
    task = Landmarks(98, loss="awing", head="heatmap", heatmap_size=32, sigma=2.0, decode_window=3)
    again = Landmarks(**task.to_config()["init_args"])
    assert (again.head, again.heatmap_size, again.sigma, again.decode_window) == ("heatmap", 32, 2.0, 3)
    assert task.released_prefixes == {} and Landmarks().released_prefixes == Landmarks.released_prefixes
    released = {
        "face_decoder.landmarks_token.weight": torch.zeros(1, 256),
        "face_decoder.landmarks_prediction_head.layers.0.weight": torch.zeros(256, 256),
    }
    assert set(convert_released_state_dict(released, [Landmarks()])) == {
        "tokens.landmarks.weight",
        "heads.landmarks.mlp.layers.0.weight",
    }
    assert convert_released_state_dict(released, [task]) == {}


def test_released_file_loads_around_a_fresh_heatmap_head(shared_dir):
    sys.path.insert(0, str(shared_dir / "reference" / "facexformer-official"))
    try:
        from make_checkpoint import make_state_dict
    finally:
        sys.path.pop(0)
    state = make_state_dict(0)
    torch.manual_seed(0)
    model = FaceXFormer(tasks=[Landmarks(head="heatmap", loss="star"), "gender"])
    fresh = {k: v.clone() for k, v in model.net.heads["landmarks"].state_dict().items()}
    model.load_released_state_dict(state)
    torch.testing.assert_close(model.net.heads["landmarks"].state_dict(), fresh)
    assert model.net.tokens["landmarks"].num_embeddings == 68
    gender = state["face_decoder.gender_prediction_head.layers.0.weight"]
    assert torch.equal(model.net.heads["gender"].mlp.layers[0].weight, gender)
    assert torch.equal(model.net.position.gaussian_matrix, state["pe_layer.positional_encoding_gaussian_matrix"])


@pytest.mark.parametrize("head,loss", [("regression", "wing"), ("heatmap", "star")])
def test_a_short_training_run_fits_a_fixed_batch(head, loss, tiny_kwargs):
    torch.manual_seed(0)
    options = {"heatmap_size": 32} if head == "heatmap" else {}  # 32² maps keep the test fast
    model = FaceXFormer(tasks=[Landmarks(head=head, loss=loss, **options)], **tiny_kwargs).train()
    generator = torch.Generator().manual_seed(1)
    shape = 8 + torch.rand(1, 68, 2, generator=generator) * 48  # one random shape, shared by the 4 images
    batch = {
        "image": torch.rand(4, 3, 64, 64, generator=generator),
        "landmarks": shape.expand(4, 68, 2).clone(),
        "task_mask": {"landmarks": torch.ones(4, dtype=torch.bool)},
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss_value = model.training_step(batch, 0)
        loss_value.backward()
        optimizer.step()
        losses.append(loss_value.item())
    assert losses[-1] < 0.35 * losses[0], losses
    with torch.no_grad():
        decoded = model.task("landmarks").decode(model.eval()(model.normalize(batch["image"]))["landmarks"], 64)
    assert (decoded - batch["landmarks"]).norm(dim=-1).mean() < 3.0


@pytest.mark.parametrize("head, loss", [("regression", "wing"), ("heatmap", "star"), ("heatmap", "awing")])
def test_trivial_output_decodes_to_the_mean_shape(head, loss):
    task = Landmarks(head=head, loss=loss, heatmap_size=16 if head == "heatmap" else None)
    points = torch.rand(5, 68, 2) * 40 + 10
    batch = {"image": torch.zeros(5, 3, 64, 64), "landmarks": points}
    decoded = task.decode(task.trivial_output(batch), 64)
    torch.testing.assert_close(decoded[0], points.mean(0), atol=0.5, rtol=0)
