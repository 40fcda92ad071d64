"""Faults: a killed, full or read-only run loses nothing, leaves nothing running and nothing partial.

Each case states its verdict: ``exact`` (the result equals the undisturbed one), ``nothing left`` (no process,
no partial or hidden file survives), ``per-file error`` (that file reported, the others written, a summary and
exit code 1), ``clear error`` (one message naming the file), ``recovered`` (the previous state comes back).
The tests run as root, for whom ``chmod`` does not make a folder read-only: a read-only folder is simulated by
a write that raises ``PermissionError`` (EACCES), and a full disk by one that raises ``OSError(ENOSPC)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from PIL import Image

from facexformer.data.synthetic import SyntheticFaces
from facexformer.module import FaceXFormer
from tests.workflows.steps import user_environment

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    return str(FaceXFormer(tasks=["landmarks", "gender"], **TINY).save_pretrained(tmp_path_factory.mktemp("m") / "m"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for index, sample in enumerate(SyntheticFaces(3, 64, seed=4, tasks=["landmarks"])):
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(folder / f"face_{index}.png")
    return folder


# ------------------------------------------------------------------------- item 4: kill -9 of infer (nothing left)
@pytest.mark.slow
def test_kill_9_of_infer_ends_its_dataloader_workers(checkpoint: str, photos: Path, tmp_path: Path) -> None:
    """Verdict: nothing left. ``infer --workers 2`` on many large photos is killed with SIGKILL while its workers
    are busy; within 5 s no worker survives (they used to stay, blocked on their full result queue)."""
    many = tmp_path / "many"
    many.mkdir()
    Image.new("RGB", (1024, 1024), (120, 90, 60)).save(many / "p0000.png")
    for i in range(1, 400):
        os.link(many / "p0000.png", many / f"p{i:04d}.png")
    command = [sys.executable, "-m", "facexformer", "infer", str(many), "--checkpoint", checkpoint]
    command += ["--out", str(tmp_path / "out"), "--workers", "2", "--detector", "none", "--no-overlay"]
    process = subprocess.Popen(command, env=user_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[psutil.Process] = []
    try:
        parent = psutil.Process(process.pid)
        deadline = time.monotonic() + 120
        while len(parent.children()) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = parent.children()
        assert len(workers) >= 2, f"no workers started: {process.stderr.read().decode()[-2000:]}"
        time.sleep(2)  # the workers fill their result queue
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"{len(alive)} DataLoader worker(s) outlived the killed infer: {[p.pid for p in alive]}"
    finally:
        process.kill()
        for worker in workers:
            if worker.is_running():
                worker.kill()
