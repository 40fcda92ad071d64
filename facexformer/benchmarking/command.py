"""``facexformer benchmark``: throughput tables measured in one run, with ratios against a baseline.

- ``model``: the hardware and its matmul peak per dtype, then inference images/s, GFLOP/s and % of peak for all
  tasks, landmarks only and the backbone alone (the baseline), per precision.
- ``data``: SyntheticFaces samples/s on one worker, DataModule batches/s with N workers, and training
  steps/s of the quickstart model (the pipeline must supply more batches than training consumes).
- ``train``: training steps/s and images/s of Swin-B and the quickstart model, fp32 and bf16-mixed, % of peak.
- ``infer``: faces/s of ``facexformer infer`` end to end on a folder of photos (repeated), per worker count,
  against the network alone at the same batch size.
- ``landmarks``: training steps/s of the landmark task alone, per landmark head type.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt

from facexformer.benchmarking.configs import load_config
from facexformer.benchmarking.help import HelpBenchmark, benchmark_help
from facexformer.benchmarking.infer import infer_throughput
from facexformer.benchmarking.inference import inference_throughput
from facexformer.benchmarking.rounds import median_seconds, print_table
from facexformer.benchmarking.training import default_training_models, training_throughput
from facexformer.module import FaceXFormer

DEFAULT_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
PrecisionName = Literal["fp32", "bf16", "bf16-autocast", "fp16", "fp16-autocast"]  # ...inference.PRECISIONS
TrainPrecisionName = Literal["fp32", "bf16-mixed", "fp16-mixed"]  # facexformer.benchmarking.training.TRAIN_PRECISIONS


def benchmark_model(args: ModelBenchmark) -> list[tuple[str, float, float, float, float]]:
    """Inference throughput of all tasks, landmarks only and the backbone alone, per precision."""
    return inference_throughput(
        backbone=args.backbone,
        batch_size=args.batch_size,
        image_size=args.image_size,
        tasks=None if args.tasks == ["all"] else args.tasks,
        precisions=args.dtype,
        device=args.device,
        repeats=args.repeats,
        warmup=args.warmup,
        compile_backbone=args.compile,
        threads=args.threads,
        clock=args.clock,
    )


def benchmark_train(args: TrainBenchmark) -> list[tuple[str, float, float, float, float]]:
    """Training images/s of Swin-B and/or the quickstart model, per precision."""
    models, sizes = default_training_models(args.models)
    if args.batch_size is not None:
        sizes = dict.fromkeys(sizes, args.batch_size)
    return training_throughput(models, sizes, args.dtype, args.device, args.repeats, args.warmup)


def benchmark_infer(args: InferBenchmark) -> list[tuple[str, float, float]]:
    """End-to-end ``infer`` faces/s on a folder of photos against the network alone."""
    torch.manual_seed(0)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        model = FaceXFormer.from_pretrained(args.checkpoint)
    else:
        model = FaceXFormer(backbone=args.backbone, image_size=args.image_size)
    return infer_throughput(
        model.to(args.device),
        args.photos,
        args.copies,
        args.batch_size,
        args.workers,
        args.dtype,
        overlay=args.overlay,
        detector=args.detector,
        repeats=args.repeats,
    )


def benchmark_data(args: DataBenchmark) -> list[tuple[str, float, float]]:
    """Does the data pipeline keep up with training? Samples/s, batches/s per worker count, steps/s."""
    model, datamodule = load_config(args.config)
    dataset = next(iter(datamodule.datasets["train"].values()))
    torch.set_num_threads(1)
    count = min(args.samples, len(dataset))
    start = time.perf_counter()
    for i in range(count):
        dataset[i]
    per_worker = count / (time.perf_counter() - start)
    torch.set_num_threads(args.threads)

    batch = next(iter(datamodule.train_dataloader()))
    batch["image"] = batch["image"].float() / 255
    optimizer = model.configure_optimizers()["optimizer"]
    model.train()

    def step() -> None:
        loss = model.step(batch, "train")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    steps = 1 / median_seconds({"step": step}, args.steps)["step"]
    rows = [
        ("training steps/s (consumption)", steps, 1.0),
        ("one worker, batches/s", per_worker / datamodule.batch_size, per_worker / datamodule.batch_size / steps),
    ]
    for workers in args.workers:
        datamodule.num_workers = workers
        loader = iter(datamodule.train_dataloader())
        next(loader)
        start = time.perf_counter()
        for _ in range(args.batches):
            next(loader)
        rate = args.batches / (time.perf_counter() - start)
        rows.append((f"DataModule, {workers} workers, batches/s", rate, rate / steps))
        del loader
    print(f"SyntheticFaces: {per_worker:.1f} samples/s on one worker (1 thread)")
    print_table(
        f"data vs training, config {args.config!r}, batch {datamodule.batch_size} (ratio: to training)",
        rows,
        "per second",
    )
    return rows


def benchmark_landmarks(args: LandmarksBenchmark) -> list[tuple[str, float, float]]:
    """Training steps/s of the landmark task alone, per head type, on the quickstart backbone."""
    from facexformer.data import SyntheticFaces, collate_multitask
    from facexformer.tasks import Landmarks

    heads = {
        "regression + wing": Landmarks(head="regression", loss="wing"),
        f"heatmap {args.heatmap_size}px + star": Landmarks(head="heatmap", loss="star", heatmap_size=args.heatmap_size),
        f"heatmap {args.heatmap_size}px + awing": Landmarks(
            head="heatmap", loss="awing", heatmap_size=args.heatmap_size
        ),
    }
    dataset = SyntheticFaces(args.batch_size, args.image_size, seed=0, tasks=["landmarks"])
    batch = collate_multitask([dataset[i] for i in range(args.batch_size)])
    batch["image"] = batch["image"].float() / 255
    steps = {}
    for name, task in heads.items():
        torch.manual_seed(0)
        model = FaceXFormer(
            tasks=[task], backbone=args.backbone, image_size=args.image_size, dim=args.dim, decoder_mlp_dim=4 * args.dim
        ).train()
        optimizer = model.configure_optimizers()["optimizer"]

        def step(model: FaceXFormer = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            loss = model.step(batch, "train")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[name] = step
    seconds = median_seconds(steps, args.repeats, args.warmup)
    baseline = args.batch_size / seconds["regression + wing"]
    rows = [(f"{name}, images/s", args.batch_size / t, args.batch_size / t / baseline) for name, t in seconds.items()]
    print_table(
        f"landmark training steps, {args.backbone}, batch {args.batch_size}, {args.image_size} px "
        "(ratio: to the regression head)",
        rows,
        "images/s",
    )
    return rows


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
        device: torch device
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
        device: torch device
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
        device: torch device
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
        threads: torch threads for training
    """

    config: str = "quickstart"
    samples: PositiveInt = 100
    workers: list[NonNegativeInt] = field(default_factory=lambda: [0, 1, 2])
    batches: PositiveInt = 10
    steps: PositiveInt = 5
    threads: PositiveInt = torch.get_num_threads()


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


