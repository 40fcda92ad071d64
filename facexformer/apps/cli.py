"""The ``facexformer`` command: fit, validate, test and predict (LightningCLI) plus infer, export and benchmark.

``--config`` takes a file or the name of a config shipped in ``facexformer/configs`` (e.g. ``quickstart``).
A mistake in the arguments or the config (a wrong path, name or value) ends in a short message and exit status
2; ``--debug`` (or ``FACEXFORMER_DEBUG=1``) shows the traceback instead.

This module imports neither torch nor Lightning: ``facexformer --help`` answers from it alone, and each command
imports what it needs when it runs. The modules of ``infer``, ``export``, ``evaluate`` and ``benchmark`` build
their parsers without torch, so their ``--help`` is quick; ``fit|validate|test|predict --help`` (or ``-h``) alone
is printed from a per-user cache of what LightningCLI printed the first time (``facexformer.apps.help_cache``).
"""

from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from facexformer.apps.cli_parsing import UserError, debug_enabled, report

#: LightningCLI's commands -> their help (one sentence each)
LIGHTNING_COMMANDS = {
    "fit": "Train a model on the config's data, keeping checkpoints and logs (add --test_after_fit true to test it).",
    "validate": "Compute the validation metrics of a model (--ckpt_path) on the config's validation data.",
    "test": "Compute the test metrics of a model (--ckpt_path) on the config's test data, next to a baseline.",
    "predict": "Write one JSON per face for the config's predict data with a model (--ckpt_path).",
}
#: subcommands outside LightningCLI -> their help; each is run by ``main(argv)`` of its module in ``EXTRA_MODULES``
EXTRA_COMMANDS = {
    "infer": "Predict face tasks for image files and folders: one JSON (and one overlay PNG) per image.",
    "export": "Export a model to ONNX or TorchScript, to run it without this package.",
    "benchmark": "Print throughput tables (model, data, landmarks, help) with ratios measured in the same run.",
    "evaluate": "Score a checkpoint on a benchmark as downloaded: one table in the papers' form, results.json.",
}
#: imported only when their command runs (the benchmarks sit above the command lines: they time their pipelines)
EXTRA_MODULES = {
    "infer": "facexformer.apps.infer",
    "export": "facexformer.apps.export",
    "benchmark": "facexformer.benchmarking.command",
    "evaluate": "facexformer.apps.evaluate",
}
#: the options that ask a command for its help
HELP_FLAGS = ("-h", "--help")
#: shipped config name -> what it does, in one line (tests/apps/test_cli.py checks that every config has one)
CONFIG_SUMMARIES = {
    "quickstart": "every task on built-in synthetic faces, a small backbone, on the CPU in minutes; then the test set",
    "finetune_landmarks_head": "fine-tune only the released model's landmark head on 300W (all else frozen)",
    "eval_released_300w": "test the released checkpoint on 300W common, challenge and full (NME, FR, AUC, CED)",
    "landmarks_300w_star": "landmarks only on 300W (official split): heatmap head, STAR loss, own schedule",
    "landmarks_300w_wing": "landmarks only on 300W (official split): released regression head, Wing loss, own schedule",
    "landmarks_wflw_star": "landmarks only on WFLW (98 points): heatmap head, STAR loss, the six test subsets",
    "study_300w_wing": "the 300W study's (x, y) regression + Wing loss on its mirrored 6,000/666/1,008 split",
    "study_300w_star": "the 300W study's heatmaps + STAR loss on its mirrored 6,000/666/1,008 split",
    "study_300w_released": "the released weights scored on the 300W study's 1,008 test images",
    "paper_multitask": "the paper's multi-task recipe on the real datasets (8 GPUs, Swin-B, 12 epochs)",
}


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


def help_text() -> str:
    """``facexformer --help``: the commands and the shipped configs, one line each."""
    commands = {**LIGHTNING_COMMANDS, **EXTRA_COMMANDS}
    width = max(map(len, commands)) + 2
    lines = [
        "usage: facexformer COMMAND [options]   (facexformer COMMAND --help lists a command's options)",
        "",
        "FaceXFormer: one transformer for every face task. Train and test with a config, predict for photos,",
        "export for deployment.",
        "",
        "commands:",
        *(f"  {name:<{width}}{text}" for name, text in commands.items()),
        "",
        "shipped configs (facexformer fit --config NAME; a YAML file works too):",
    ]
    configs = sorted(shipped_configs())
    width = max(map(len, configs)) + 2
    lines += [f"  {name:<{width}}{CONFIG_SUMMARIES.get(name, '')}".rstrip() for name in configs]
    lines += ["", "First run: facexformer fit --config quickstart   (docs: README.md, docs/)"]
    return "\n".join(lines) + "\n"


def main(args: list[str] | None = None) -> Any:
    """Entry point; ``args`` (a list) replaces ``sys.argv[1:]`` (used by tests). A ``UserError`` (a mistake
    in the arguments or config) is reported in short and exits with status 2, unless ``--debug`` is given.
    Returns the LightningCLI of fit/validate/test/predict, else None."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in HELP_FLAGS:
        sys.stdout.write(help_text())
        sys.exit(0 if argv else 2)
    if argv[0] in EXTRA_COMMANDS:  # each reads --debug itself
        code = importlib.import_module(EXTRA_MODULES[argv[0]]).main(argv[1:])
        if code:
            sys.exit(code)
        return None
    debug_enabled(argv)
    command = argv[0] if argv[0] in LIGHTNING_COMMANDS else None
    try:
        if command is None:
            known = ", ".join([*LIGHTNING_COMMANDS, *EXTRA_COMMANDS])
            raise UserError(f"{argv[0]!r} is not a command; commands: {known}")
        if len(argv) == 2 and argv[1] in HELP_FLAGS:  # the help alone: from the cache
            from facexformer.apps.help_cache import print_help

            print_help(command, lambda: run_lightning_cli(None if args is None else argv))
        resolved = resolve_config_names(argv)
        if args is None:  # from the console: LightningCLI reads sys.argv (and re-runs it for DDP workers)
            sys.argv[1:] = resolved
        return run_lightning_cli(resolved if args is not None else None)
    except UserError as err:
        report(f"facexformer {command}" if command else "facexformer", str(err), err)


def run_lightning_cli(args: list[str] | None) -> Any:
    """Run LightningCLI with this project's model, data module and defaults (``args`` None: ``sys.argv``)."""
    from facexformer.apps.lightning_cli import FaceXFormerCLI
    from facexformer.data.datamodule import MultiTaskDataModule
    from facexformer.evaluation.paper_table import PaperTable
    from facexformer.module import FaceXFormer

    return FaceXFormerCLI(
        FaceXFormer,
        MultiTaskDataModule,
        args=args,
        seed_everything_default=0,
        trainer_defaults={"use_distributed_sampler": False, "callbacks": [PaperTable()]},
    )


def __getattr__(name: str) -> Any:
    if name == "FaceXFormerCLI":  # the LightningCLI subclass lives where Lightning may be imported
        from facexformer.apps.lightning_cli import FaceXFormerCLI

        return FaceXFormerCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def console_main() -> int:
    """The ``facexformer`` console script: ``main()`` with exit status 0 on success (the script passes the
    return value to ``sys.exit``, which would print a returned CLI object and exit with status 1)."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(console_main())
