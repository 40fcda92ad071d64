"""Two gloo processes on CPU: each metric's synchronised value equals the single-process value on all data."""

import math
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from facexformer.metrics.age import AgeMAE
from facexformer.metrics.parsing import ParsingF1
from facexformer.metrics.pose import PoseMAE
from facexformer.metrics.verification import VerificationAccuracy
from facexformer.metrics.visibility import RecallAtPrecision

WORLD = 2


def _data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    occluded = (torch.rand(10, 29, generator=generator) < 0.3).float()
    years = torch.rand(10, generator=generator) * 80
    years[::3] = math.nan
    return {
        "parsing_logits": torch.randn(6, 4, 5, 5, generator=generator),
        "parsing_target": torch.randint(0, 4, (6, 5, 5), generator=generator),
        "pose_pred": torch.rand(7, 3, generator=generator) * 120 - 60,
        "pose_target": torch.rand(7, 3, generator=generator) * 120 - 60,
        "vis_logits": torch.randn(10, 29, generator=generator) + occluded,
        "vis_target": occluded,
        "age_logits": torch.randn(10, 8, generator=generator),
        "age_years": years,
        "emb1": torch.randn(25, 6, generator=generator),
        "emb2": torch.randn(25, 6, generator=generator),
        "same": torch.rand(25, generator=generator) < 0.5,
    }


def _metrics() -> dict[str, torch.nn.Module]:
    return {
        "parsing": ParsingF1(num_classes=4),
        "pose": PoseMAE(),
        "visibility": RecallAtPrecision(),
        "age": AgeMAE(),
        "verification": VerificationAccuracy(),
    }


def _feed(metrics, data, rows_of, pairs_of) -> None:
    """Update the metrics with the rows ``rows_of(n)`` (verification: ``pairs_of(n)``) picks of n samples."""
    rows = rows_of(6)
    metrics["parsing"].update(data["parsing_logits"][rows], data["parsing_target"][rows])
    rows = rows_of(7)
    metrics["pose"].update(data["pose_pred"][rows], data["pose_target"][rows])
    rows = rows_of(10)
    metrics["visibility"].update(data["vis_logits"][rows], data["vis_target"][rows])
    metrics["age"].update(data["age_logits"][rows], data["age_years"][rows])
    rows = pairs_of(25)
    metrics["verification"].update(data["emb1"][rows], data["emb2"][rows], data["same"][rows], rows)


def _flatten(results: dict) -> dict[str, float]:
    flat = {}
    for name, value in results.items():
        if isinstance(value, dict):
            flat.update({f"{name}/{key}": float(v) for key, v in value.items()})
        else:
            flat[name] = float(value)
    return flat


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        data, metrics = _data(), _metrics()

        def shard(n: int) -> torch.Tensor:
            return torch.arange(n)[rank::WORLD]  # interleaved, uneven counts for odd n

        def padded_shard(n: int) -> torch.Tensor:
            # DistributedSampler: interleaved and padded with repeats of the first samples to equal counts
            return (torch.arange(math.ceil(n / WORLD) * WORLD) % n)[rank::WORLD]

        _feed(metrics, data, shard, padded_shard)
        results = {name: metric.compute() for name, metric in metrics.items()}
        torch.save(_flatten(results), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters: ~40 s on a shared 2-core machine
def test_metrics_reduce_across_two_processes(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    data, metrics = _data(), _metrics()
    _feed(metrics, data, torch.arange, torch.arange)
    single = _flatten({name: metric.compute() for name, metric in metrics.items()})
    for rank in range(WORLD):
        reduced = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert reduced.keys() == single.keys()
        for key, value in single.items():
            assert math.isclose(reduced[key], value, rel_tol=1e-6, abs_tol=1e-9), (rank, key)


def _worker_one_rank_idle(rank: int, init_file: str, out_dir: str) -> None:
    """Rank 0 updates with all the data, rank 1 never updates (an evaluation shard without a batch)."""
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD, timeout=timedelta(seconds=60)
    )
    try:
        data, metrics = _data(), _metrics()
        if rank == 0:
            _feed(metrics, data, torch.arange, torch.arange)
        results = {name: metric.compute() for name, metric in metrics.items()}
        torch.save(_flatten(results), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters
def test_metrics_sync_when_one_process_saw_no_sample(tmp_path):
    # before: gloo refused the gather ("Received data size doesn't match expected size"), the visibility
    # targets being int64 on rank 0 and the empty float32 placeholder on rank 1
    mp.spawn(_worker_one_rank_idle, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    data, metrics = _data(), _metrics()
    _feed(metrics, data, torch.arange, torch.arange)
    single = _flatten({name: metric.compute() for name, metric in metrics.items()})
    for rank in range(WORLD):
        reduced = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert reduced.keys() == single.keys()
        for key, value in single.items():
            assert math.isclose(reduced[key], value, rel_tol=1e-6, abs_tol=1e-9), (rank, key)
