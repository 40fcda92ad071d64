"""``facexformer fit --config quickstart`` killed with SIGKILL at a step, then resumed as the README says
(``--ckpt_path last``), ends with the weights of the uninterrupted run: with the quickstart's own checkpoint
callback (``last.ckpt`` every 10 steps and at every epoch end, nothing added by the test), a kill at any step of
any epoch, with 0, 1 and 2 DataLoader workers.

The run is the quickstart shrunk (tiny backbone, 12 batches of 4 per epoch, 3 epochs, one validation batch), so
``last.ckpt`` is written at steps 10, 12 (epoch end), 20, 24 (epoch end), 30 and 36. A kill at step 15 resumes
from the epoch end at 12 (the case that used to skip the whole next epoch); one at step 23 resumes in the
middle of epoch 1 from step 20 (with workers, the case that used to replay epoch 0's order); one at step 5
resumes from nothing. All are slow (three fits each); tests/robustness/test_faults.py has an in-process variant
in the default run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.workflows.steps import TINY_QUICKSTART, run_step

STEPS_PER_EPOCH, EPOCHS = 12, 3
SHRUNK = [
    *TINY_QUICKSTART,
    "--trainer.max_epochs",
    str(EPOCHS),
    "--trainer.limit_train_batches",
    str(STEPS_PER_EPOCH),
    "--data.batches_per_epoch",
    str(STEPS_PER_EPOCH),
    "--test_after_fit",
    "false",
    "--trainer.logger",
    "false",
]
KILLER = ["--trainer.callbacks+=tests.data.test_mid_epoch_resume.KillAtStep", "--trainer.callbacks.step"]


def last_of(cwd: Path) -> Path:
    """The newest ``last.ckpt`` of the quickstart's runs in ``cwd`` (a run killed before its first checkpoint
    leaves none: ``--ckpt_path last`` then starts a fresh run, in the next run folder)."""
    return max(cwd.glob("runs/quickstart/version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)


def fit(cwd: Path, workers: int, *extra: str, expect: int = 0, name: str = "fit") -> None:
    cwd.mkdir(exist_ok=True)
    run_step(f"{name} ({workers} workers)", ["fit", *SHRUNK, "--data.num_workers", str(workers), *extra], cwd, expect)


def saved(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def kill_and_resume(tmp_path: Path, workers: int, kill_step: int) -> None:
    """Fit uninterrupted; fit again killed at ``kill_step`` then resumed with ``--ckpt_path last``; the two
    ``last.ckpt`` hold the same step and the same weights."""
    fit(tmp_path / "whole", workers)
    fit(tmp_path / "killed", workers, *KILLER, str(kill_step), expect=-9, name=f"fit killed at step {kill_step}")
    fit(tmp_path / "killed", workers, "--ckpt_path", "last", name="fit --ckpt_path last")
    expected, got = saved(last_of(tmp_path / "whole")), saved(last_of(tmp_path / "killed"))
    assert got["global_step"] == expected["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert expected["state_dict"].keys() == got["state_dict"].keys()
    different = [k for k, v in expected["state_dict"].items() if not torch.equal(v, got["state_dict"][k])]
    assert not different, f"{len(different)}/{len(expected['state_dict'])} tensors differ, e.g. {different[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1, 2])
@pytest.mark.parametrize("kill_step", [5, 15, 23, 33])
def test_a_kill_at_any_step_resumes_exactly(tmp_path: Path, workers: int, kill_step: int) -> None:
    kill_and_resume(tmp_path, workers, kill_step)
