"""``facexformer benchmark help``: how long ``facexformer [COMMAND] --help`` takes, each in a fresh interpreter.

Each command runs ``repeats`` times as ``python -m facexformer ... --help``; the table gives the median wall time
and the median CPU time (user + system) of the child process. On a busy machine the wall time grows with the
load while the CPU time stays close to what an idle machine's wall time would be; the target is under 2 s.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

#: the commands timed by default (``[]`` is ``facexformer --help``)
HELP_COMMANDS = ("", "fit", "validate", "test", "predict", "infer", "export", "benchmark")


@dataclass
class HelpBenchmark:
    """Options of ``facexformer benchmark help``.

    Args:
        commands: commands whose --help is timed ("" = facexformer --help)
        repeats: runs of each, in a fresh interpreter each time
    """

    commands: list[str] = field(default_factory=lambda: list(HELP_COMMANDS))
    repeats: int = 3


def help_seconds(command: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``python -m facexformer [command] --help`` in a fresh interpreter."""
    argv = [sys.executable, "-m", "facexformer", *([command] if command else []), "--help"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def benchmark_help(options: HelpBenchmark) -> dict[str, tuple[float, float]]:
    """Print the table (see the module docstring); returns command -> (median wall, median CPU) seconds."""
    times: dict[str, list[tuple[float, float]]] = {command: [] for command in options.commands}
    for _ in range(options.repeats):  # interleaved, so that a change in the machine's load hits every command
        for command in options.commands:
            times[command].append(help_seconds(command))
    medians = {
        command: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for command, runs in times.items()
    }
    print_help_table(medians)
    return medians


def print_help_table(medians: dict[str, tuple[float, float]], names: Sequence[str] | None = None) -> None:
    """One row per command: median wall and CPU seconds of its ``--help``."""
    rows = [(f"facexformer {command} --help".replace("  ", " "), *medians[command]) for command in names or medians]
    width = max(len(row[0]) for row in rows) + 2
    print(f"\n{'--help':<{width}}{'wall s':>10}{'CPU s':>10}")
    for name, wall, cpu in rows:
        print(f"{name:<{width}}{wall:>10.2f}{cpu:>10.2f}")
