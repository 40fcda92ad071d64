"""Timing cases in interleaved rounds, ratios paired per round, and the tables the benchmarks print."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

#: "wall": elapsed seconds; "cpu": this process's CPU seconds (with one thread, the time the work itself took,
#: not inflated by waiting for a core on a busy machine)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def timed_rounds(
    cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1, clock: str = "wall"
) -> dict[str, list[float]]:
    """Times (seconds of ``CLOCKS[clock]``) of each case in ``repeats`` rounds; the cases take turns in every
    round, so a change in machine load during the run affects all of them alike."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    now = CLOCKS[clock]
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = now()
            fn()
            times[name].append(now() - start)
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


def print_table(title: str, rows: Sequence[tuple], unit: str) -> None:
    """Rows of (name, rate, ratio to the baseline row) or (name, rate, ratio, GFLOP/s, % of peak)."""
    width = max(len(r[0]) for r in rows) + 2
    wide = any(len(r) > 3 for r in rows)
    print(f"\n{title}")
    print(f"{'':<{width}}{unit:>14}{'ratio':>10}" + (f"{'GFLOP/s':>10}{'% peak':>9}" if wide else ""))
    for name, rate, ratio, *extra in rows:
        line = f"{name:<{width}}{rate:>14.2f}{ratio:>10.3f}"
        if extra:
            line += f"{extra[0]:>10.1f}{extra[1]:>8.1f}%"
        print(line)
