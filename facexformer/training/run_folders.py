"""Each run of a config in a folder of its own: ``<default_root_dir>/version_N`` (the shipped configs:
``runs/<config>/version_N``), holding its ``checkpoints/``, its logs and its resolved ``config.yaml``.

``place_run`` puts a trainer's files there (Lightning's own layout for its default logger, without the
``lightning_logs`` level):

- a fresh run takes the next free ``version_N``; ``fit`` from a checkpoint of ``<root>/version_K/checkpoints``
  continues run K in ``version_K`` (``--ckpt_path last``: the newest ``last*.ckpt`` of the config's runs);
- the default logger (``trainer.logger: true``: TensorBoard, or CSV without it) logs into the run folder; a
  resumed run's TensorBoard events join the run's earlier ones; a resumed run's CSV logs go into
  ``resumed``, ``resumed_1``, ... inside it (Lightning's ``CSVLogger`` deletes the ``metrics.csv`` it finds);
- W&B without a ``save_dir`` of its own keeps its files (``wandb/``) in the run folder; a logger the config
  names otherwise keeps its own ``save_dir``, ``name`` and ``version``;
- a ``ModelCheckpoint`` without ``dirpath`` writes into ``<run folder>/checkpoints``; one whose ``dirpath``
  the config names keeps it;
- ``SaveConfigInRunFolder`` writes the resolved config into the run folder (W&B: the W&B run's files, uploaded
  with it); a resumed run that finds one there writes ``config_1.yaml``, ``config_2.yaml``, ...
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from facexformer.training.run_files import free_file, free_folder

#: a run folder's name: ``version_<N>``
VERSION_NAME = re.compile(r"version_(\d+)")
#: the run folder's sub-folder of checkpoints
CHECKPOINTS = "checkpoints"
#: Lightning's notices for a folder a resumed run writes into again, as it should
RESUME_NOTICES = (r"Checkpoint directory .* exists and is not empty",)


@dataclass(frozen=True)
class RunFolder:
    """Where a run writes: ``path`` (``<root>/version_<version>``); ``continued``: a ``fit`` that resumes the
    run of this folder (its checkpoints there) rather than a fresh run."""

    path: Path
    version: int
    continued: bool

    @property
    def checkpoints(self) -> Path:
        """The folder of the run's checkpoints."""
        return self.path / CHECKPOINTS


def run_versions(root: Path) -> dict[int, Path]:
    """The run folders ``version_N`` of ``root``, by ``N``."""
    if not root.is_dir():
        return {}
    found = (VERSION_NAME.fullmatch(p.name) for p in root.iterdir() if p.is_dir())
    return {int(m[1]): root / m[0] for m in found if m}


def version_of(checkpoint: Path, root: Path) -> int | None:
    """``K`` when ``checkpoint`` is a file of ``<root>/version_K/checkpoints``, else None."""
    folder = Path(os.path.realpath(checkpoint)).parent
    match = VERSION_NAME.fullmatch(folder.parent.name)
    same_root = folder.parent.parent == Path(os.path.realpath(root))
    return int(match[1]) if match and folder.name == CHECKPOINTS and same_root else None


