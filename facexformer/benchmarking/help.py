"""``facexformer benchmark help``: how long ``facexformer [COMMAND] --help`` takes, each in a fresh interpreter.

Each command runs ``repeats`` times as ``python -m facexformer ... --help``; the table gives the median wall time
and the median CPU time (user + system) of the child process. On a busy machine the wall time grows with the
load while the CPU time stays close to what an idle machine's wall time would be; the target is under 2 s.
The help of fit/validate/test/predict comes from a per-user cache (``facexformer.apps.help_cache``): each is
timed ``cold`` (an empty cache: LightningCLI renders the help and it is stored) and ``warm`` (printed from the
cache), each in a cache folder of its own, so the user's cache is neither used nor changed. The warm text must
equal the cold one; a difference is reported under the table.

This module imports no torch until the benchmark runs (its options are part of ``facexformer benchmark --help``).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

#: the commands timed by default (``""`` is ``facexformer --help``)
HELP_COMMANDS = ("", "fit", "validate", "test", "predict", "infer", "export", "evaluate", "benchmark")


@dataclass
class HelpBenchmark:
    """Options of ``facexformer benchmark help``.

    Args:
        commands: commands whose --help is timed ("" = facexformer --help)
        repeats: runs of each (and of each cache state), in a fresh interpreter each time
    """

    commands: list[str] = field(default_factory=lambda: list(HELP_COMMANDS))
    repeats: int = 3


@dataclass
class HelpRun:
    """One ``--help`` in a fresh interpreter: wall and CPU seconds, and what it printed."""

    wall: float
    cpu: float
    text: str


def help_run(command: str, environment: Mapping[str, str] | None = None) -> HelpRun:
    """``python -m facexformer [command] --help`` in a fresh interpreter with ``environment`` added to this
    process's; a failing command raises ``CalledProcessError``."""
    argv = [sys.executable, "-m", "facexformer", *([command] if command else []), "--help"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, **(environment or {})})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return HelpRun(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout)


def cached_commands() -> tuple[str, ...]:
    """The commands whose ``--help`` is served from the help cache (LightningCLI's)."""
    from facexformer.apps.cli import LIGHTNING_COMMANDS

    return tuple(LIGHTNING_COMMANDS)


def benchmark_help(options: HelpBenchmark) -> dict[tuple[str, str], tuple[float, float]]:
    """Print the hardware line and the table (see the module docstring); returns (command, cache state) ->
    (median wall, median CPU) seconds, the state being "cold", "warm" or "" (a command without a cache)."""
    from facexformer.apps.help_cache import NO_CACHE_VARIABLE
    from facexformer.benchmarking.hardware import describe_hardware

    print(describe_hardware().line())
    print(f"{os.cpu_count()} cores; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cached = [c for c in options.commands if c in cached_commands()]
    runs: dict[tuple[str, str], list[HelpRun]] = {}
    with tempfile.TemporaryDirectory(prefix="facexformer-help-") as folder:
        warm = {"XDG_CACHE_HOME": os.path.join(folder, "warm"), NO_CACHE_VARIABLE: "0"}
        for command in cached:  # fills the warm cache
            help_run(command, warm)
        for repeat in range(options.repeats):  # interleaved, so that a change in the load hits every command
            for command in options.commands:
                if command not in cached:
                    runs.setdefault((command, ""), []).append(help_run(command))
                    continue
                cold = {**warm, "XDG_CACHE_HOME": os.path.join(folder, f"cold-{command}-{repeat}")}
                runs.setdefault((command, "cold"), []).append(help_run(command, cold))
                runs.setdefault((command, "warm"), []).append(help_run(command, warm))
    medians = {
        key: (statistics.median(r.wall for r in done), statistics.median(r.cpu for r in done))
        for key, done in runs.items()
    }
    print_help_table(medians)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    differ = [c for c in cached if len({r.text for r in runs[(c, "cold")] + runs[(c, "warm")]}) != 1]
    print(f"warm text differs from the cold one: {', '.join(differ)}" if differ else "warm text = cold text: yes")
    return medians


def print_help_table(medians: Mapping[tuple[str, str], tuple[float, float]]) -> None:
    """One row per command and cache state: median wall and CPU seconds of its ``--help``."""
    rows = [
        (f"facexformer {command} --help".replace("  ", " "), state, *times)
        for (command, state), times in medians.items()
    ]
    width = max(len(row[0]) for row in rows) + 2
    print(f"\n{'--help':<{width}}{'cache':<7}{'wall s':>10}{'CPU s':>10}")
    for name, state, wall, cpu in rows:
        print(f"{name:<{width}}{state or '-':<7}{wall:>10.2f}{cpu:>10.2f}")
