"""The timeout handed to the strategies Lightning builds from a name, and torch.distributed's timeout errors."""

from datetime import timedelta

import lightning as L
import pytest
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

from facexformer.training.collective_timeout import is_collective_timeout, strategies_with_timeout

#: what gloo raised in a 2-process run where one process slept past the timeout (torch 2.14)
GLOO_FIRST = "[/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 3000ms for recv"
GLOO_NEXT = "Application timeout caused pair closure"


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn", "auto"])
def test_strategies_named_by_a_string_get_the_timeout(strategy):
    with strategies_with_timeout(7):
        trainer = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy._timeout == timedelta(seconds=7)  # no public getter


def test_the_registry_is_put_back():
    before = {name: dict(entry) for name, entry in StrategyRegistry.items()}
    with pytest.raises(RuntimeError), strategies_with_timeout(7):
        assert StrategyRegistry["ddp_spawn"]["init_params"] == {
            "start_method": "spawn",
            "timeout": timedelta(7 / 86400),
        }
        raise RuntimeError("a failed trainer")
    assert {name: dict(entry) for name, entry in StrategyRegistry.items()} == before
    assert "timeout" not in StrategyRegistry["ddp"]["init_params"]


@pytest.mark.parametrize("message", [GLOO_FIRST, GLOO_NEXT, "Socket Timeout", "wait timeout after 30000ms"])
def test_gloo_and_store_timeouts_are_recognised(message):
    assert is_collective_timeout(RuntimeError(message))
    try:
        try:
            raise RuntimeError(message)
        except RuntimeError as err:
            raise ValueError("while syncing the metrics") from err
    except ValueError as wrapped:
        assert is_collective_timeout(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("DataLoader worker (pid 12) exited unexpectedly"),
        RuntimeError("Connection closed by peer [127.0.0.1]:703"),
        ValueError("Timed out waiting 3000ms"),  # not torch.distributed's kind of error
    ],
)
def test_other_errors_are_not_timeouts(error):
    assert not is_collective_timeout(error)
