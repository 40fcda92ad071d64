"""Runs never collide (issue 23, item 10): with the installed ``facexformer`` command in a fresh folder, each
fresh run of a config gets ``runs/<config>/version_N`` (checkpoints, TensorBoard events, resolved config), a
fine-tune from run A's checkpoint writes only into its own config's folder, ``--ckpt_path last`` resumes the
newest run and goes on in its folder, and a run's own ``last.ckpt`` resumes that run where it is. Slow: five
tiny fits (2 steps each, 4 for the resumed ones); tests/training/test_run_folders.py checks the same in-process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.workflows.steps import SYNTHETIC_DATA, TINY_QUICKSTART, run_step

pytestmark = pytest.mark.slow

QUICKSTART = [*TINY_QUICKSTART, "--test_after_fit", "false"]
#: the fine-tune config on the tiny network and synthetic faces, from a checkpoint given after it
FINETUNE = [
    "--config",
    "finetune_landmarks_head",
    "--data",
    str(SYNTHETIC_DATA),
    "--data.crop",
    "null",
    "--data.num_workers",
    "0",
    *TINY_QUICKSTART[TINY_QUICKSTART.index("--model.backbone") : TINY_QUICKSTART.index("--trainer.max_epochs")],
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--trainer.enable_progress_bar",
    "false",
    "--test_after_fit",
    "false",
    "--model.init_weights",
]
ONE_MORE_EPOCH = ["--trainer.max_epochs", "2"]


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by its path relative to it."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def step_of(checkpoint: Path) -> tuple[int, int]:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return saved["epoch"], saved["global_step"]


@dataclass
class Day:
    """What the day's commands left: the folder, run A's and run B's folders, each step's stdout and digests
    of A's folder after each step."""

    cwd: Path
    stdout: dict[str, str]
    a_files: dict[str, dict[str, str]]

    @property
    def runs(self) -> Path:
        return self.cwd / "runs" / "quickstart"


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Day:
    cwd = tmp_path_factory.mktemp("run_folders")
    out, a_files = {}, {}
    a = cwd / "runs/quickstart/version_0"
    for name, args in (
        ("run A", ["fit", *QUICKSTART]),
        ("run B", ["fit", *QUICKSTART]),
        ("fine-tune from A", ["fit", *FINETUNE, str(a / "checkpoints/last.ckpt")]),
        ("--ckpt_path last", ["fit", *QUICKSTART, *ONE_MORE_EPOCH, "--ckpt_path", "last"]),
        (
            "resume A by its file",
            ["fit", *QUICKSTART, *ONE_MORE_EPOCH, "--ckpt_path", str(a / "checkpoints/last.ckpt")],
        ),
    ):
        out[name] = run_step(f"fit: {name}", args, cwd).stdout
        a_files[name] = digests(a)
    return Day(cwd, out, a_files)


def test_two_fresh_runs_of_a_config_get_two_folders(day):
    for version in ("version_0", "version_1"):
        folder = day.runs / version
        assert (folder / "checkpoints/last.ckpt").is_file() and (folder / "config.yaml").is_file()
        assert list(folder.glob("events.out.tfevents.*"))
        assert (
            f"Checkpoint: {folder / 'checkpoints/last.ckpt'}"
            in day.stdout["run A" if version == "version_0" else "run B"]
        )
    assert day.a_files["run B"] == day.a_files["run A"]  # B wrote nothing into A's folder
    assert "checkpoints/last.ckpt" in day.a_files["run A"]


def test_each_runs_config_yaml_is_the_config_of_that_run(day):
    for version in ("version_0", "version_1"):
        text = (day.runs / version / "config.yaml").read_text()
        assert "default_root_dir: runs/quickstart" in text and "max_epochs: 1" in text
    assert not (day.cwd / "config.yaml").exists()


def test_a_finetune_from_run_a_writes_only_into_its_own_folder(day):
    assert day.a_files["fine-tune from A"] == day.a_files["run B"]  # A's folder byte-identical
    folder = day.cwd / "runs/finetune_landmarks_head/version_0"
    assert (folder / "checkpoints/last.ckpt").is_file() and (folder / "config.yaml").is_file()
    assert "Checkpoint: " + str(folder / "checkpoints/last.ckpt") in day.stdout["fine-tune from A"]


def test_ckpt_path_last_resumes_the_newest_run_in_its_folder(day):
    b = day.runs / "version_1"
    assert f"--ckpt_path last: resuming from {b / 'checkpoints/last.ckpt'}" in day.stdout["--ckpt_path last"]
    assert day.stdout["--ckpt_path last"].count("--ckpt_path last:") == 1
    assert step_of(b / "checkpoints/last.ckpt") == (1, 4)  # one more epoch of 2 steps, written where B was
    assert (b / "config_1.yaml").is_file() and "max_epochs: 2" in (b / "config_1.yaml").read_text()
    assert "max_epochs: 1" in (b / "config.yaml").read_text()  # the config B started with is kept
    assert len(list(b.glob("events.out.tfevents.*"))) == 2
    assert day.a_files["--ckpt_path last"] == day.a_files["run A"]
    assert sorted(p.name for p in day.runs.iterdir()) == ["version_0", "version_1"]  # no new run folder


def test_a_runs_own_checkpoint_resumes_that_run_in_its_folder(day):
    a = day.runs / "version_0"
    assert step_of(a / "checkpoints/last.ckpt") == (1, 4)
    assert (a / "config_1.yaml").is_file()
    assert sorted(p.name for p in day.runs.iterdir()) == ["version_0", "version_1"]
