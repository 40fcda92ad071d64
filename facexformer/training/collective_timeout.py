"""Every collective of a multi-process run bounded in time: the timeout handed to the strategies Lightning builds
from a name (``ddp``, ``ddp_spawn``, ``fsdp``, ... and the ``ddp`` that ``strategy="auto"`` picks for several
devices), and the error a collective that waited too long raises, recognised.

The timeout bounds every wait of one process for the others: the start (the other processes joining), each
gradient all-reduce, each metric sync and barrier. torch's own default is 30 minutes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from lightning.pytorch.strategies import StrategyRegistry

#: seconds a process waits in a collective by default in ``facexformer fit``/``validate``/``test``/``predict``
#: (the first batch, with the start of every data-loading worker, can be slow)
DEFAULT_TIMEOUT_S = 1800

#: what torch.distributed's gloo and c10d store say when a wait ran past its timeout (gloo: "Timed out waiting
#: 5000ms for recv operation to complete", then "Application timeout caused pair closure" for the next ones)
_TIMED_OUT = re.compile(r"timed out waiting|application timeout|timeout caused|socket timeout|wait timeout", re.I)


@contextmanager
def strategies_with_timeout(seconds: float) -> Iterator[None]:
    """While inside: every strategy of Lightning's ``StrategyRegistry`` whose class takes ``timeout`` is built
    with ``timeout=timedelta(seconds=seconds)`` (a ``Trainer(strategy="ddp")`` made inside gets it). The
    registry's entries are put back on exit."""
    saved = {
        name: entry
        for name, entry in StrategyRegistry.items()
        if "timeout" in inspect.signature(entry["strategy"]).parameters
    }
    for name, entry in saved.items():
        params = {**entry["init_params"], "timeout": timedelta(seconds=seconds)}
        StrategyRegistry.register(name, entry["strategy"], entry["description"], override=True, **params)
    try:
        yield
    finally:
        for name, entry in saved.items():
            StrategyRegistry.register(
                name, entry["strategy"], entry["description"], override=True, **entry["init_params"]
            )


def is_collective_timeout(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is torch.distributed's report of a wait that ran past
    its timeout."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RuntimeError) and _TIMED_OUT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False
