"""Inference throughput per precision: all tasks, landmarks only and the backbone alone, against the peak."""

from __future__ import annotations

import copy
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from facexformer.benchmarking.flops import count_flops
from facexformer.benchmarking.hardware import DTYPES, describe_hardware, matmul_peak
from facexformer.benchmarking.rounds import CLOCKS, paired_speed_ratios, print_table, timed_rounds
from facexformer.inference.optimize import optimize_for_inference
from facexformer.module import FaceXFormer
from facexformer.tasks import RELEASED_TASKS

#: the case of the network as built, without ``optimize_for_inference`` (training's network)
AS_BUILT = "all tasks, as built"
#: "bf16"/"fp16": weights cast once (``model.to(dtype)``); "-autocast": float32 weights under autocast
PRECISIONS = ("fp32", "bf16", "bf16-autocast", "fp16", "fp16-autocast")


@dataclass
class Precision:
    """How a precision runs: the weights' dtype and the autocast dtype (None: off)."""

    weights: torch.dtype
    autocast: torch.dtype | None

    @classmethod
    def parse(cls, name: str) -> Precision:
        if name not in PRECISIONS:
            raise ValueError(f"unknown precision {name!r}; choose from {PRECISIONS}")
        dtype = DTYPES[name.split("-")[0]]
        return cls(torch.float32, dtype) if name.endswith("-autocast") else cls(dtype, None)

    @property
    def compute(self) -> torch.dtype:
        """The dtype the matmuls run in (the peak a row is compared with)."""
        return self.autocast or self.weights


def inference_cases(
    model: FaceXFormer, images: torch.Tensor, precisions: Sequence[str], compile_backbone: bool = False
) -> dict[str, tuple[Callable[[], object], Precision]]:
    """``"{precision} {part}"`` -> (a call running that part once, its precision), parts: backbone only, all
    tasks, landmarks only (when the model has that task) of the network ``optimize_for_inference`` makes, as
    ``predict`` and ``infer`` run it, and all tasks of the network as built (``AS_BUILT``). Models are cast
    once per precision, up front."""
    device = images.device
    cases: dict[str, tuple[Callable[[], object], Precision]] = {}
    for name in precisions:
        precision = Precision.parse(name)
        cast = model if precision.weights == torch.float32 else copy.deepcopy(model).to(precision.weights)
        net = optimize_for_inference(cast.net)
        if compile_backbone:
            net.backbone = torch.compile(net.backbone)
        inputs = images.to(precision.weights)
        parts: dict[str, Callable[[], object]] = {
            "backbone only": lambda net=net, x=inputs: net.backbone(x),
            "all tasks": lambda net=net, x=inputs: net(x),
            AS_BUILT: lambda net=cast.net, x=inputs: net(x),
        }
        if "landmarks" in model.task_names:
            parts["landmarks only"] = lambda net=net, x=inputs: net(x, tasks=["landmarks"])
        for part, fn in parts.items():
            cases[f"{name} {part}"] = (_in_precision(fn, precision, device), precision)
    return cases


def _in_precision(fn: Callable[[], object], precision: Precision, device: torch.device) -> Callable[[], None]:
    def call() -> None:
        enabled = precision.autocast is not None
        with torch.inference_mode(), torch.autocast(device.type, precision.autocast or torch.bfloat16, enabled):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def inference_throughput(
    backbone: str = "swin_base_patch4_window7_224",
    batch_size: int = 8,
    image_size: int = 224,
    tasks: Sequence[str] | None = None,
    precisions: Sequence[str] = ("fp32", "bf16"),
    device: str | None = None,
    repeats: int = 5,
    warmup: int = 1,
    compile_backbone: bool = False,
    threads: int | None = None,
    clock: str = "wall",
) -> list[tuple[str, float, float, float, float]]:
    """Prints the hardware, its matmul peak per dtype and a table; returns rows of (case, images/s, speed
    relative to the first precision's backbone-only row, GFLOP/s, % of that dtype's peak).

    ``tasks``: task names (default the eight released ones); FLOP are counted by torch on the configured
    network (``count_flops``), per image. ``threads``: torch's CPU threads (default: unchanged). ``clock``:
    "wall" or "cpu" (``rounds.CLOCKS``; CPU time needs one thread, else it adds up every thread's time).
    """
    torch.manual_seed(0)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads is not None:
        torch.set_num_threads(threads)
    if clock == "cpu" and (device.type != "cpu" or torch.get_num_threads() != 1):
        raise ValueError(
            f"clock 'cpu' measures this process's CPU time: it needs device cpu and one thread (--threads 1), got "
            f"{device} with {torch.get_num_threads()} threads"
        )
    model = FaceXFormer(tasks=list(tasks or RELEASED_TASKS), backbone=backbone, image_size=image_size)
    model = model.to(device).eval()
    images = torch.randn(batch_size, 3, image_size, image_size, device=device)
    print(describe_hardware(device).line() + (", clock: process CPU time" if clock == "cpu" else ""))
    eager = inference_cases(model, images, ["fp32"])
    flops = {name.split(" ", 1)[1]: count_flops(fn) / batch_size for name, (fn, _) in eager.items()}
    print("GFLOP per image: " + ", ".join(f"{part} {f / 1e9:.2f}" for part, f in flops.items()))
    cases = inference_cases(model, images, precisions, compile_backbone)
    peak = functools.partial(matmul_peak, device=device, clock=CLOCKS[clock])
    peaks = {dtype: peak(dtype) for dtype in {p.compute for _, p in cases.values()}}
    if compile_backbone:
        for name, (fn, _) in cases.items():
            start = time.perf_counter()
            fn()
            print(f"[{name}] first call (torch.compile of the backbone): {time.perf_counter() - start:.1f} s")
    times = timed_rounds({name: fn for name, (fn, _) in cases.items()}, repeats, warmup, clock)
    peaks = {dtype: max(gflops, peak(dtype)) for dtype, gflops in peaks.items()}
    print(
        "matmul peak (best before and after the rounds): "
        + ", ".join(f"{_dtype_name(d)} {g:.3g} GFLOP/s" for d, g in peaks.items())
    )
    baseline = f"{precisions[0]} backbone only"
    ratios = paired_speed_ratios(times, baseline)
    rows = []
    for name, seconds in times.items():
        rate = batch_size / statistics.median(seconds)
        achieved = rate * flops[name.split(" ", 1)[1]] / 1e9
        rows.append((name, rate, ratios[name], achieved, 100 * achieved / peaks[cases[name][1].compute]))
    for precision in precisions:
        share = 1 - paired_speed_ratios(times, f"{precision} backbone only")[f"{precision} all tasks"]
        print(f"[{precision}] time after the backbone: {100 * share:.1f}% of the all-task time")
        gain = paired_speed_ratios(times, f"{precision} {AS_BUILT}")[f"{precision} all tasks"]
        print(f"[{precision}] optimize_for_inference: all tasks {gain:.2f}x as fast as the network as built")
    first = f"{precisions[0]} all tasks"
    for precision in precisions[1:]:
        speedup = paired_speed_ratios(times, first)[f"{precision} all tasks"]
        print(f"{precision} / {precisions[0]} all-task speed: {speedup:.2f}x (paired per round)")
    print_table(
        f"inference, {backbone}, batch {batch_size}, {image_size} px, {device} (ratio: to {baseline})",
        rows,
        "images/s",
    )
    return rows


def _dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, d in DTYPES.items() if d == dtype)
