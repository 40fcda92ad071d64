"""Each run of a config in ``<default_root_dir>/version_N``: which folder a run takes, and the trainer's files
(logger, checkpoints, config) placed there. The same with the installed command: tests/workflows/test_run_folders.py."""

import os
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from facexformer.training.run_folders import (
    RunFolder,
    SaveConfigInRunFolder,
    choose_run_folder,
    newest_last_checkpoint,
    place_run,
    run_versions,
    version_of,
)


def checkpoint(path: Path, age: int = 0) -> Path:
    """An (empty) checkpoint file at ``path``, modified ``age`` seconds after 1000 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (1000 + age, 1000 + age))
    return path


def trainer(root: Path, logger=True, **checkpointing) -> L.Trainer:
    callbacks = [ModelCheckpoint(save_last=True, **checkpointing)]
    return L.Trainer(default_root_dir=root, logger=logger, callbacks=callbacks, enable_progress_bar=False)


def test_run_versions_are_the_version_n_folders(tmp_path):
    for name in ("version_0", "version_3", "version_x", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "version_7").write_text("a file")
    assert run_versions(tmp_path) == {0: tmp_path / "version_0", 3: tmp_path / "version_3"}
    assert run_versions(tmp_path / "none") == {}


def test_a_fresh_run_takes_the_next_free_version(tmp_path):
    assert choose_run_folder(tmp_path, None, fitting=True) == RunFolder(tmp_path / "version_0", 0, False)
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_4").mkdir()
    assert choose_run_folder(tmp_path, None, fitting=True) == RunFolder(tmp_path / "version_5", 5, False)


def test_fit_from_a_runs_checkpoint_continues_that_run_in_its_folder(tmp_path):
    root = tmp_path / "runs" / "quickstart"
    last = checkpoint(root / "version_1" / "checkpoints" / "last.ckpt")
    (root / "version_2").mkdir()
    assert version_of(last, root) == 1
    assert choose_run_folder(root, str(last), fitting=True) == RunFolder(root / "version_1", 1, True)
    # test/validate/predict with it, or a checkpoint of another config's runs: a fresh run
    assert choose_run_folder(root, str(last), fitting=False) == RunFolder(root / "version_3", 3, False)
    other = checkpoint(tmp_path / "runs" / "finetune" / "version_1" / "checkpoints" / "last.ckpt")
    assert version_of(other, root) is None
    assert choose_run_folder(root, str(other), fitting=True).version == 3
    assert version_of(checkpoint(root / "version_1" / "last.ckpt"), root) is None  # not in checkpoints/


def test_last_is_the_newest_last_checkpoint_of_the_configs_runs(tmp_path):
    old = checkpoint(tmp_path / "version_0" / "checkpoints" / "last.ckpt", age=3)
    checkpoint(tmp_path / "version_1" / "checkpoints" / "last.ckpt", age=1)
    checkpoint(tmp_path / "version_1" / "checkpoints" / "epoch=0.ckpt", age=9)  # not a last*.ckpt
    assert newest_last_checkpoint(tmp_path, []) == old
    named = checkpoint(tmp_path / "mine" / "last-v1.ckpt", age=5)  # a config's own ModelCheckpoint dirpath
    assert newest_last_checkpoint(tmp_path, [tmp_path / "mine"]) == named
    assert newest_last_checkpoint(tmp_path / "empty", []) is None


def test_place_run_puts_logs_and_checkpoints_of_a_fresh_run_in_version_n(tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "version_0").mkdir()
    run = trainer(tmp_path)
    assert place_run(run, None, fitting=True, default_logger=True) is None
    assert type(run.logger) is TensorBoardLogger and Path(run.logger.log_dir) == tmp_path / "version_1"
    assert run.checkpoint_callback.dirpath == str(tmp_path / "version_1" / "checkpoints")
    assert Path(run.log_dir) == tmp_path / "version_1"


def test_place_run_resolves_last_and_continues_the_run_in_its_folder(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    last = checkpoint(tmp_path / "version_0" / "checkpoints" / "last.ckpt", age=2)
    checkpoint(tmp_path / "version_1" / "checkpoints" / "last.ckpt", age=1)
    (tmp_path / "version_2").mkdir()  # e.g. a `test` run: no checkpoints
    run = trainer(tmp_path)
    assert place_run(run, "last", fitting=True, default_logger=True) == str(last)
    assert capsys.readouterr().out == f"--ckpt_path last: resuming from {last}\n"
    assert Path(run.logger.log_dir) == tmp_path / "version_0"
    assert run.checkpoint_callback.dirpath == str(last.parent)


def test_place_run_keeps_last_without_a_checkpoint_and_starts_fresh(tmp_path, capsys):
    run = trainer(tmp_path, logger=False)
    assert place_run(run, "last", fitting=True, default_logger=False) == "last"  # Lightning says there is none
    assert capsys.readouterr().out == ""
    assert run.checkpoint_callback.dirpath == str(tmp_path / "version_0" / "checkpoints")  # no logger: the same


def test_place_run_keeps_what_the_config_names(tmp_path):
    own = TensorBoardLogger(tmp_path / "elsewhere", name="mine")
    run = trainer(tmp_path, logger=own, dirpath=tmp_path / "my_checkpoints")
    place_run(run, None, fitting=True, default_logger=False)
    assert run.logger is own and run.checkpoint_callback.dirpath == str(tmp_path / "my_checkpoints")


def test_a_resumed_csv_run_keeps_its_metrics(tmp_path):
    last = checkpoint(tmp_path / "version_0" / "checkpoints" / "last.ckpt")
    (tmp_path / "version_0" / "metrics.csv").write_text("epoch,step\n0,1\n")
    run = trainer(tmp_path, logger=CSVLogger(tmp_path))
    place_run(run, str(last), fitting=True, default_logger=True)
    assert type(run.logger) is CSVLogger and Path(run.logger.log_dir) == tmp_path / "version_0" / "resumed"
    run.logger.log_metrics({"loss": 1.0}, step=2)
    run.logger.save()
    assert (tmp_path / "version_0" / "metrics.csv").read_text() == "epoch,step\n0,1\n"
    fresh = trainer(tmp_path, logger=CSVLogger(tmp_path))
    place_run(fresh, None, fitting=True, default_logger=True)
    assert Path(fresh.logger.log_dir) == tmp_path / "version_1"


def test_wandb_without_a_save_dir_keeps_its_files_in_the_run_folder(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    run = trainer(tmp_path / "runs", logger=WandbLogger(offline=True, project="facexformer-test"))
    place_run(run, None, fitting=True, default_logger=False)
    try:
        files = Path(run.logger.experiment.dir)
    finally:
        wandb.finish()
    assert files.is_relative_to(tmp_path / "runs" / "version_0" / "wandb")
    assert run.checkpoint_callback.dirpath == str(tmp_path / "runs" / "version_0" / "checkpoints")
    assert not (tmp_path / "wandb").exists()


def save_config(run_folder: Path, trainer) -> list[Path]:
    """Run ``SaveConfigInRunFolder.setup`` for ``trainer``; the paths it saved to."""
    saved = []
    parser = SimpleNamespace(save=lambda config, path, **kwargs: saved.append(Path(path)) or Path(path).touch())
    callback = SaveConfigInRunFolder(parser, Namespace(a=1))
    callback.run_folder = run_folder
    callback.setup(trainer, None, "fit")
    return saved


def test_the_config_goes_into_the_run_folder_and_a_resume_keeps_the_first(tmp_path):
    run = SimpleNamespace(loggers=[], is_global_zero=True, strategy=SimpleNamespace(broadcast=lambda value: value))
    assert save_config(tmp_path / "version_0", run) == [tmp_path / "version_0" / "config.yaml"]
    assert save_config(tmp_path / "version_0", run) == [tmp_path / "version_0" / "config_1.yaml"]
