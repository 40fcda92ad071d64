import torch
from torch import nn

from facexformer.benchmarking.flops import count_flops
from facexformer.inference.onednn_linear import OneDnnLinear


def test_linear_counts_two_flop_per_multiply_add():
    layer = nn.Linear(16, 8)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x)) == 2 * 5 * 16 * 8


def test_backward_is_counted_too():
    layer = nn.Linear(16, 8)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x).sum().backward()) == 2 * 2 * 5 * 16 * 8  # grad of the weight only


def test_packed_onednn_linear_counts_like_the_plain_layer():
    layer = OneDnnLinear(64, 32, activation="gelu")
    x = torch.randn(5, 7, 64)

    def packed() -> None:
        with torch.inference_mode():
            layer(x)

    packed_flops = count_flops(packed)
    assert layer._packed is not None  # the oneDNN path ran
    assert packed_flops == count_flops(lambda: layer(x)) == 2 * 5 * 7 * 64 * 32
