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

import argparse
import time
from collections.abc import Sequence

import torch

from facexformer.benchmarking.infer import infer_throughput
from facexformer.benchmarking.inference import PRECISIONS, inference_throughput
from facexformer.benchmarking.rounds import median_seconds, print_table
from facexformer.benchmarking.training import TRAIN_PRECISIONS, default_training_models, training_throughput
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.module import FaceXFormer


def benchmark_model(args: argparse.Namespace) -> list[tuple[str, float, float, float, float]]:
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
    )


def benchmark_train(args: argparse.Namespace) -> list[tuple[str, float, float, float, float]]:
    """Training images/s of Swin-B and/or the quickstart model, per precision."""
    models, sizes = default_training_models(args.models)
    if args.batch_size is not None:
        sizes = dict.fromkeys(sizes, args.batch_size)
    return training_throughput(models, sizes, args.dtype, args.device, args.repeats, args.warmup)


def benchmark_infer(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """End-to-end ``infer`` faces/s on a folder of photos against the network alone."""
    torch.manual_seed(0)
    if args.checkpoint:
        model = FaceXFormer.from_pretrained(args.checkpoint)
    else:
        model = FaceXFormer(backbone=args.backbone, image_size=args.image_size)
    return infer_throughput(
        model.to(args.device), args.photos, args.copies, args.batch_size, args.workers, args.dtype,
        overlay=not args.no_overlay, detector=args.detector, repeats=args.repeats,
    )


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


def benchmark_landmarks(args: argparse.Namespace) -> list[tuple[str, float, float]]:
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
            loss = model._shared_step(batch, "train")
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
    model.add_argument(
        "--dtype", nargs="+", choices=PRECISIONS, default=["fp32"],
        help="bf16/fp16: weights cast once (model.to(dtype)); *-autocast: float32 weights under autocast",
    )
    model.add_argument("--compile", action="store_true", help="torch.compile the backbone (compile time printed)")
    model.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    model.add_argument("--repeats", type=int, default=5)
    model.add_argument("--warmup", type=int, default=1)
    model.set_defaults(run=benchmark_model)
    train = sub.add_parser("train", help="training images/s of Swin-B and the quickstart model per precision")
    train.add_argument("--models", nargs="+", choices=["swin-b", "quickstart"], default=["swin-b", "quickstart"])
    train.add_argument("--dtype", nargs="+", choices=TRAIN_PRECISIONS, default=["fp32", "bf16-mixed"])
    train.add_argument("--batch-size", type=int, default=None, help="every model's batch (default 8 / config's)")
    train.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    train.add_argument("--repeats", type=int, default=3)
    train.add_argument("--warmup", type=int, default=1)
    train.set_defaults(run=benchmark_train)
    infer = sub.add_parser("infer", help="infer end to end (files to JSON and overlays) vs the network alone")
    infer.add_argument("photos", nargs="+", help="photo files or folders (searched recursively)")
    infer.add_argument("--copies", type=int, default=4, help="times each photo is listed (default 4)")
    infer.add_argument("--checkpoint", default=None, help="weights to load (default: random Swin-B weights)")
    infer.add_argument("--backbone", default="swin_base_patch4_window7_224")
    infer.add_argument("--image-size", type=int, default=224)
    infer.add_argument("--batch-size", type=int, default=8)
    infer.add_argument("--workers", type=int, nargs="+", default=[2, 0], help="DataLoader worker counts to time")
    infer.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="weights cast once")
    infer.add_argument("--detector", default="auto", choices=("auto", "haar", "none"))
    infer.add_argument("--no-overlay", action="store_true")
    infer.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    infer.add_argument("--repeats", type=int, default=3)
    infer.set_defaults(run=benchmark_infer)
    data = sub.add_parser("data", help="data pipeline supply vs training consumption")
    data.add_argument("--config", default="quickstart")
    data.add_argument("--samples", type=int, default=100, help="samples timed on one worker")
    data.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    data.add_argument("--batches", type=int, default=10, help="batches timed per worker count")
    data.add_argument("--steps", type=int, default=5, help="training steps timed")
    data.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads for training")
    data.set_defaults(run=benchmark_data)
    marks = sub.add_parser("landmarks", help="landmark training images/s per head type")
    marks.add_argument("--backbone", default="resnet18")
    marks.add_argument("--image-size", type=int, default=112)
    marks.add_argument("--dim", type=int, default=128)
    marks.add_argument("--batch-size", type=int, default=8)
    marks.add_argument("--heatmap-size", type=int, default=56)
    marks.add_argument("--repeats", type=int, default=3)
    marks.add_argument("--warmup", type=int, default=1)
    marks.set_defaults(run=benchmark_landmarks)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``facexformer benchmark [model|data|landmarks] [options]``."""
    argv = list(argv or [])
    if not argv or argv[0].startswith("-"):
        argv = ["model", *argv]
    args = build_parser().parse_args(argv)
    args.run(args)
