"""Multi-process commands in tests: ``facexformer`` launched in a process group of its own, the group waited
for, and killed whatever the test's outcome (a hang is a failure, and nothing outlives the test)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil


def group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` is still running (zombies count as gone)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def assert_group_ends(group: int, seconds: float) -> None:
    """Every process of ``group`` is gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(group), f"a rank outlived the launcher by {seconds} s"


@contextlib.contextmanager
def launched(args: list[str], cwd: Path, **popen: Any) -> Iterator[subprocess.Popen]:
    """``python -m facexformer *args`` in ``cwd``, in a new session; its whole group is killed on exit."""
    launcher = subprocess.Popen([sys.executable, "-m", "facexformer", *args], cwd=cwd, start_new_session=True, **popen)
    try:
        yield launcher
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
