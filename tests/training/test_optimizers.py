"""The paper's optimiser recipe: AdamW over the trainable parameters, stepped down at milestone epochs."""

import pytest
import torch
from torch import nn

from facexformer.training.optimizers import adamw_multistep


def test_only_trainable_parameters_are_optimised_and_the_rate_steps_down_at_milestones():
    layer = nn.Linear(3, 2)
    layer.bias.requires_grad_(False)
    config = adamw_multistep(layer.parameters(), lr=1e-3, weight_decay=1e-5, milestones=(2, 4), gamma=0.1)
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert [p for group in optimizer.param_groups for p in group["params"]] == [layer.weight]
    assert optimizer.defaults["weight_decay"] == 1e-5 and config["lr_scheduler"]["interval"] == "epoch"
    rates = []
    for _ in range(5):  # one scheduler step per epoch
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


def test_the_update_is_fused_only_where_every_tensor_allows_it():
    cpu = nn.Parameter(torch.zeros(2))
    assert adamw_multistep([cpu], 1e-3, 0.0, (), 0.1)["optimizer"].defaults["fused"] is True
    meta = nn.Parameter(torch.zeros(2, device="meta"))
    assert adamw_multistep([cpu, meta], 1e-3, 0.0, (), 0.1)["optimizer"].defaults["fused"] is None
