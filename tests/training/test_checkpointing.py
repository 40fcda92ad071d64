"""``ResumableCheckpoint``: last.ckpt between epoch ends, written beside its target, damaged files handled."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from facexformer.io.errors import CheckpointError
from facexformer.training.checkpointing import BesideTargetCheckpointIO, ResumableCheckpoint


class LastStepSeen(L.Callback):
    """The step stored in ``folder/last.ckpt`` at every training batch start (None while there is none)."""

    def __init__(self, folder: Path):
        self.folder, self.seen = folder, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        last = self.folder / "last.ckpt"
        try:
            step = torch.load(last, weights_only=True)["global_step"] if last.is_file() else None
        except RuntimeError:
            step = "damaged"
        self.seen.append((trainer.global_step, step))


def fit(folder: Path, max_epochs: int = 2, ckpt_path: str | None = None, **checkpoint) -> tuple[L.Trainer, list]:
    look = LastStepSeen(folder)
    callback = ResumableCheckpoint(dirpath=folder, save_last=True, **checkpoint)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=5,
        limit_val_batches=1,
        logger=False,
        callbacks=[callback, look],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder.parent,
    )
    trainer.fit(BoringModel(), ckpt_path=ckpt_path)
    return trainer, look.seen


def test_last_ckpt_is_written_every_n_steps_and_at_every_epoch_end(tmp_path: Path) -> None:
    trainer, seen = fit(tmp_path / "ckpt", last_every_n_train_steps=2, save_top_k=1)
    assert isinstance(trainer.strategy.checkpoint_io, BesideTargetCheckpointIO)
    assert seen == [(0, None), (1, None), (2, 2), (3, 2), (4, 4), (5, 5), (6, 6), (7, 6), (8, 8), (9, 8)]
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 10
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch=1-step=10.ckpt", "last.ckpt"]


def test_without_the_option_last_ckpt_is_written_at_epoch_ends_only(tmp_path: Path) -> None:
    _, seen = fit(tmp_path / "ckpt", save_top_k=1)
    assert [step for _, step in seen] == [None] * 5 + [5] * 5


def test_the_option_needs_save_last() -> None:
    with pytest.raises(ValueError, match="needs save_last"):
        ResumableCheckpoint(last_every_n_train_steps=5)


def test_a_damaged_last_ckpt_resumes_from_the_newest_intact_checkpoint_saying_so(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    fit(folder, max_epochs=1, save_top_k=1)
    last = folder / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated, as a kill mid-copy left it
    with pytest.warns(UserWarning, match=r"last.ckpt is damaged .*resuming from epoch=0-step=5.ckpt"):
        trainer, seen = fit(folder, max_epochs=2, ckpt_path="last", save_top_k=1)
    assert trainer.global_step == 10
    assert seen[0] == (5, "damaged")


def test_a_damaged_last_ckpt_without_an_intact_one_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match=r"last.ckpt is damaged .* holds no intact checkpoint"):
        fit(folder, ckpt_path=str(folder / "last.ckpt"), save_top_k=0)


def test_temporary_files_a_killed_run_left_are_removed_and_listed(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / ".last.ckpt.k1ll3d_x.tmp").write_bytes(b"\0" * 4096)
    (folder / "notes.txt").write_text("kept")
    fit(folder, max_epochs=1, save_top_k=0)
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt", "notes.txt"]
    assert "removed 1 unfinished checkpoint file(s) a killed run left: .last.ckpt.k1ll3d_x.tmp" in caplog.text
