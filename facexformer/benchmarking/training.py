"""Training throughput: optimizer steps/s and images/s of a model on a synthetic batch, per precision."""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable, Sequence

import torch

from facexformer.benchmarking.configs import load_config
from facexformer.benchmarking.flops import count_flops
from facexformer.benchmarking.hardware import DTYPES, describe_hardware, matmul_peak
from facexformer.benchmarking.rounds import paired_speed_ratios, print_table, timed_rounds
from facexformer.module import FaceXFormer

#: "bf16-mixed"/"fp16-mixed": float32 weights, forward under autocast (Lightning's ``precision`` of that name)
TRAIN_PRECISIONS = ("fp32", "bf16-mixed", "fp16-mixed")
SWIN_B = {"backbone": "swin_base_patch4_window7_224", "image_size": 224}


def synthetic_batch(model: FaceXFormer, batch_size: int, device: torch.device) -> dict:
    """A collated batch of ``SyntheticFaces`` at the model's input size, labelled for the model's tasks that the
    synthetic faces provide; images as float [0, 1]."""
    from facexformer.data import SyntheticFaces, collate_multitask
    from facexformer.data.synthetic.dataset import ALL_TASKS

    tasks = [name for name in model.task_names if name in ALL_TASKS]
    dataset = SyntheticFaces(batch_size, int(model.hparams.image_size), seed=0, tasks=tasks)
    batch = collate_multitask([dataset[i] for i in range(batch_size)])
    batch["image"] = batch["image"].float() / 255
    return _to(batch, device)


def _to(value: object, device: torch.device) -> object:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def training_step(model: FaceXFormer, batch: dict, precision: str) -> Callable[[], None]:
    """One optimizer step (forward under autocast for ``*-mixed``, backward, fused AdamW), as a call."""
    if precision not in TRAIN_PRECISIONS:
        raise ValueError(f"unknown training precision {precision!r}; choose from {TRAIN_PRECISIONS}")
    optimizer = model.configure_optimizers()["optimizer"]
    device = batch["image"].device
    dtype = DTYPES[precision.split("-")[0]]

    def step() -> None:
        with torch.autocast(device.type, dtype, enabled=precision != "fp32"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "You are trying to `self.log", UserWarning)  # no Trainer here
            loss = model.step(batch, "train")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def training_throughput(
    models: dict[str, FaceXFormer],
    batch_sizes: dict[str, int],
    precisions: Sequence[str] = ("fp32", "bf16-mixed"),
    device: str | None = None,
    repeats: int = 3,
    warmup: int = 1,
) -> list[tuple[str, float, float, float, float]]:
    """Prints the hardware, its matmul peaks and a table; returns rows of (case, images/s, speed relative to
    the same model's first precision, GFLOP/s counting forward and backward, % of the compute dtype's peak).

    ``models``: name -> model (trained in place; give fresh ones), ``batch_sizes``: name -> batch size.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(describe_hardware(device).line())
    cases, flops, sizes = {}, {}, {}
    for name, model in models.items():
        model = model.to(device).train()
        batch = synthetic_batch(model, batch_sizes[name], device)
        for precision in precisions:
            key = f"{name} {precision}"
            cases[key] = training_step(model, batch, precision)
            sizes[key] = batch_sizes[name]
        flops[name] = count_flops(cases[f"{name} {precisions[0]}"]) / batch_sizes[name]
    print("GFLOP per training image (forward + backward): " + ", ".join(f"{n} {f / 1e9:.2f}" for n, f in flops.items()))
    peaks = {p: matmul_peak(DTYPES[p.split("-")[0]], device) for p in precisions}
    times = timed_rounds(cases, repeats, warmup)
    peaks = {p: max(gflops, matmul_peak(DTYPES[p.split("-")[0]], device)) for p, gflops in peaks.items()}
    print(
        "matmul peak (best before and after the rounds): "
        + ", ".join(f"{p.split('-')[0]} {g:.3g} GFLOP/s" for p, g in peaks.items())
    )
    rows = []
    for key, seconds in times.items():
        name, precision = key.rsplit(" ", 1)
        ratio = paired_speed_ratios(times, f"{name} {precisions[0]}")[key]
        rate = sizes[key] / statistics.median(seconds)
        achieved = rate * flops[name] / 1e9
        rows.append(
            (
                f"{key}, steps/s {1 / statistics.median(seconds):.2f}",
                rate,
                ratio,
                achieved,
                100 * achieved / peaks[precision],
            )
        )
    print_table(f"training steps on {device} (ratio: to the same model in {precisions[0]})", rows, "images/s")
    return rows


def default_training_models(names: Sequence[str]) -> tuple[dict[str, FaceXFormer], dict[str, int]]:
    """``"swin-b"`` (the released network, batch 8, 224 px) and/or ``"quickstart"`` (the shipped config's model
    and batch size), freshly built with seed 0."""
    models, sizes = {}, {}
    for name in names:
        torch.manual_seed(0)
        if name == "swin-b":
            models[name], sizes[name] = FaceXFormer(**SWIN_B), 8
        elif name == "quickstart":
            model, datamodule = load_config("quickstart")
            models[name], sizes[name] = model, datamodule.batch_size
        else:
            raise ValueError(f"unknown training model {name!r}; choose from 'swin-b', 'quickstart'")
    return models, sizes
