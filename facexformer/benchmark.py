"""``facexformer benchmark``: throughput tables measured in one run, with ratios against a baseline.

- ``model``: inference images/s for all tasks, landmarks only and the backbone alone (the baseline), per dtype.
- ``data``: SyntheticFaces samples/s on one worker, DataModule batches/s with N workers, and training
  steps/s of the quickstart model (the pipeline must supply more batches than training consumes).
- ``landmarks``: training steps/s of the landmark task alone, per landmark head type.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.module import FaceXFormer
from facexformer.tasks import OFFICIAL_TASKS


def timed_rounds(cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall times of each case in ``repeats`` rounds; the cases take turns in every round, so a change in
    machine load during the run affects all of them alike."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_seconds(cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median wall time of each case over interleaved rounds (see ``timed_rounds``)."""
    return {name: statistics.median(t) for name, t in timed_rounds(cases, repeats, warmup).items()}


def paired_speed_ratios(times: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Each case's speed relative to ``baseline``: the median over rounds of the ratio within a round.

    Cases timed seconds apart share the machine's state, so this ratio is steadier than a ratio of medians
    when the machine's speed drifts during the run.
    """
    return {
        name: statistics.median(b / t for b, t in zip(times[baseline], ts, strict=True)) for name, ts in times.items()
    }


def print_table(title: str, rows: Sequence[tuple[str, float, float]], unit: str) -> None:
    """Rows of (name, rate, ratio to the baseline row)."""
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{title}")
    print(f"{'':<{width}}{unit:>14}{'ratio':>10}")
    for name, rate, ratio in rows:
        print(f"{name:<{width}}{rate:>14.2f}{ratio:>10.3f}")


def benchmark_model(args: ModelBenchmark) -> list[tuple[str, float, float]]:
    """Inference throughput of all tasks, landmarks only and the backbone alone, per dtype."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    tasks = list(OFFICIAL_TASKS) if args.tasks == ["all"] else args.tasks
    model = FaceXFormer(tasks=tasks, backbone=args.backbone, image_size=args.image_size).to(device).eval()
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    parts = {
        "backbone only": lambda: model.net.backbone(images),
        "all tasks": lambda: model(images),
        "landmarks only": lambda: model(images, tasks=["landmarks"]),
    }

    def run(fn: Callable[[], object], dtype: str) -> Callable[[], None]:
        def call() -> None:
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=dtype == "bf16"):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()

        return call

    cases = {f"{dtype} {name}": run(fn, dtype) for dtype in args.dtype for name, fn in parts.items()}
    times = timed_rounds(cases, args.repeats, args.warmup)
    ratios = paired_speed_ratios(times, f"{args.dtype[0]} backbone only")
    rows = [(name, args.batch_size / statistics.median(t), ratios[name]) for name, t in times.items()]
    for dtype in args.dtype:
        share = 1 - paired_speed_ratios(times, f"{dtype} backbone only")[f"{dtype} all tasks"]
        print(f"[{dtype}] time after the backbone: {100 * share:.1f}% of the all-task time")
    if len(args.dtype) > 1:
        first, second = (f"{d} all tasks" for d in args.dtype[:2])
        speedup = paired_speed_ratios(times, first)[second]
        print(f"{args.dtype[1]} / {args.dtype[0]} all-task speed: {speedup:.2f}x")
    print_table(
        f"inference, {args.backbone}, batch {args.batch_size}, {args.image_size} px, {device} "
        f"(ratio: to {args.dtype[0]} backbone only)",
        rows,
        "images/s",
    )
    return rows


def load_config(name: str) -> tuple[FaceXFormer, MultiTaskDataModule]:
    """The model and datamodule a shipped config (or a config file) describes, without running anything."""
    from facexformer.cli import FaceXFormerCLI, resolve_config_names

    cli = FaceXFormerCLI(
        FaceXFormer,
        MultiTaskDataModule,
        run=False,
        args=resolve_config_names(["--config", name]),
        trainer_defaults={"use_distributed_sampler": False, "logger": False},
    )
    return cli.model, cli.datamodule


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
        dtype: compute types compared in one run
        device: torch device
        repeats: timed rounds
        warmup: untimed rounds first
    """

    backbone: str = "swin_base_patch4_window7_224"
    batch_size: PositiveInt = 8
    image_size: PositiveInt = 224
    tasks: list[str] = field(default_factory=lambda: ["all"])
    dtype: list[Literal["fp32", "bf16"]] = field(default_factory=lambda: ["fp32"])
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    repeats: PositiveInt = 5
    warmup: NonNegativeInt = 1


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
    "data": (DataBenchmark, benchmark_data, "data pipeline supply vs training consumption"),
    "landmarks": (LandmarksBenchmark, benchmark_landmarks, "landmark training images/s per head type"),
}


def build_parser() -> Any:
    """The ``facexformer benchmark`` parser: one subcommand per mode, options from its dataclass."""
    from facexformer.cli_parsing import CommandParser, options_parser

    parser = CommandParser(prog="facexformer benchmark", description=__doc__.split("\n\n")[0])
    modes = parser.add_subcommands(dest="mode")
    for name, (options, _, help) in MODES.items():
        modes.add_subcommand(name, options_parser(options, f"facexformer benchmark {name}", help), help=help)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``facexformer benchmark [model|data|landmarks] [options]`` (``model`` when no mode is named)."""
    from facexformer.cli_parsing import debug_enabled, legacy_argv

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
