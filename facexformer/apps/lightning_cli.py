"""LightningCLI of the ``facexformer`` command (fit, validate, test, predict): ``--test_after_fit``, the config's
crop linked to the model, and mistakes in the config reported as ``UserError``. Imported only when one of these
commands runs (it imports Lightning and the model)."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonargparse
from jsonargparse.typing import PositiveInt
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from facexformer.apps.cli_parsing import ShortErrors, TaskNames, UserError, describe, root_cause
from facexformer.apps.sigterm import EndOnSigterm, end_launched_ranks
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.geometry.crop import CropSettings
from facexformer.io.checkpoint import check_checkpoint_tasks, read_checkpoint
from facexformer.io.errors import CheckpointError
from facexformer.training.callbacks import PrintNextStep
from facexformer.training.collective_timeout import DEFAULT_TIMEOUT_S, is_collective_timeout, strategies_with_timeout
from facexformer.training.run_folders import SaveConfigInRunFolder, place_run

#: jsonargparse 4 instantiates with ``instantiate_classes``, 5 with ``instantiate``
INSTANTIATE_CLASSES = hasattr(jsonargparse.ArgumentParser, "instantiate_classes")
#: ``--ckpt_path`` values Lightning resolves itself rather than reading a file
CKPT_PATH_KEYWORDS = ("last", "best", "hpc")


#: progress-bar refresh (in batches) when stderr is not a terminal: the bar then updates at each epoch's end only,
#: instead of writing a line per batch into a log file
LOG_REFRESH_RATE = 10**9
#: Lightning notices that tell this command's user nothing: an advert for a package, and the override of the
#: callbacks the model gives again when the test runs after fit in the same process
QUIET_NOTICES = (
    "Tip: For seamless cloud logging",
    "callbacks returned in `LightningModule.configure_callbacks` will override",
)


class LightningCommandParser(ShortErrors, TaskNames, LightningArgumentParser):
    """LightningCLI's parser with short errors and task names."""


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in QUIET_NOTICES)


def quiet_lightning_notices() -> None:
    """Drop ``QUIET_NOTICES`` from Lightning's log and the deprecation warning Lightning's own tree code raises
    under newer torch (``isinstance(treespec, LeafSpec)``: nothing a user can act on)."""
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropNotices) for f in log.filters):
        log.addFilter(_DropNotices())
    warnings.filterwarnings("ignore", message=r".*isinstance.treespec, LeafSpec.*")


def weights_problem(source: Any) -> str | None:
    """Why ``init_weights`` ``source`` cannot be loaded now without downloading it (a missing file, or a Hub
    id that is neither cached nor reachable), or None."""
    from facexformer.io.hub import hub_file_problem, looks_like_hub_id
    from facexformer.io.released import RELEASED_HUB_FILES
    from facexformer.io.weights import CONFIG_NAME

    if not isinstance(source, str) or Path(source).exists():
        return None
    if looks_like_hub_id(source):
        return hub_file_problem(source, RELEASED_HUB_FILES.get(source, CONFIG_NAME))
    return f"{source}: no such file or folder"


def check_own_folder(init_weights: Any, callbacks: list[Any]) -> None:
    """Refuse a run whose ``init_weights`` lies in the folder it writes its checkpoints into: it would overwrite
    the weights it starts from, and ``--ckpt_path last`` of the run they came from would resume this one."""
    if not isinstance(init_weights, str) or not Path(init_weights).exists():
        return
    source = Path(init_weights).resolve()
    for cb in callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.dirpath and Path(cb.dirpath).resolve() in (source, *source.parents):
            raise UserError(
                f"--model.init_weights {init_weights} lies in this run's checkpoint folder {cb.dirpath}, which the "
                "run would write into (and `--ckpt_path last` of the earlier run would then resume this one); copy "
                "the weights out of that folder first, or give this run a config of its own (its ModelCheckpoint "
                "dirpath and trainer.default_root_dir)"
            )


def crop_settings_of(data: MultiTaskDataModule) -> CropSettings | None:
    """The geometry of the data module's ``crop`` (None: the data comes network-sized; the model keeps its
    default crop)."""
    crop: CropFace | None = data.crop
    return crop.settings if crop is not None else None


