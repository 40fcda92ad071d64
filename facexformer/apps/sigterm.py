"""SIGTERM ends a multi-process run at once: every rank the launcher started is killed, and the process exits.

Lightning's own SIGTERM handler only forwards the signal to the other ranks and notes it; an evaluation goes
on (and may finish with a partial table, exit status 0) or waits in a collective for a rank that is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import lightning as L

#: the exit status after SIGTERM (128 + the signal's number, as a shell reports it)
EXIT_STATUS = 128 + signal.SIGTERM


class EndOnSigterm(L.Callback):
    """On SIGTERM: SIGKILL the ranks ``trainer``'s launcher started, say so on stderr, and exit with
    ``EXIT_STATUS`` without teardown (no collective can then wait for a rank that is gone; files are written
    atomically, so none is left half written). A context manager: installed on entry (in the main thread; a
    run in another thread keeps the handler it has), again when the test stage starts (Lightning replaces the
    handler with its own during ``Trainer.test``), and the previous handler restored on exit."""

    def __init__(self, prog: str):
        self.prog = prog
        self.trainer: L.Trainer | None = None
        self.previous: Any = None

    def __enter__(self) -> EndOnSigterm:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    def watch(self, trainer: L.Trainer) -> None:
        """Kill ``trainer``'s launched ranks on SIGTERM."""
        self.trainer = trainer

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trainer = trainer
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        launcher: Any = None if self.trainer is None else self.trainer.strategy.launcher
        for proc in getattr(launcher, "procs", []):
            if proc.poll() is None:
                proc.kill()
        sys.stderr.write(f"{self.prog}: stopped by SIGTERM (process {os.getpid()})\n")
        sys.stderr.flush()
        os._exit(EXIT_STATUS)
