"""Where a run's callbacks put their files: the run's own folder, never one an earlier run filled.

``run_directory``: the first logger's own folder (TensorBoard / CSV: ``<save_dir>/<name>/version_N``; W&B: the
run's ``files`` folder, which W&B uploads with the run), else the trainer's ``default_root_dir``.
``free_folder``: a folder name not taken by an earlier run (``ced``, ``ced_1``, ...); ``free_file``: a file
name not taken (``config.yaml``, ``config_1.yaml``, ...).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import WandbLogger


def run_directory(trainer: L.Trainer) -> Path:
    """This run's folder (see the module docstring). Call it on the global-zero process only (W&B)."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return Path(logger.experiment.dir)
        log_dir = getattr(logger, "log_dir", None)
        if log_dir:
            return Path(log_dir)
    return Path(trainer.default_root_dir)


def free_folder(folder: Path) -> Path:
    """``folder`` when it does not exist or is empty, else the first free ``<folder>_1``, ``<folder>_2``, ..."""
    folder = Path(folder)
    candidate, number = folder, 0
    while (candidate.is_dir() and any(candidate.iterdir())) or candidate.is_file():
        number += 1
        candidate = folder.with_name(f"{folder.name}_{number}")
    return candidate


def free_file(path: Path) -> Path:
    """``path`` when nothing is there, else the first free ``<stem>_1<suffix>``, ``<stem>_2<suffix>``, ..."""
    path = Path(path)
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}_{number}{path.suffix}")
    return candidate