class FaceXFormerCLI(LightningCLI):
    """LightningCLI with ``--test_after_fit`` (run the test set on the trained model right after ``fit``) and
    mistakes in the config reported as ``UserError``. Several processes: ``--trainer.timeout`` bounds every
    collective (a process stuck that long ends the run with a ``UserError`` naming the option), and SIGTERM ends
    every process at once with exit status 143 (``EndOnSigterm``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        with EndOnSigterm("facexformer") as self.sigterm:
            self._init(*args, **kwargs)

    def _init(self, *args: Any, **kwargs: Any) -> None:
        quiet_lightning_notices()
        kwargs.setdefault("parser_class", LightningCommandParser)
        kwargs.setdefault("save_config_callback", SaveConfigInRunFolder)
        if not INSTANTIATE_CLASSES:  # jsonargparse 5 has no add_instantiator for Lightning to call; checkpoints
            kwargs.setdefault("load_from_checkpoint_support", False)  # open through FaceXFormer.from_pretrained
        # no prefix matching: `--trainer.max_epoch 2` is refused, not silently read as `--trainer.max_epochs`
        strict = {command: {"allow_abbrev": False} for command in self.subcommands()}
        kwargs["parser_kwargs"] = {
            "prog": "facexformer",
            "allow_abbrev": False,
            **strict,
            **(kwargs.get("parser_kwargs") or {}),
        }
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--test_after_fit", type=bool, default=False, help="run `test` after `fit`")
        parser.add_argument(
            "--tasks_from_checkpoint",
            type=bool,
            default=False,
            help="with --ckpt_path, take the checkpoint's tasks instead of refusing one whose tasks differ",
        )
        parser.add_argument(
            "--trust_checkpoint",
            type=bool,
            default=False,
            help="let --ckpt_path's file run code: import class paths it names that no installed package declares",
        )
        parser.add_argument(
            "--trainer.timeout",
            type=PositiveInt,
            default=DEFAULT_TIMEOUT_S,
            help="seconds a process waits in a collective (the start, a gradient or metric sync) before the run "
            "fails; for the strategies named by a string (ddp, ddp_spawn, fsdp...; auto on several devices)",
        )
        # one crop: the data module's crop is the model's, saved with it for predict and infer
        parser.link_arguments("data", "model.crop", compute_fn=crop_settings_of, apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build the model, data and trainer; an error there comes from the config (a missing dataset root,
        an unknown task or backbone...) and is raised as ``UserError`` naming it."""
        try:
            if INSTANTIATE_CLASSES:
                super().instantiate_classes()
            else:
                self.config_init = self.parser.instantiate(self.config)
                self.datamodule = self._get(self.config_init, "data")
                self.model = self._get(self.config_init, "model")
                self.trainer = self.instantiate_trainer()
        except Exception as err:
            problems = [describe(err)]
            subcommand = self.config.get("subcommand")
            model = self.config[subcommand].get("model") if subcommand else None
            weights = weights_problem(model.get("init_weights") if model else None)
            if weights and weights not in problems[0]:  # both at once, not one after the other is fixed
                problems.append(f"and --model.init_weights: {weights}")
            raise UserError("\n".join(problems)) from err

    def _parse_ckpt_path(self) -> None:
        """Before LightningCLI reads ``--ckpt_path``'s hyperparameters: a missing file, or one that does not
        load, is a ``UserError`` naming it; so is one naming a class path the allow-list refuses (unless
        ``--trust_checkpoint``) and one trained for other tasks than the config's (LightningCLI would silently
        replace the configured tasks by the checkpoint's) unless ``--tasks_from_checkpoint``."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        named_file = isinstance(ckpt_path, str) and ckpt_path not in CKPT_PATH_KEYWORDS and "://" not in ckpt_path
        if named_file and not ckpt_path.startswith("registry") and not Path(ckpt_path).is_file():
            raise UserError(
                f"--ckpt_path {ckpt_path}: no such checkpoint file; give a .ckpt that fit wrote "
                "(e.g. <log dir>/checkpoints/last.ckpt), or 'last' / 'best'"
            )
        try:
            if named_file and Path(ckpt_path).is_file():  # its class paths pass the allow-list before Lightning's parse
                settings = self.config[subcommand]
                trusted = bool(settings.get("trust_checkpoint"))
                if settings.get("tasks_from_checkpoint"):
                    read_checkpoint(ckpt_path, trusted=trusted)
                else:
                    check_checkpoint_tasks(ckpt_path, settings.model.tasks, trusted=trusted)
            super()._parse_ckpt_path()
        except CheckpointError as err:
            raise UserError(f"--ckpt_path: {err}") from err
        except Exception as err:
            cause = f"{type(root_cause(err)).__name__}: {describe(err)}"
            raise UserError(f"--ckpt_path {ckpt_path}: cannot be read as a checkpoint ({cause})") from err

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Lightning's trainer: its run in a folder of its own (``place_run``), its strategy waiting
        ``--trainer.timeout`` seconds at most in a collective, ``EndOnSigterm`` among its callbacks; when stderr is
        not a terminal (a log file, CI), its progress bar updates at each epoch's end only (``LOG_REFRESH_RATE``)
        instead of once per batch."""
        settings = self._get(self.config_init, "trainer")
        self.timeout = settings.pop("timeout", DEFAULT_TIMEOUT_S)
        with strategies_with_timeout(self.timeout):
            trainer = super().instantiate_trainer(**kwargs)
        self.sigterm.prog = f"facexformer {self.subcommand}" if self.subcommand else "facexformer"
        self.sigterm.watch(trainer)
        trainer.callbacks.append(self.sigterm)
        if self.subcommand is not None:  # each run in a folder of its own; `--ckpt_path last` resolved and printed
            config = self.config[self.subcommand]
            self.config_init[self.subcommand].ckpt_path = place_run(
                trainer, config.get("ckpt_path"), self.subcommand == "fit", config.trainer.logger in (True, None)
            )
        if not sys.stderr.isatty():
            for i, callback in enumerate(trainer.callbacks):
                if type(callback) is TQDMProgressBar:
                    trainer.callbacks[i] = TQDMProgressBar(refresh_rate=LOG_REFRESH_RATE)
        return trainer

    def before_fit(self) -> None:
        """Refuse a run that would overwrite its own starting weights."""
        check_own_folder(self.model.hparams.get("init_weights"), self.trainer.callbacks)
        test_follows = bool(self.config_init.fit.get("test_after_fit") and self.datamodule.stage_datasets("test"))
        for callback in self.trainer.callbacks:
            if isinstance(callback, PrintNextStep):  # the hint is printed once, after the test when one follows
                callback.after_test = test_follows

    @contextmanager
    def collectives_bounded(self) -> Iterator[None]:
        """A collective that waited ``--trainer.timeout`` seconds becomes a ``UserError`` naming the option,
        after the processes this one launched are ended (one stuck elsewhere would otherwise live on)."""
        try:
            yield
        except Exception as err:
            if not is_collective_timeout(err):
                raise
            end_launched_ranks(self.trainer)
            raise UserError(
                f"a process waited more than --trainer.timeout {self.timeout} s for the others in a collective "
                "(another process is stuck, died, or is that much slower); raise --trainer.timeout if a step "
                f"truly takes that long ({str(root_cause(err)).splitlines()[0]})"
            ) from err

    def fit(self, **kwargs: Any) -> Any:
        """``Trainer.fit``; a checkpoint it cannot resume from (a damaged ``last.ckpt`` with no intact one beside
        it) is a ``UserError``: one line naming the file, no traceback."""
        try:
            with self.collectives_bounded():
                return self.trainer.fit(**kwargs)
        except CheckpointError as err:
            raise UserError(f"--ckpt_path: {err}") from err

    def validate(self, **kwargs: Any) -> Any:
        """``Trainer.validate`` without Lightning's metric table (the model prints its own)."""
        with self.collectives_bounded():
            return self.trainer.validate(**{**kwargs, "verbose": False})

    def test(self, **kwargs: Any) -> Any:
        """``Trainer.test`` without Lightning's metric table (the model prints its own)."""
        with self.collectives_bounded():
            return self.trainer.test(**{**kwargs, "verbose": False})

    def predict(self, **kwargs: Any) -> Any:
        """``Trainer.predict``."""
        with self.collectives_bounded():
            return self.trainer.predict(**kwargs)

    def after_fit(self) -> None:
        if self.config.fit.get("test_after_fit") and self.datamodule.stage_datasets("test"):
            with self.collectives_bounded():
                self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
