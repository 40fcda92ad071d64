"""SIGTERM ends a multi-process run at once: every rank the launcher started is killed, and the process exits.

Lightning's own SIGTERM handler (2.6) forwards the signal to the other ranks, broadcasts from inside the handler
(which waits for ranks that may be busy elsewhere or gone) and notes it: an evaluation goes on (and may finish with
a partial table, exit status 0); ``fit`` stops at the next batch with exit status 0, as if it had finished.
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
    run in another thread keeps the handler it has), again when a loop starts (Lightning replaces the handler
    with its own in each ``Trainer.fit``/``validate``/``test``/``predict``, after ``on_fit_start``), and the
    previous handler restored on exit. A checkpoint being written when the signal comes is left unfinished as
    a temporary file beside its target, which keeps its previous content (``facexformer.io.atomic``)."""

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

    def __getstate__(self) -> dict[str, Any]:
        """A copy sent to a spawned process (``ddp_spawn``) leaves that process's handler alone."""
        return {**self.__dict__, "trainer": None, "previous": None}

    def _take_over(self, trainer: L.Trainer) -> None:
        self.trainer = trainer
        if self.previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.handle)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)  # also the sanity check before training

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.trainer is not None:
            end_launched_ranks(self.trainer)
        sys.stderr.write(f"{self.prog}: stopped by SIGTERM (process {os.getpid()})\n")
        sys.stderr.flush()
        os._exit(EXIT_STATUS)


def end_launched_ranks(trainer: L.Trainer) -> None:
    """SIGKILL the rank processes ``trainer``'s launcher started that still run (none outside the launcher, or
    with a launcher that starts none), and forget them: Lightning's watcher of the launched processes would
    otherwise SIGKILL this one when it sees them gone, before it reports why."""
    procs = getattr(trainer.strategy.launcher, "procs", [])
    for proc in procs:
        running = proc.poll() is None if hasattr(proc, "poll") else proc.is_alive()  # Popen or multiprocessing
        if running:
            proc.kill()
    procs.clear()
