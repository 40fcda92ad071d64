"""LightningCLI of the ``facexformer`` command (fit, validate, test, predict): ``--test_after_fit``, the config's
crop linked to the model, and mistakes in the config reported as ``UserError``. Imported only when one of these
commands runs (it imports Lightning and the model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from facexformer.apps.cli_parsing import ShortErrors, TaskNames, UserError, describe, root_cause
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.geometry.crop import CropSettings
from facexformer.io.checkpoint import check_checkpoint_tasks
from facexformer.io.errors import CheckpointError

#: ``--ckpt_path`` values Lightning resolves itself rather than reading a file
CKPT_PATH_KEYWORDS = ("last", "best", "hpc")


class LightningCommandParser(ShortErrors, TaskNames, LightningArgumentParser):
    """LightningCLI's parser with short errors and task names."""


def crop_settings_of(data: MultiTaskDataModule) -> CropSettings | None:
    """The geometry of the data module's ``crop`` (None: the data comes network-sized; the model keeps its
    default crop)."""
    crop: CropFace | None = data.crop
    return crop.settings if crop is not None else None


class FaceXFormerCLI(LightningCLI):
    """LightningCLI with ``--test_after_fit`` (run the test set on the trained model right after ``fit``) and
    mistakes in the config reported as ``UserError``."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("parser_class", LightningCommandParser)
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
        # one crop: the data module's crop is the model's, saved with it for predict and infer
        parser.link_arguments("data", "model.crop", compute_fn=crop_settings_of, apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build the model, data and trainer; an error there comes from the config (a missing dataset root,
        an unknown task or backbone...) and is raised as ``UserError`` naming it."""
        try:
            super().instantiate_classes()
        except Exception as err:
            raise UserError(describe(err)) from err

    def _parse_ckpt_path(self) -> None:
        """Before LightningCLI reads ``--ckpt_path``'s hyperparameters: a missing file, or one that does not
        load, is a ``UserError`` naming it; so is one trained for other tasks than the config's (LightningCLI
        would silently replace the configured tasks by the checkpoint's) unless ``--tasks_from_checkpoint``."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        named_file = isinstance(ckpt_path, str) and ckpt_path not in CKPT_PATH_KEYWORDS and "://" not in ckpt_path
        if named_file and not ckpt_path.startswith("registry") and not Path(ckpt_path).is_file():
            raise UserError(
                f"--ckpt_path {ckpt_path}: no such checkpoint file; give a .ckpt that fit wrote "
                "(e.g. <log dir>/checkpoints/last.ckpt), or 'last' / 'best'"
            )
        try:
            if subcommand and not self.config[subcommand].get("tasks_from_checkpoint"):
                check_checkpoint_tasks(ckpt_path, self.config[subcommand].model.tasks)
            super()._parse_ckpt_path()
        except CheckpointError as err:
            raise UserError(f"--ckpt_path: {err}") from err
        except Exception as err:
            cause = f"{type(root_cause(err)).__name__}: {describe(err)}"
            raise UserError(f"--ckpt_path {ckpt_path}: cannot be read as a checkpoint ({cause})") from err

    def after_fit(self) -> None:
        if self.config.fit.get("test_after_fit") and self.datamodule.stage_datasets("test"):
            self.trainer.test(self.model, datamodule=self.datamodule)
