"""DataLoader worker processes that end with the process that started them, even when it is killed (SIGKILL).

PyTorch's workers notice a dead parent only between items, and one blocked on a full result queue at exit never
ends. ``end_with_parent`` (call it in the worker, e.g. from a ``worker_init_fn``) asks Linux to kill the worker
when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere, and as a second guard, a daemon thread
checks the parent's process id every ``interval`` seconds and ends the worker once it changed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: ``PR_SET_PDEATHSIG`` of ``<linux/prctl.h>``
PR_SET_PDEATHSIG = 1


def end_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Make this process end when ``parent_pid`` (the process that started it) ends; ``interval``: seconds
    between the watchdog's checks."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    watchdog = threading.Thread(target=_watch, args=(parent_pid, interval), name="parent-watchdog", daemon=True)
    watchdog.start()


def _watch(parent_pid: int, interval: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def end_with_parent_worker_init(parent_pid: int, worker_id: int) -> None:
    """A DataLoader ``worker_init_fn`` (bind ``parent_pid`` with ``functools.partial(..., os.getpid())``) that
    makes each worker end with the process that started it."""
    end_with_parent(parent_pid)
