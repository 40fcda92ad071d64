"""The measurements of ``facexformer benchmark``'s modes, each taking its options (``facexformer.benchmarking.
command``) and printing its table. Imported when a benchmark runs, not for ``--help``."""

from __future__ import annotations

import time

import torch

from facexformer.benchmarking.command import (
    DataBenchmark,
    InferBenchmark,
    LandmarksBenchmark,
    ModelBenchmark,
    TrainBenchmark,
)
from facexformer.benchmarking.configs import load_config
from facexformer.benchmarking.infer import infer_throughput
from facexformer.benchmarking.inference import inference_throughput
from facexformer.benchmarking.rounds import median_seconds, print_table
from facexformer.benchmarking.training import default_training_models, training_throughput
from facexformer.module import FaceXFormer


def resolved_device(name: str) -> str:
    """``"auto"``: ``"cuda"`` when a GPU is available, else ``"cpu"``; any other torch device name as it is."""
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def benchmark_model(args: ModelBenchmark) -> list[tuple[str, float, float, float, float]]:
    """Inference throughput of all tasks, landmarks only and the backbone alone, per precision."""
    return inference_throughput(
        backbone=args.backbone,
        batch_size=args.batch_size,
        image_size=args.image_size,
        tasks=None if args.tasks == ["all"] else args.tasks,
        precisions=args.dtype,
        device=resolved_device(args.device),
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
    return training_throughput(models, sizes, args.dtype, resolved_device(args.device), args.repeats, args.warmup)


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
        model.to(resolved_device(args.device)),
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
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(1)
    count = min(args.samples, len(dataset))
    start = time.perf_counter()
    for i in range(count):
        dataset[i]
    per_worker = count / (time.perf_counter() - start)
    torch.set_num_threads(threads)

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
