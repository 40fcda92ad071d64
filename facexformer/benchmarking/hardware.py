"""What a benchmark ran on: the processor, its threads, its vector/matrix units, and its matmul peak per dtype."""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facexformer.inference.onednn_linear import OneDnnLinear, onednn_dtypes

#: /proc/cpuinfo flags that decide float32/bf16/fp16 speed (AVX-512 with bf16 dot products, AMX tiles)
SPEED_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_fp16",
)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Hardware:
    """``device`` ("cpu" or "cuda"), ``name`` (CPU model or GPU name), torch ``threads``, ``flags`` among
    ``SPEED_FLAGS`` that the CPU has, and torch's CPU ``capability`` (e.g. "AVX512")."""

    device: str
    name: str
    threads: int
    flags: list[str] = field(default_factory=list)
    capability: str = ""

    def line(self) -> str:
        """One human-readable line, e.g. ``cpu: AMD EPYC, 2 threads, torch capability AVX512, flags avx2 ...``."""
        if self.device == "cuda":
            return f"cuda: {self.name}, torch {torch.__version__}"
        flags = " ".join(self.flags) or "none of " + " ".join(SPEED_FLAGS)
        return (
            f"cpu: {self.name}, {self.threads} threads, torch {torch.__version__} capability {self.capability}, "
            f"flags: {flags}"
        )


def describe_hardware(device: str | torch.device = "cpu") -> Hardware:
    """The processor ``device`` runs on (the GPU's name for CUDA devices)."""
    device = torch.device(device)
    if device.type == "cuda":
        return Hardware("cuda", torch.cuda.get_device_name(device), torch.get_num_threads())
    name, flags = _cpuinfo()
    return Hardware(
        "cpu",
        name,
        torch.get_num_threads(),
        [f for f in SPEED_FLAGS if f in flags],
        torch.backends.cpu.get_cpu_capability(),
    )


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """(model name, flags) of the first processor in ``path``; the platform's name and no flags elsewhere."""
    name, flags = "", set()
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not name:
                name = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return name or platform.processor() or platform.machine(), flags


def matmul_peak(
    dtype: torch.dtype,
    device: str | torch.device = "cpu",
    sizes: tuple[int, ...] = (512, 1024, 2048),
    repeats: int = 5,
    budget_s: float = 2.0,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best GFLOP/s of square (n, n) @ (n, n) products in ``dtype`` over ``sizes`` (2n³ FLOP each).

    On CPUs, the best of torch's matmul and oneDNN's packed one (``OneDnnLinear``; on AMD CPUs torch's float32
    matmul runs MKL's AVX2 kernels, below oneDNN's: docs/benchmarks.md). The best of ``repeats`` timings per
    size; a size whose first product took over ``budget_s`` ends the search (fp16 without fp16 units is far
    slower than fp32). ``clock``:
    seconds (``time.process_time`` measures CPU time, for one thread on a busy machine).
    """
    device = torch.device(device)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        products = [functools.partial(torch.mm, a, b)]
        if device.type == "cpu" and dtype in onednn_dtypes():
            layer = OneDnnLinear(n, n, bias=False, dtype=dtype)
            layer.weight.data = b
            products.append(functools.partial(layer, a))
        for product in products:
            seconds = _timings(product, device, repeats, budget_s, clock)
            best = max(best, 2 * n**3 / min(seconds[1:] or seconds) / 1e9)
            if seconds[0] > budget_s:
                return best
    return best


def _timings(
    product: Callable[[], object], device: torch.device, repeats: int, budget_s: float, clock: Callable[[], float]
) -> list[float]:
    """Seconds of 1 + ``repeats`` calls (the first warms up), fewer when the first takes over ``budget_s``."""
    seconds = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = clock()
            product()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(clock() - start)
            if seconds[0] > budget_s:
                break
    return seconds
