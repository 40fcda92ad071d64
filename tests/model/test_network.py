import pytest
import torch

from facexformer import FaceXFormer
from facexformer.model.onednn_linear import OneDnnLinear


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


def test_cpu_inference_in_chunks_equals_whole_batch(model):
    x = torch.randn(5, 3, 64, 64)
    net = model.net
    assert net.cpu_inference_chunk == 2
    calls = []
    handle = net.decoder.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            chunked = model(x)
        net.cpu_inference_chunk = None
        with torch.no_grad():
            whole = model(x)
    finally:
        net.cpu_inference_chunk = 2
        handle.remove()
    assert calls == [2, 2, 1, 5]
    for name in whole:
        torch.testing.assert_close(chunked[name], whole[name], rtol=1e-4, atol=1e-5)


def test_training_forward_runs_the_whole_batch_at_once(model):
    calls = []
    handle = model.net.decoder.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    try:
        model(torch.randn(5, 3, 64, 64), tasks=["landmarks"])["landmarks"].sum().backward()
    finally:
        handle.remove()
        model.zero_grad()
    assert calls == [5]


def test_only_released_token_groups_may_lack_a_head(tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], released_tokens=["landmarks", "gender"], **tiny_kwargs)
    assert list(model.net.tokens) == ["landmarks", "gender"] and list(model.net.heads) == ["gender"]
    assert model.net.released_tokens == ["landmarks", "gender"] and model.net.new_tokens == []
    net = model.net
    with pytest.raises(ValueError, match="only released token groups may have no head"):
        type(net)(net.backbone, heads={"gender": net.heads["gender"]}, num_tokens={"landmarks": 1, "gender": 1})
    with pytest.raises(ValueError, match="released_tokens"):
        FaceXFormer(tasks=["gender"], released_tokens=["gender", "smile"], **tiny_kwargs)


def test_inference_runs_every_linear_layer_through_onednn(model):
    linears = [m for m in model.net.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(isinstance(m, OneDnnLinear) for m in linears)
    assert any(m.activation != "none" for m in linears)  # the MLPs' activations folded in
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        inference = model(x)
    called = [m for m in linears if m._packed is not None]  # the decoder reads some layers' weights only
    assert len(called) > len(linears) / 2
    training = {name: out.detach() for name, out in model(x).items()}  # autograd on: F.linear
    for name, out in inference.items():
        torch.testing.assert_close(out, training[name], rtol=1e-4, atol=1e-5)
