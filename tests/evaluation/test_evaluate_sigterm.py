"""SIGTERM ends a multi-process ``facexformer evaluate``: the launcher and every rank are gone in bounded time."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.evaluation.test_evaluate import saved_model
from tests.fake_data import biwi


def group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` is still running (zombies count as gone)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


@pytest.mark.slow
def test_sigterm_ends_every_rank_of_a_ddp_evaluation(tmp_path):
    root = biwi.write(tmp_path / "BIWI", count=6000)
    _, checkpoint = saved_model(tmp_path / "model", ["headpose"])
    args = ["evaluate", "--benchmark", "biwi", "--root", str(root), "--checkpoint", checkpoint, "--batch_size", "1"]
    args += ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    args += ["--trainer.timeout", "120"]
    launcher = subprocess.Popen(
        [sys.executable, "-m", "facexformer", *args],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not psutil.Process(launcher.pid).children() and launcher.poll() is None:
            assert time.monotonic() < deadline, "rank 1 was never started"
            time.sleep(0.2)
        time.sleep(6)  # both ranks past their start
        assert launcher.poll() is None, "the evaluation ended before SIGTERM was sent"
        ranks = [launcher.pid] + [p.pid for p in psutil.Process(launcher.pid).children(recursive=True)]
        assert len(ranks) >= 2
        sent = time.monotonic()
        launcher.send_signal(signal.SIGTERM)
        code = launcher.wait(timeout=30)
        while group_alive(launcher.pid) and time.monotonic() < sent + 30:
            time.sleep(0.2)
        assert not group_alive(launcher.pid), "a rank outlived the launcher by 30 s"
        assert code != 0
        assert "SIGTERM" in launcher.stderr.read().decode()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