def newest_last_checkpoint(root: Path, folders: list[Path]) -> Path | None:
    """The newest (modification time) ``last*.ckpt`` of ``root``'s runs and of ``folders`` (checkpoint folders
    a config names), or None: what ``--ckpt_path last`` resumes."""
    runs = [path / CHECKPOINTS for path in run_versions(root).values()]
    found = [p for folder in (*runs, *folders) if folder.is_dir() for p in folder.glob("last*.ckpt") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def choose_run_folder(root: Path, checkpoint: str | None, fitting: bool) -> RunFolder:
    """The folder of a run under ``root``: that of the run ``checkpoint`` belongs to when ``fitting`` resumes
    it, else the next free ``version_N``."""
    resumed = version_of(Path(checkpoint), root) if fitting and checkpoint else None
    if resumed is not None:
        return RunFolder(root / f"version_{resumed}", resumed, continued=True)
    version = max(run_versions(root), default=-1) + 1
    return RunFolder(root / f"version_{version}", version, continued=False)


def place_run(trainer: L.Trainer, ckpt_path: str | None, fitting: bool, default_logger: bool) -> str | None:
    """Put every file of ``trainer``'s run in its own folder (see the module docstring) and return the
    checkpoint to start from: ``ckpt_path``, with ``"last"`` resolved to a file when there is one (printed
    once). ``fitting``: the run is ``fit`` (which continues a run it resumes); ``default_logger``: the config's
    ``trainer.logger`` is ``true`` (or unset), so the logger Lightning built may be replaced by the same
    class placed in the run folder. A ``default_root_dir`` that is no local folder is left to Lightning."""
    if "://" in str(trainer.default_root_dir):
        return ckpt_path
    root = Path(os.path.realpath(trainer.default_root_dir))
    checkpoints = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)]
    if ckpt_path == "last":
        named = [Path(cb.dirpath) for cb in checkpoints if cb.dirpath]
        newest = newest_last_checkpoint(root, named)
        if newest is not None:
            ckpt_path = str(newest)
            _say(f"--ckpt_path last: {'resuming from' if fitting else 'using'} {newest}")
    run = choose_run_folder(root, ckpt_path, fitting)
    if run.continued:
        for notice in RESUME_NOTICES:
            warnings.filterwarnings("ignore", message=notice)
    for callback in checkpoints:
        if callback.dirpath is None:
            callback.dirpath = str(run.checkpoints)
    for callback in trainer.callbacks:
        if isinstance(callback, SaveConfigInRunFolder):
            callback.run_folder = run.path
    trainer.loggers = [_placed(logger, run, default_logger) for logger in trainer.loggers]
    return ckpt_path


def _placed(logger: Any, run: RunFolder, default_logger: bool) -> Any:
    """``logger``, or one like it that writes into ``run``'s folder."""
    if default_logger and type(logger) is TensorBoardLogger:
        return TensorBoardLogger(save_dir=run.path.parent, name="", version=run.version)
    if default_logger and type(logger) is CSVLogger:
        if not run.continued:
            return CSVLogger(save_dir=run.path.parent, name="", version=run.version)
        return CSVLogger(save_dir=run.path, name="", version=free_folder(run.path / "resumed").name)
    if isinstance(logger, WandbLogger) and logger._experiment is None and logger.save_dir in (None, "."):
        # W&B takes its folder when its run starts (lazily): its files then go into the run folder
        logger._save_dir = str(run.path)
        logger._wandb_init["dir"] = str(run.path)
    return logger


@rank_zero_only
def _say(message: str) -> None:
    print(message)


class SaveConfigInRunFolder(SaveConfigCallback):
    """Lightning's ``config.yaml`` of the run, written into the run's own folder (``place_run`` sets
    ``run_folder``; without it, ``trainer.log_dir``); with W&B into the W&B run's files folder, which W&B
    uploads with the run. The config a run started with is never replaced (whatever ``overwrite`` says): a
    resumed run's config goes to ``config_1.yaml``, ``config_2.yaml``, ... beside it."""

    run_folder: Path | None = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.already_saved:
            return
        folder = self.run_folder or Path(trainer.log_dir or trainer.default_root_dir)  # log_dir: on every process
        if trainer.is_global_zero:
            wandb = next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)
            if wandb is not None:
                folder = Path(wandb.experiment.dir)
            if self.save_to_log_dir:
                folder.mkdir(parents=True, exist_ok=True)
                target = free_file(folder / self.config_filename)
                self.parser.save(self.config, target, skip_unset=False, overwrite=True, multifile=self.multifile)
            self.save_config(trainer, pl_module, stage)
        self.already_saved = trainer.strategy.broadcast(True)
