"""``facexformer benchmark``: throughput tables measured in one run, with ratios against a baseline.

- ``model``: inference images/s for all tasks, landmarks only and the backbone alone (the baseline), per dtype.
- ``data``: SyntheticFaces samples/s on one worker, DataModule batches/s with N workers, and training
  steps/s of the quickstart model (the pipeline must supply more batches than training consumes).
- ``landmarks``: training steps/s of the landmark task alone, per landmark head type.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.module import FaceXFormer
from facexformer.tasks import OFFICIAL_TASKS


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, rows: Sequence[tuple[str, float, float]], unit: str) -> None:
    """Rows of (name, rate, ratio to the baseline row)."""
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{title}")
    print(f"{'':<{width}}{unit:>14}{'ratio':>10}")
    for name, rate, ratio in rows:
        print(f"{name:<{width}}{rate:>14.2f}{ratio:>10.3f}")


def benchmark_model(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """Inference throughput of all tasks, landmarks only and the backbone alone, per dtype."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    tasks = list(OFFICIAL_TASKS) if args.tasks == ["all"] else args.tasks
    model = FaceXFormer(tasks=tasks, backbone=args.backbone, image_size=args.image_size).to(device).eval()
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    rows, baselines = [], {}

    def timed(fn: Callable[[], object], dtype: str) -> float:
        def run() -> None:
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=dtype == "bf16"):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()

        return args.batch_size / median_seconds(run, args.repeats, args.warmup)

    for dtype in args.dtype:
        cases = {
            "backbone only": lambda: model.net.backbone(images),
            "all tasks": lambda: model(images),
            "landmarks only": lambda: model(images, tasks=["landmarks"]),
        }
        rates = {name: timed(fn, dtype) for name, fn in cases.items()}
        baselines[dtype] = rates["backbone only"]
        for name, rate in rates.items():
            rows.append((f"{dtype} {name}", rate, rate / baselines[args.dtype[0]]))
        post = 1 - rates["all tasks"] / rates["backbone only"]
        print(f"[{dtype}] time after the backbone: {100 * post:.1f}% of the all-task time")
    if len(args.dtype) > 1:
        all_tasks = {r[0]: r[1] for r in rows if r[0].endswith("all tasks")}
        first, second = (all_tasks[f"{d} all tasks"] for d in args.dtype[:2])
        print(f"{args.dtype[1]} / {args.dtype[0]} all-task speed: {second / first:.2f}x")
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


def benchmark_data(args: argparse.Namespace) -> list[tuple[str, float, float]]:
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
        loss = model._shared_step(batch, "train")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    steps = 1 / median_seconds(step, args.steps, warmup=1)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facexformer benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what")
    model = sub.add_parser("model", help="inference images/s (default)")
    model.add_argument("--backbone", default="swin_base_patch4_window7_224")
    model.add_argument("--batch-size", type=int, default=8)
    model.add_argument("--image-size", type=int, default=224)
    model.add_argument("--tasks", nargs="+", default=["all"], help="task names, or 'all' (the released eight)")
    model.add_argument("--dtype", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    model.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    model.add_argument("--repeats", type=int, default=5)
    model.add_argument("--warmup", type=int, default=1)
    model.set_defaults(run=benchmark_model)
    data = sub.add_parser("data", help="data pipeline supply vs training consumption")
    data.add_argument("--config", default="quickstart")
    data.add_argument("--samples", type=int, default=100, help="samples timed on one worker")
    data.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    data.add_argument("--batches", type=int, default=10, help="batches timed per worker count")
    data.add_argument("--steps", type=int, default=5, help="training steps timed")
    data.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads for training")
    data.set_defaults(run=benchmark_data)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``facexformer benchmark [model|data|landmarks] [options]``."""
    argv = list(argv or [])
    if not argv or argv[0].startswith("-"):
        argv = ["model", *argv]
    args = build_parser().parse_args(argv)
    args.run(args)
