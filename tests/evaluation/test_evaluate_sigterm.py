"""SIGTERM ends a multi-process ``facexformer evaluate``: the launcher and every rank are gone in bounded time."""

import signal
import subprocess
import time

import psutil
import pytest

from tests.evaluation.test_evaluate import saved_model
from tests.fake_data import biwi
from tests.processes import assert_group_ends, launched


@pytest.mark.slow
def test_sigterm_ends_every_rank_of_a_ddp_evaluation(tmp_path):
    root = biwi.write(tmp_path / "BIWI", count=6000)
    _, checkpoint = saved_model(tmp_path / "model", ["headpose"])
    args = ["evaluate", "--benchmark", "biwi", "--root", str(root), "--checkpoint", checkpoint, "--batch_size", "1"]
    args += ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    args += ["--trainer.timeout", "120"]
    with launched(args, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as launcher:
        deadline = time.monotonic() + 120
        while not psutil.Process(launcher.pid).children() and launcher.poll() is None:
            assert time.monotonic() < deadline, "rank 1 was never started"
            time.sleep(0.2)
        time.sleep(6)  # both ranks past their start
        assert launcher.poll() is None, "the evaluation ended before SIGTERM was sent"
        ranks = [launcher.pid] + [p.pid for p in psutil.Process(launcher.pid).children(recursive=True)]
        assert len(ranks) >= 2
        launcher.send_signal(signal.SIGTERM)
        code = launcher.wait(timeout=30)
        assert_group_ends(launcher.pid, 30)
        assert code != 0
        assert "SIGTERM" in launcher.stderr.read().decode()
