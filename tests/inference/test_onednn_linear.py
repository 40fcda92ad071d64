import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import nn

from facexformer.inference.onednn_linear import OneDnnLinear, onednn_dtypes, use_onednn_linears

TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 3e-2}


def reference(layer: OneDnnLinear, x: torch.Tensor) -> torch.Tensor:
    """The layer's function in float64."""
    out = F.linear(x.double(), layer.weight.double(), layer.bias.double())
    return {"none": out, "gelu": F.gelu(out), "relu": F.relu(out)}[layer.activation]


def test_this_cpu_runs_float32_through_onednn():
    assert torch.float32 in onednn_dtypes()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("activation", ["none", "gelu", "relu"])
def test_packed_inference_equals_the_layer(dtype, activation):
    if dtype not in onednn_dtypes():
        pytest.skip(f"this CPU has no bf16 units: {dtype} runs F.linear, as in training")
    torch.manual_seed(0)
    layer = OneDnnLinear(64, 96, activation=activation).to(dtype)
    x = torch.randn(3, 7, 64).to(dtype)
    with torch.inference_mode():
        out = layer(x)
    assert layer._packed is not None  # the oneDNN path ran
    assert out.shape == (3, 7, 96) and out.dtype == dtype
    expected = reference(layer, x)
    assert (out.double() - expected).abs().max() <= TOLERANCE[dtype] * expected.abs().max()


def test_training_runs_the_plain_layer_with_the_same_gradients():
    torch.manual_seed(0)
    plain = nn.Linear(8, 5)
    layer = OneDnnLinear.from_linear(copy.deepcopy(plain), "gelu")
    x = torch.randn(4, 8)
    F.gelu(plain(x)).sum().backward()
    layer(x).sum().backward()
    assert layer._packed is None
    assert torch.equal(layer.weight.grad, plain.weight.grad) and torch.equal(layer.bias.grad, plain.bias.grad)


def test_autocast_runs_the_plain_layer():
    layer = OneDnnLinear(8, 5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16 and layer._packed is None


def test_the_packed_weight_follows_every_change_of_the_weight():
    torch.manual_seed(0)
    layer = OneDnnLinear(16, 16)
    x = torch.randn(5, 16)

    def check() -> None:
        with torch.no_grad():
            out = layer(x)
        assert (out.double() - reference(layer, x)).abs().max() < 1e-4

    check()
    with torch.no_grad():
        layer.weight.mul_(-2)  # an optimizer step
    check()
    layer.load_state_dict({"weight": torch.randn(16, 16), "bias": torch.zeros(16)})
    check()
    layer.load_state_dict({"weight": torch.randn(16, 16), "bias": torch.zeros(16)}, assign=True)
    check()
    layer.to(torch.bfloat16).float()  # values rounded through bf16
    check()


@pytest.mark.parametrize("fused", [True, False])
def test_inference_after_an_optimizer_step_uses_the_new_weights(fused):
    """Fused AdamW updates weights without bumping their version counter."""
    torch.manual_seed(0)
    layer = OneDnnLinear(16, 16, activation="gelu")
    x = torch.randn(5, 16)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1, fused=fused)
    with torch.no_grad():
        layer(x)
    layer(x).sum().backward()
    optimizer.step()
    with torch.no_grad():
        out = layer(x)
    assert (out.double() - reference(layer, x)).abs().max() < 1e-4


def test_copies_and_pickles_leave_the_packed_weight_behind():
    layer = OneDnnLinear(8, 8, activation="relu")
    with torch.no_grad():
        layer(torch.randn(2, 8))
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone._packed is None and clone.activation == "relu"
        assert torch.equal(clone.weight, layer.weight)


def test_tracing_records_the_plain_layer():
    layer = OneDnnLinear(8, 4, activation="gelu")
    with torch.no_grad():
        traced = torch.jit.trace(layer, torch.randn(2, 8))
    assert "mkldnn" not in str(traced.inlined_graph)


def test_use_onednn_linears_keeps_parameters_and_folds_activations():
    torch.manual_seed(0)
    model = nn.Sequential(
        Mlp(16, 32),
        nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8), nn.GELU(approximate="tanh")),
    )
    keys = list(model.state_dict())
    x = torch.randn(4, 16)
    with torch.no_grad():
        expected = model(x)
    use_onednn_linears(model)
    mlp, seq = model[0], model[1]
    assert (mlp.fc1.activation, type(mlp.act), mlp.fc2.activation) == ("gelu", nn.Identity, "none")
    assert (seq[0].activation, type(seq[1]), seq[2].activation, type(seq[3])) == ("relu", nn.Identity, "none", nn.GELU)
    assert list(model.state_dict()) == keys
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-5)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation 'tanh'"):
        OneDnnLinear(2, 2, activation="tanh")
