import torch
from torch import nn

from facexformer.benchmarking.flops import count_flops


def test_linear_counts_two_flop_per_multiply_add():
    layer = nn.Linear(16, 8)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x)) == 2 * 5 * 16 * 8


def test_backward_is_counted_too():
    layer = nn.Linear(16, 8)
    x = torch.randn(5, 16)
    assert count_flops(lambda: layer(x).sum().backward()) == 2 * 2 * 5 * 16 * 8  # grad of the weight only
