import math

import pytest
import torch
from torch import nn

from facexformer.losses.awing import AdaptiveWingLoss
from facexformer.losses.masked import CoordinateL1Loss, HeatmapMSELoss
from facexformer.losses.star import STARLoss
from facexformer.losses.wing import SmoothL1Loss, WingLoss

COORDINATE_LOSSES = [WingLoss(), SmoothL1Loss(), CoordinateL1Loss()]
HEATMAP_LOSSES = [AdaptiveWingLoss(), HeatmapMSELoss()]


def _points(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(3, 5, 2, generator=generator) * 2 - 1, torch.rand(3, 5, 2, generator=generator) * 2 - 1


def test_plain_losses_are_unchanged_without_missing_points():
    output, target = _points()
    assert torch.allclose(CoordinateL1Loss()(output, target), nn.L1Loss()(output, target))
    maps, goal = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.allclose(HeatmapMSELoss()(maps, goal), nn.MSELoss()(maps, goal))


@pytest.mark.parametrize("loss", COORDINATE_LOSSES, ids=lambda m: type(m).__name__)
def test_missing_points_are_left_out_of_value_and_gradient(loss):
    output, target = _points()
    output.requires_grad_(True)
    holed = target.clone()
    holed[0] = math.nan  # a sample without any annotated point
    holed[1, 2] = torch.tensor([math.nan, math.inf])
    value = loss(output, holed)
    value.backward()
    kept = torch.ones(3, 5, dtype=torch.bool)
    kept[0], kept[1, 2] = False, False
    expected = loss(output[kept].unsqueeze(0), target[kept].unsqueeze(0))
    assert torch.allclose(value, expected)
    assert torch.isfinite(output.grad).all() and output.grad[0].abs().sum() == 0 and output.grad[1, 2].abs().sum() == 0


@pytest.mark.parametrize("loss", [*HEATMAP_LOSSES, STARLoss()], ids=lambda m: type(m).__name__)
def test_heatmap_losses_mask_missing_channels(loss):
    maps = torch.rand(2, 3, 8, 8, requires_grad=True)
    if isinstance(loss, STARLoss):
        target = torch.rand(2, 3, 2) * 2 - 1
        target[0, 1] = math.nan
    else:
        target = torch.rand(2, 3, 8, 8)
        target[0, 1] = math.nan
    value = loss(maps, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(maps.grad).all()
    assert maps.grad[0, 1].abs().sum() == 0


@pytest.mark.parametrize("loss", [*COORDINATE_LOSSES], ids=lambda m: type(m).__name__)
def test_nothing_annotated_gives_a_connected_zero(loss):
    output = torch.rand(2, 4, 2, requires_grad=True)
    value = loss(output, torch.full((2, 4, 2), math.nan))
    value.backward()
    assert value == 0 and output.grad is not None and output.grad.abs().sum() == 0
