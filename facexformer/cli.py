"""The ``facexformer`` command: LightningCLI (fit, validate, test, predict) plus benchmark, infer, export.

``--config`` takes a file or the name of a config shipped in ``facexformer/configs`` (e.g. ``quickstart``).
"""

from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path

from lightning.pytorch.cli import ArgsType, LightningCLI

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.io.checkpoint import check_checkpoint_tasks
from facexformer.module import FaceXFormer

#: subcommands outside LightningCLI, each a module ``facexformer.<name>`` with ``main(argv)``
EXTRA_COMMANDS = ("benchmark", "infer", "export")


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
                    raise SystemExit(
                        f"facexformer: config {value!r} is neither a file nor a shipped config "
                        f"({', '.join(sorted(configs))})"
                    )
                out[i + 1] = str(configs[value])
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
            if not Path(value).exists() and value in configs:
                out[i] = f"--config={configs[value]}"
    return out


class FaceXFormerCLI(LightningCLI):
    """LightningCLI with ``--test_after_fit``: run the test set on the trained model right after ``fit``."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--test_after_fit", type=bool, default=False, help="run `test` after `fit`")
        parser.add_argument(
            "--tasks_from_checkpoint", type=bool, default=False,
            help="with --ckpt_path, take the checkpoint's tasks instead of refusing one whose tasks differ",
        )

    def _parse_ckpt_path(self) -> None:
        # LightningCLI replaces the config's model settings by the checkpoint's, tasks included: refuse other tasks
        subcommand = self.config.get("subcommand")
        if subcommand and not self.config[subcommand].get("tasks_from_checkpoint"):
            check_checkpoint_tasks(self.config[subcommand].get("ckpt_path"), self.config[subcommand].model.tasks)
        super()._parse_ckpt_path()

    def after_fit(self) -> None:
        if self.config.fit.get("test_after_fit") and self.datamodule.datasets.get("test"):
            self.trainer.test(self.model, datamodule=self.datamodule)


def main(args: ArgsType = None) -> LightningCLI | None:
    """Entry point; ``args`` (a list) replaces ``sys.argv[1:]`` (used by tests)."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in EXTRA_COMMANDS:
        code = importlib.import_module(f"facexformer.{argv[0]}").main(argv[1:])
        if code:
            sys.exit(code)
        return None
    resolved = resolve_config_names(argv)
    if args is None:  # from the console: LightningCLI reads sys.argv (and re-runs it for DDP workers)
        sys.argv[1:] = resolved
    return FaceXFormerCLI(
        FaceXFormer,
        MultiTaskDataModule,
        args=resolved if args is not None else None,
        seed_everything_default=0,
        trainer_defaults={"use_distributed_sampler": False},
        save_config_kwargs={"overwrite": True},
    )


def console_main() -> int:
    """The ``facexformer`` console script: ``main()`` with exit status 0 on success (the script passes the
    return value to ``sys.exit``, which would print a returned CLI object and exit with status 1)."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(console_main())
