import pytest
import torch

from facexformer.model.hourglass import Hourglass, ResidualBlock


@pytest.mark.parametrize("size", [(16, 16), (13, 10), (7, 7), (1, 3)])
def test_hourglass_keeps_the_shape_of_any_map(size):
    torch.manual_seed(0)
    x = torch.randn(2, 16, *size)
    assert Hourglass(16, depth=3)(x).shape == x.shape


def test_hourglass_output_is_per_sample():
    torch.manual_seed(0)
    hourglass = Hourglass(8, depth=2).train()
    x = torch.randn(3, 8, 12, 12)
    torch.testing.assert_close(hourglass(x)[:1], hourglass(x[:1]))


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    hourglass = Hourglass(8, depth=2)
    hourglass(torch.randn(2, 8, 12, 12)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hourglass.parameters())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="depth"):
        Hourglass(8, depth=0)
    with pytest.raises(ValueError, match="GroupNorm"):
        ResidualBlock(12, groups=8)
