"""The ``facexformer`` command: LightningCLI (fit, validate, test, predict) plus benchmark, infer, export.

``--config`` takes a file or the name of a config shipped in ``facexformer/configs`` (e.g. ``quickstart``).
A mistake in the arguments or the config (a wrong path, name or value) ends in a short message and exit status
2; ``--debug`` (or ``FACEXFORMER_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import ArgsType, LightningCLI

from facexformer.apps.cli_parsing import (
    LightningCommandParser,
    UserError,
    debug_enabled,
    describe,
    report,
    root_cause,
)
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.evaluation.paper_table import PaperTable
from facexformer.geometry.crop import CropSettings
from facexformer.io.checkpoint import check_checkpoint_tasks
from facexformer.io.errors import CheckpointError
from facexformer.module import FaceXFormer

#: subcommands outside LightningCLI -> their help; each is run by ``main(argv)`` of its module in ``EXTRA_MODULES``
EXTRA_COMMANDS = {
    "infer": "Predict face tasks for image files and folders: one JSON (and overlay PNG) per image.",
    "export": "Export a model to ONNX or TorchScript for deployment without this package.",
    "benchmark": "Throughput tables (model, data, landmarks) with ratios measured in the same run.",
    "evaluate": "Score a checkpoint on a benchmark as downloaded: one table in the papers' form, results.json.",
}
#: imported only when their command runs (the benchmarks sit above the command lines: they time their pipelines)
EXTRA_MODULES = {
    "infer": "facexformer.apps.infer",
    "export": "facexformer.apps.export",
    "benchmark": "facexformer.benchmarking.command",
    "evaluate": "facexformer.apps.evaluate",
}
#: ``--ckpt_path`` values Lightning resolves itself rather than reading a file
CKPT_PATH_KEYWORDS = ("last", "best", "hpc")


def shipped_configs() -> dict[str, Path]:
    """Names of the configs inside the package -> their paths."""
    folder = resources.files("facexformer") / "configs"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def resolve_config_names(args: list[str]) -> list[str]:
    """Replace ``--config NAME`` by the shipped file's path where NAME is not an existing file."""
    configs = shipped_configs()
    out = list(args)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            value = out[i + 1]
            if not Path(value).exists():
                if value not in configs:
                    raise UserError(
                        f"--config {value}: neither a file nor a shipped config; shipped: {', '.join(sorted(configs))}"
                    )
                out[i + 1] = str(configs[value])
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
            if not Path(value).exists() and value in configs:
                out[i] = f"--config={configs[value]}"
    return out


def crop_settings_of(data: MultiTaskDataModule) -> CropSettings | None:
    """The geometry of the data module's ``crop`` (None: the data comes network-sized; the model keeps its
    default crop)."""
    crop: CropFace | None = data.crop
    return crop.settings if crop is not None else None


class FaceXFormerCLI(LightningCLI):
    """LightningCLI with ``--test_after_fit`` (run the test set on the trained model right after ``fit``), the
    extra commands in its help, and mistakes in the config reported as ``UserError``."""

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

    def _add_subcommands(self, parser, **kwargs: Any) -> None:
        super()._add_subcommands(parser, **kwargs)
        # `test` prints PaperTable's one table, not Lightning's table per loader
        parser._subcommands_action._name_parser_map["test"].set_defaults(verbose=False)
        for name, help in EXTRA_COMMANDS.items():  # listed by --help; main() runs them with their own parsers
            stand_in = LightningCommandParser(prog=f"facexformer {name}", description=help)
            parser._subcommands_action.add_subcommand(name, stand_in, help=help)

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
            self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)


def main(args: ArgsType = None) -> LightningCLI | None:
    """Entry point; ``args`` (a list) replaces ``sys.argv[1:]`` (used by tests). A ``UserError`` (a mistake
    in the arguments or config) is reported in short and exits with status 2, unless ``--debug`` is given."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in EXTRA_COMMANDS:  # each reads --debug itself
        code = importlib.import_module(EXTRA_MODULES[argv[0]]).main(argv[1:])
        if code:
            sys.exit(code)
        return None
    debug_enabled(argv)
    try:
        resolved = resolve_config_names(argv)
        if args is None:  # from the console: LightningCLI reads sys.argv (and re-runs it for DDP workers)
            sys.argv[1:] = resolved
        return FaceXFormerCLI(
            FaceXFormer,
            MultiTaskDataModule,
            args=resolved if args is not None else None,
            seed_everything_default=0,
            trainer_defaults={"use_distributed_sampler": False, "callbacks": [PaperTable()]},
            save_config_kwargs={"overwrite": True},
        )
    except UserError as err:
        command = argv[0] if argv and argv[0] in LightningCLI.subcommands() else None
        report(f"facexformer {command}" if command else "facexformer", str(err), err)


def console_main() -> int:
    """The ``facexformer`` console script: ``main()`` with exit status 0 on success (the script passes the
    return value to ``sys.exit``, which would print a returned CLI object and exit with status 1)."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(console_main())