#: mode -> (its options, the function measuring it, a one-line description); the first is the default
MODES: dict[str, tuple[type, Callable[[Any], object], str]] = {
    "model": (ModelBenchmark, benchmark_model, "inference images/s (default)"),
    "train": (TrainBenchmark, benchmark_train, "training images/s of Swin-B and the quickstart model per precision"),
    "infer": (InferBenchmark, benchmark_infer, "infer end to end (files to JSON and overlays) vs the network alone"),
    "data": (DataBenchmark, benchmark_data, "data pipeline supply vs training consumption"),
    "landmarks": (LandmarksBenchmark, benchmark_landmarks, "landmark training images/s per head type"),
    "help": (HelpBenchmark, benchmark_help, "seconds each command's --help takes, in a fresh interpreter"),
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
    """``facexformer benchmark [model|train|infer|data|landmarks] [options]`` (``model`` when no mode is named)."""
    from facexformer.apps.cli_parsing import debug_enabled, legacy_argv

    argv = list(argv or [])
    debug_enabled(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [next(iter(MODES)), *argv]
    if argv[0] in MODES:
        argv = [argv[0], *legacy_argv(argv[1:], MODES[argv[0]][0])]
    config = build_parser().parse_args(argv)
    options, run, _ = MODES[config.mode]
    values = config[config.mode].as_dict()
    values.pop("config", None)
    run(options(**values))
