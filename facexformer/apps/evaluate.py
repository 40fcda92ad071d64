"""``facexformer evaluate``: score a checkpoint on a benchmark as downloaded and print the papers' table.

    facexformer evaluate --benchmark 300w --root data/300W --checkpoint kartiknarayan/facexformer --out results

The benchmark's protocol (``facexformer.evaluation.benchmarks``) gives the subsets, the metrics and the published
numbers; the model's own face crop (``crop_settings``) is applied around each face's annotation box. ``--out``
gets ``results.json``, ``table.md``, ``predictions.jsonl`` (every face's outputs in original-image pixels) and
the CED curves of landmark benchmarks (``ced/<subset>.csv``/``.png``), each written atomically.
``--trainer.devices 2 --trainer.strategy ddp`` splits the faces over processes; the table is the same, and a
process stuck in a collective fails after ``--trainer.timeout`` seconds.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from jsonargparse.typing import PositiveInt

PROG = "facexformer evaluate"
DESCRIPTION = "Score a checkpoint on a benchmark as downloaded: one table in the papers' form, and results.json."


@dataclasses.dataclass
class TrainerOptions:
    """Lightning Trainer settings of the evaluation.

    Args:
        accelerator: cpu, gpu, auto ...
        devices: processes (devices) to split the faces over
        strategy: auto, ddp (CPU processes use gloo)
        precision: 32-true, bf16-mixed ...
        timeout: seconds a process waits in a collective before the run fails
    """

    accelerator: str = "auto"
    devices: PositiveInt = 1
    strategy: str = "auto"
    precision: str = "32-true"
    timeout: PositiveInt = 300


@dataclasses.dataclass
class EvaluateOptions:
    """Options of ``facexformer evaluate``.

    Args:
        benchmark: the protocol (300w, wflw, cofw, aflw, aflw2000, biwi, celebamask_hq, lapa, celeba, utkface,
            fairface, rafdb, cofw_visibility)
        root: the benchmark's folder as downloaded
        checkpoint: save_pretrained folder, .ckpt from fit, released model.pt or Hub id
        out: folder for results.json, table.md and the CED curves (none written when not given)
        batch_size: faces per batch and process
        num_workers: DataLoader workers per process
        pose_rule: head-pose MAE rule: paper (|pred - gt|, the default) or 6drepnet (6DRepNet's test.py: min
            over d, d ± 180, d ± 360; its rows are named "MAE (6drepnet)")
        trainer: Lightning Trainer settings
    """

    benchmark: str
    root: Path
    checkpoint: str
    out: Path | None = None
    batch_size: PositiveInt = 32
    num_workers: int = 0
    pose_rule: Literal["paper", "6drepnet"] = "paper"
    trainer: TrainerOptions = dataclasses.field(default_factory=TrainerOptions)


def parse_args(argv: Sequence[str] | None = None) -> EvaluateOptions:
    """``facexformer evaluate`` arguments (``sys.argv[1:]`` by default) as ``EvaluateOptions``."""
    from facexformer.apps.cli_parsing import parse_options

    options = parse_options(EvaluateOptions, sys.argv[1:] if argv is None else argv, PROG, DESCRIPTION)
    if isinstance(options.trainer, dict):
        options.trainer = TrainerOptions(**options.trainer)
    return options


def evaluate(options: EvaluateOptions) -> list[Any]:
    """Run the benchmark; returns the table's rows (``facexformer.evaluation.table.TableRow``), printed and
    written to ``options.out`` by the first process. SIGTERM ends every process of the run at once (exit
    status 143, ``facexformer.apps.sigterm``)."""
    from facexformer.apps.sigterm import EndOnSigterm

    with EndOnSigterm(PROG) as sigterm:
        return _evaluate(options, sigterm)


def _evaluate(options: EvaluateOptions, sigterm: Any) -> list[Any]:
    import lightning as L

    from facexformer.apps.lightning_cli import quiet_lightning_notices
    from facexformer.data.crop import CropFace
    from facexformer.data.datamodule import MultiTaskDataModule
    from facexformer.evaluation.benchmarks import BENCHMARKS
    from facexformer.evaluation.paper_table import PaperTable
    from facexformer.evaluation.predictions import BenchmarkPredictions
    from facexformer.evaluation.protocol_metrics import pose_metrics
    from facexformer.evaluation.table import write_results
    from facexformer.module import FaceXFormer
    from facexformer.training.callbacks import SaveCED
    from facexformer.training.collective_timeout import strategies_with_timeout
    from facexformer.training.stage_metrics import StageMetrics

    if options.benchmark not in BENCHMARKS:
        raise KeyError(f"--benchmark {options.benchmark}: unknown; known: {', '.join(sorted(BENCHMARKS))}")
    benchmark = BENCHMARKS[options.benchmark]
    model = FaceXFormer.from_pretrained(options.checkpoint)
    carried = [name for name in benchmark.metrics if name in model.task_names]
    if not carried:
        raise ValueError(
            f"--checkpoint {options.checkpoint}: the model has none of the tasks {benchmark.name} scores "
            f"({', '.join(benchmark.metrics)}); it has {', '.join(model.task_names)}"
        )
    builders = {name: benchmark.metrics[name] for name in carried}
    if options.pose_rule != "paper":
        if "headpose" not in builders:
            raise ValueError(f"--pose_rule {options.pose_rule}: {benchmark.name} scores no head pose of this model")
        builders["headpose"] = pose_metrics(options.pose_rule)
    model.stage_metrics = StageMetrics(model.tasks, builders)
    crop = CropFace(**dataclasses.asdict(model.crop_settings), box=benchmark.box)
    data = MultiTaskDataModule(
        test=benchmark.datasets(options.root),
        batch_size=options.batch_size,
        crop=crop,
        evaluate_separately=True,
        num_workers=options.num_workers,
    )
    settings = options.trainer
    table = PaperTable(benchmark.name, options.checkpoint)
    quiet_lightning_notices()
    callbacks: list[L.Callback] = [table, sigterm]
    if options.out is not None:
        callbacks.append(SaveCED(str(options.out / "ced"), overwrite=True))
        callbacks.append(BenchmarkPredictions(options.out / "predictions.jsonl", list(benchmark.subsets), options.root))
    with strategies_with_timeout(settings.timeout):  # ddp, ddp_spawn and auto on several devices alike
        trainer = L.Trainer(
            accelerator=settings.accelerator,
            devices=settings.devices,
            strategy=settings.strategy,
            precision=settings.precision,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=sys.stderr.isatty(),  # a log file gets the table, not a progress line per batch
            use_distributed_sampler=False,
            callbacks=callbacks,
        )
    sigterm.watch(trainer)
    trainer.test(model, data, verbose=False)
    if trainer.is_global_zero and options.out is not None:
        write_results(table.rows, options.out)
    return table.rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``facexformer evaluate``; 0 when the table is printed. A mistake (an unknown benchmark, a
    missing dataset file, an unloadable checkpoint, a model without the benchmark's tasks) exits with status 2
    and a one-line message."""
    from facexformer.apps.cli_parsing import describe, report

    options = parse_args(argv)
    from facexformer.io.errors import CheckpointError  # after parsing: `--help` needs no torch

    try:
        evaluate(options)
    except (FileNotFoundError, KeyError, ValueError, CheckpointError) as err:
        report(PROG, describe(err), err)
    return 0
