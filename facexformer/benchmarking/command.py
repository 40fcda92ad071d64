"""``facexformer benchmark``: throughput tables measured in one run, with ratios against a baseline.

- ``model``: the hardware and its matmul peak per dtype, then inference images/s, GFLOP/s and % of peak for all
  tasks, landmarks only and the backbone alone (the baseline), per precision.
- ``data``: SyntheticFaces samples/s on one worker, DataModule batches/s with N workers, and training
  steps/s of the quickstart model (the pipeline must supply more batches than training consumes).
- ``train``: training steps/s and images/s of Swin-B and the quickstart model, fp32 and bf16-mixed, % of peak.
- ``infer``: faces/s of ``facexformer infer`` end to end on a folder of photos (repeated), per worker count,
  against the network alone at the same batch size.
- ``landmarks``: training steps/s of the landmark task alone, per landmark head type.
- ``help``: seconds each command's ``--help`` takes in a fresh interpreter (cold and warm help cache).

This module holds the options and the parser and imports no torch (``facexformer benchmark --help`` is quick);
the measurements are in ``facexformer.benchmarking.runs`` and ``facexformer.benchmarking.help``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonargparse.typing import NonNegativeInt, PositiveInt

from facexformer.benchmarking.help import HelpBenchmark

#: the device of every mode: a torch device name, or "auto" (CUDA when available, else the CPU)
DEFAULT_DEVICE = "auto"
PrecisionName = Literal["fp32", "bf16", "bf16-autocast", "fp16", "fp16-autocast"]  # ...inference.PRECISIONS
TrainPrecisionName = Literal["fp32", "bf16-mixed", "fp16-mixed"]  # facexformer.benchmarking.training.TRAIN_PRECISIONS


@dataclass
class ModelBenchmark:
    """Options of ``facexformer benchmark model``.

    Args:
        backbone: timm backbone name
        batch_size: images per forward pass
        image_size: input side in pixels
        tasks: task names, or 'all' (the released eight)
        dtype: precisions compared in one run: bf16/fp16 cast the weights once (model.to(dtype)), *-autocast
            keeps float32 weights under autocast
        device: torch device, or auto (cuda when available, else cpu)
        repeats: timed rounds
        warmup: untimed rounds first
        compile: torch.compile the backbone (its compile time is printed)
        threads: torch CPU threads (default: torch's)
        clock: 'wall' (elapsed time) or 'cpu' (the process's CPU time, with --threads 1: steady on a machine
            busy with other work)
    """

    backbone: str = "swin_base_patch4_window7_224"
    batch_size: PositiveInt = 8
    image_size: PositiveInt = 224
    tasks: list[str] = field(default_factory=lambda: ["all"])
    dtype: list[PrecisionName] = field(default_factory=lambda: ["fp32"])
    device: str = DEFAULT_DEVICE
    repeats: PositiveInt = 5
    warmup: NonNegativeInt = 1
    compile: bool = False
    threads: PositiveInt | None = None
    clock: Literal["wall", "cpu"] = "wall"


@dataclass
class TrainBenchmark:
    """Options of ``facexformer benchmark train``.

    Args:
        models: the models trained (Swin-B at 224 px and/or the quickstart model)
        dtype: Lightning precisions compared in one run
        batch_size: every model's batch (default: 8 for Swin-B, the config's for quickstart)
        device: torch device, or auto (cuda when available, else cpu)
        repeats: timed rounds
        warmup: untimed rounds first
    """

    models: list[Literal["swin-b", "quickstart"]] = field(default_factory=lambda: ["swin-b", "quickstart"])
    dtype: list[TrainPrecisionName] = field(default_factory=lambda: ["fp32", "bf16-mixed"])
    batch_size: PositiveInt | None = None
    device: str = DEFAULT_DEVICE
    repeats: PositiveInt = 3
    warmup: NonNegativeInt = 1


@dataclass
class InferBenchmark:
    """Options of ``facexformer benchmark infer``.

    Args:
        photos: photo files or folders (searched recursively)
        copies: times each photo is listed
        checkpoint: weights to load (default: random Swin-B weights)
        backbone: timm backbone name (without a checkpoint)
        image_size: input side in pixels (without a checkpoint)
        batch_size: faces per forward pass
        workers: DataLoader worker counts timed
        dtype: weights cast once to this type
        detector: face finder; 'none' = the whole photo is the face
        overlay: write overlay PNGs as infer does
        device: torch device, or auto (cuda when available, else cpu)
        repeats: timed rounds
        threads: torch CPU threads of the network, alone and in infer (default: torch's); each worker uses one
    """

    photos: list[str] = field(default_factory=list)
    copies: PositiveInt = 4
    checkpoint: str | None = None
    backbone: str = "swin_base_patch4_window7_224"
    image_size: PositiveInt = 224
    batch_size: PositiveInt = 8
    workers: list[NonNegativeInt] = field(default_factory=lambda: [2, 0])
    dtype: Literal["fp32", "bf16", "fp16"] = "fp32"
    detector: Literal["mtcnn", "haar", "none", "auto"] = "mtcnn"
    overlay: bool = True
    device: str = DEFAULT_DEVICE
    repeats: PositiveInt = 3
    threads: PositiveInt | None = None


@dataclass
class DataBenchmark:
    """Options of ``facexformer benchmark data``.

    Args:
        config: shipped config name or config file whose data and model are measured
        samples: samples timed on one worker
        workers: DataLoader worker counts compared
        batches: batches timed per worker count
        steps: training steps timed
        threads: torch threads for training (default: torch's)
    """

    config: str = "quickstart"
    samples: PositiveInt = 100
    workers: list[NonNegativeInt] = field(default_factory=lambda: [0, 1, 2])
    batches: PositiveInt = 10
    steps: PositiveInt = 5
    threads: PositiveInt | None = None


@dataclass
class LandmarksBenchmark:
    """Options of ``facexformer benchmark landmarks``.

    Args:
        backbone: timm backbone name
        image_size: input side in pixels
        dim: token width
        batch_size: images per training step
        heatmap_size: side of the heatmap heads' maps
        repeats: timed rounds
        warmup: untimed rounds first
    """

    backbone: str = "resnet18"
    image_size: PositiveInt = 112
    dim: PositiveInt = 128
    batch_size: PositiveInt = 8
    heatmap_size: PositiveInt = 56
    repeats: PositiveInt = 3
    warmup: NonNegativeInt = 1


RUNS, HELP = "facexformer.benchmarking.runs", "facexformer.benchmarking.help"
#: mode -> (its options, "module:function" measuring it (imported when it runs), a one-line description); the
#: first is the default
MODES: dict[str, tuple[type, str, str]] = {
    "model": (ModelBenchmark, f"{RUNS}:benchmark_model", "inference images/s (default)"),
    "train": (
        TrainBenchmark,
        f"{RUNS}:benchmark_train",
        "training images/s of Swin-B and the quickstart model per precision",
    ),
    "infer": (
        InferBenchmark,
        f"{RUNS}:benchmark_infer",
        "infer end to end (files to JSON and overlays) vs the network alone",
    ),
    "data": (DataBenchmark, f"{RUNS}:benchmark_data", "data pipeline supply vs training consumption"),
    "landmarks": (LandmarksBenchmark, f"{RUNS}:benchmark_landmarks", "landmark training images/s per head type"),
    "help": (HelpBenchmark, f"{HELP}:benchmark_help", "seconds each command's --help takes, in a fresh interpreter"),
}


def build_parser() -> Any:
    """The ``facexformer benchmark`` parser: one subcommand per mode, options from its dataclass."""
    from facexformer.apps.cli_parsing import CommandParser, options_parser

    parser = CommandParser(prog="facexformer benchmark", description=__doc__.split("\n\n")[0])
    modes = parser.add_subcommands(dest="mode")
    for name, (options, _, help) in MODES.items():
        positional = "photos" if options is InferBenchmark else None
        modes.add_subcommand(
            name, options_parser(options, f"facexformer benchmark {name}", help, positional), help=help
        )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``facexformer benchmark [model|train|infer|data|landmarks|help] [options]`` (``model`` when no mode is
    named)."""
    from facexformer.apps.cli_parsing import debug_enabled, legacy_argv

    argv = list(argv or [])
    debug_enabled(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [next(iter(MODES)), *argv]
    if argv[0] in MODES:
        argv = [argv[0], *legacy_argv(argv[1:], MODES[argv[0]][0])]
    config = build_parser().parse_args(argv)
    options, function, _ = MODES[config.mode]
    values = config[config.mode].as_dict()
    values.pop("config", None)
    module, _, name = function.partition(":")
    getattr(importlib.import_module(module), name)(options(**values))
