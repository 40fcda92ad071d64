"""A run killed (SIGKILL) in the middle of an epoch and resumed from its last checkpoint ends exactly where the
uninterrupted run ends: every sampled batch and every augmentation draw are those of the uninterrupted run."""

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "conf" / "tiny_multitask.yaml"
BATCHES_PER_EPOCH = 3
MAX_EPOCHS = 3


class KillAtStep(L.Callback):
    """Kill this process (SIGKILL: no cleanup, no final checkpoint) when training step ``step`` is about to run."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), 9)


def fit(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    """``facexformer fit`` on the tiny config, saving ``last.ckpt`` after every step, in a subprocess."""
    args = [
        sys.executable,
        "-m",
        "facexformer",
        "fit",
        "--config",
        str(CONFIG),
        "--trainer.max_epochs",
        str(MAX_EPOCHS),
        "--data.batches_per_epoch",
        str(BATCHES_PER_EPOCH),
        "--trainer.logger",
        "false",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.dirpath",
        str(folder),
        "--trainer.callbacks.every_n_train_steps",
        "1",
        "--trainer.callbacks.save_last",
        "true",
        "--trainer.callbacks.save_top_k",
        "0",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(args, cwd=folder.parent, env=env, capture_output=True, text=True, timeout=600)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_step", [2, 4])  # epoch 0 batch 2 and epoch 1 batch 1 (3 batches per epoch)
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(tmp_path: Path, kill_step: int) -> None:
    assert kill_step % BATCHES_PER_EPOCH, "the kill must fall inside an epoch"
    (tmp_path / "full").mkdir()
    (tmp_path / "killed").mkdir()
    done = fit(tmp_path / "full")
    assert done.returncode == 0, done.stderr[-3000:]

    killer = "--trainer.callbacks+=tests.data.test_mid_epoch_resume.KillAtStep"
    killed = fit(tmp_path / "killed", killer, "--trainer.callbacks.step", str(kill_step))
    assert killed.returncode == -9, killed.stderr[-3000:]
    last = tmp_path / "killed" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == kill_step

    resumed = fit(tmp_path / "killed", "--ckpt_path", str(last))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, got = weights(tmp_path / "full" / "last.ckpt"), weights(last)
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == MAX_EPOCHS * BATCHES_PER_EPOCH
    assert expected.keys() == got.keys()
    different = [name for name in expected if not torch.equal(expected[name], got[name])]
    assert not different, f"{len(different)}/{len(expected)} tensors differ, e.g. {different[:3]}"
