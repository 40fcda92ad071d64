import pytest
import torch

from facexformer import FaceXFormer


@pytest.fixture(scope="module")
def model():
    return FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).eval()


@pytest.mark.parametrize("batch", [1, 3])
def test_released_task_shapes(model, batch):
    with torch.no_grad():
        out = model(torch.randn(batch, 3, 64, 64))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        "landmarks": (batch, 68, 2),
        "headpose": (batch, 3),
        "attributes": (batch, 40),
        "visibility": (batch, 29),
        "age": (batch, 8),
        "gender": (batch, 2),
        "race": (batch, 5),
        "parsing": (batch, 11, 64, 64),
    }


def test_only_requested_heads_run(model):
    calls = []
    handle = model.net.heads["parsing"].upscaling.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad():
            out = model(torch.randn(2, 3, 64, 64), tasks=["landmarks"])
        assert list(out) == ["landmarks"] and calls == []
        with torch.no_grad():
            model(torch.randn(2, 3, 64, 64), tasks=["parsing"])
        assert calls == [1]
    finally:
        handle.remove()


def test_requested_subset_gives_the_same_numbers(model):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full = model(x)
        part = model(x, tasks=["headpose", "landmarks"])
    assert list(part) == ["headpose", "landmarks"]
    torch.testing.assert_close(part["landmarks"], full["landmarks"])


def test_batch_of_one_matches_row_of_batch(model):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1:2])
    for name in batched:
        torch.testing.assert_close(single[name][0], batched[name][1], rtol=1e-4, atol=1e-5)


def test_unknown_task(model):
    with pytest.raises(KeyError, match="unknown task"):
        model(torch.randn(1, 3, 64, 64), tasks=["nose_length"])


def test_only_released_token_groups_may_lack_a_head(tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], released_tokens=["landmarks", "gender"], **tiny_kwargs)
    assert list(model.net.tokens) == ["landmarks", "gender"] and list(model.net.heads) == ["gender"]
    assert model.net.released_tokens == ["landmarks", "gender"] and model.net.new_tokens == []
    net = model.net
    with pytest.raises(ValueError, match="only released token groups may have no head"):
        type(net)(net.backbone, heads={"gender": net.heads["gender"]}, num_tokens={"landmarks": 1, "gender": 1})
    with pytest.raises(ValueError, match="released_tokens"):
        FaceXFormer(tasks=["gender"], released_tokens=["gender", "smile"], **tiny_kwargs)


def test_the_network_as_built_has_no_inference_speed_ups(model):
    """Speed-ups are ``optimize_for_inference``'s (tests/inference/test_optimize.py): the network is plain."""
    own = {type(m).__module__ for m in model.net.modules() if type(m).__module__.startswith("facexformer.")}
    assert own and all(name.startswith("facexformer.model.") for name in own), own
    assert all(type(m) is torch.nn.Linear for m in model.net.modules() if isinstance(m, torch.nn.Linear))
