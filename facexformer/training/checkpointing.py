"""Checkpoints a killed run resumes from exactly: ``last.ckpt`` between epoch ends, written beside its target.

``ResumableCheckpoint`` is Lightning's ``ModelCheckpoint`` plus:

- ``last_every_n_train_steps``: ``last.ckpt`` is also written every that many training steps, so a kill loses
  at most that many steps (the epoch-end and top-k saves stay as configured);
- checkpoints are written to a temporary file beside the target and renamed over it (Lightning's own writer
  goes through a temporary file in the system's temporary folder, whose move onto another filesystem is a copy
  that a kill or a full disk leaves truncated);
- ``--ckpt_path last`` on a damaged file resumes from the newest intact checkpoint of the same folder, saying
  which and why, or fails with one line naming the file when there is none;
- temporary files a killed run left in ``dirpath`` are removed when the next run starts, and listed.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from facexformer.io.atomic import remove_leftovers, write_atomically
from facexformer.io.errors import CheckpointError

#: what ``torch.load`` raises on a truncated, empty or overwritten file
DAMAGE = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError)


class BesideTargetCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` whose files are written atomically beside their target, and whose
    loader falls back to the newest intact sibling checkpoint when the one asked for is damaged."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint takes no storage_options, got {storage_options}")
        serialized = io.BytesIO()  # as Lightning does: torch's C++ file writer aborts the process on a full disk
        torch.save(checkpoint, serialized)
        write_atomically(path, lambda tmp: tmp.write_bytes(serialized.getbuffer()), overwrite=True)

    def load_checkpoint(self, path: _PATH, *args: Any, **kwargs: Any) -> Any:
        path = Path(path)
        try:
            return super().load_checkpoint(path, *args, **kwargs)
        except DAMAGE as err:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}"
        for candidate in newest_first(path.parent, exclude=path):
            try:
                content = super().load_checkpoint(candidate, *args, **kwargs)
            except DAMAGE:
                continue
            rank_zero_warn(
                f"{path} is damaged ({reason}); resuming from {candidate.name}, the newest intact checkpoint of "
                f"{path.parent} (epoch {content.get('epoch')}, step {content.get('global_step')})"
            )
            return content
        raise CheckpointError(
            f"{path} is damaged ({reason}) and {path.parent} holds no intact checkpoint to resume from; "
            "start again without --ckpt_path"
        )


def newest_first(folder: Path, exclude: Path) -> list[Path]:
    """The ``*.ckpt`` files of ``folder`` but ``exclude``, newest (by modification time) first."""
    found = [p for p in folder.glob("*.ckpt") if p != exclude and p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that also writes ``last.ckpt`` every ``last_every_n_train_steps`` steps (0: at the
    epoch ends only, Lightning's default), atomically beside its target (see the module docstring).

    Args:
        last_every_n_train_steps: training steps between ``last.ckpt`` saves inside an epoch (needs
            ``save_last``); a kill loses at most that many steps.
        *args, **kwargs: those of Lightning's ``ModelCheckpoint``.
    """

    def __init__(self, *args: Any, last_every_n_train_steps: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if last_every_n_train_steps < 0:
            raise ValueError(f"last_every_n_train_steps must be >= 0, got {last_every_n_train_steps}")
        if last_every_n_train_steps and not self.save_last:
            raise ValueError("last_every_n_train_steps writes last.ckpt: it needs save_last=True")
        self.last_every_n_train_steps = last_every_n_train_steps

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        local = self.dirpath is not None and "://" not in str(self.dirpath)
        if local and type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = BesideTargetCheckpointIO()
        if trainer.is_global_zero and local:
            removed = remove_leftovers(self.dirpath, lambda name: name.endswith(".ckpt"))
            if removed:
                names = ", ".join(p.name for p in removed)
                rank_zero_info(f"removed {len(removed)} unfinished checkpoint file(s) a killed run left: {names}")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        every = self.last_every_n_train_steps
        if not every or trainer.global_step % every or trainer.sanity_checking or trainer.fast_dev_run:
            return
        saved_step = self._last_global_step_saved
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._last_global_step_saved = saved_step  # the epoch-end saves of this step still happen
