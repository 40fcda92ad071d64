"""Helpers of the workflow tests: the installed ``facexformer`` command run in subprocesses, as a user runs it
(each call's wall time is kept in ``TIMINGS``), and readers of what the runs leave behind."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC_DATA = ROOT / "tests" / "conf" / "synthetic_data.yaml"
#: the quickstart shrunk to a few seconds: tiny backbone, 1 epoch of 2 batches, 1 validation batch
TINY_QUICKSTART = [
    "--config",
    "quickstart",
    "--data",
    str(SYNTHETIC_DATA),
    "--model.backbone",
    "test_convnext",
    "--model.image_size",
    "64",
    "--model.dim",
    "32",
    "--model.decoder_mlp_dim",
    "64",
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "2",
    "--trainer.limit_val_batches",
    "1",
    "--data.batches_per_epoch",
    "2",
    "--data.num_workers",
    "0",
    "--trainer.enable_progress_bar",
    "false",
]
#: (step, wall seconds, CPU seconds of the subprocess) of every ``run_step`` call
TIMINGS: list[tuple[str, float, float]] = []


def facexformer_command() -> list[str]:
    """The console script when installed next to this Python, else ``python -m facexformer``."""
    script = Path(sys.executable).parent / "facexformer"
    if script.is_file():
        return [str(script)]
    found = shutil.which("facexformer")
    return [found] if found else [sys.executable, "-m", "facexformer"]


def user_environment() -> dict[str, str]:
    """This checkout's code first (PYTHONPATH), offline hubs, no GUI, one thread per process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        WANDB_MODE="offline",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        WANDB_SILENT="true",
    )
    return env


def run_step(
    name: str, args: list[str], cwd: Path, expect: int = 0, command: list[str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``facexformer ARGS`` (or ``command``) in ``cwd``; fail with its output unless it exits ``expect``."""
    start, cpu_start = time.perf_counter(), _children_cpu_seconds()
    done = subprocess.run(
        [*(command or facexformer_command()), *args],
        cwd=cwd,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds, cpu = time.perf_counter() - start, _children_cpu_seconds() - cpu_start
    TIMINGS.append((name, seconds, cpu))
    print(f"[workflow] {name}: {seconds:.1f} s wall, {cpu:.1f} s CPU")
    if done.returncode != expect:
        pytest.fail(
            f"{name}: exit {done.returncode} (expected {expect})\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-5000:]}"
        )
    return done


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class FittedRun:
    """What ``facexformer fit --config quickstart`` (tiny) left in ``cwd``."""

    cwd: Path
    checkpoint: Path
    log_dir: Path
    stdout: str


def last_scalars(log_dir: Path) -> dict[str, float]:
    """The last value of every scalar in the TensorBoard event files of ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}


def newest_log_dir(cwd: Path) -> Path:
    """The newest run folder ``runs/quickstart/version_N`` under ``cwd`` (each run's logs are in its own)."""
    versions = (cwd / "runs/quickstart").glob("version_*")
    return max(versions, key=lambda p: int(p.name.removeprefix("version_")))


def rerun_reproduces(fitted: FittedRun, stage: str) -> None:
    """``facexformer <stage> --ckpt_path`` on ``fitted``'s checkpoint logs the same ``val/`` or ``test/`` metrics
    as the fit did (more than 20 of them, to 1e-5)."""
    prefix = {"validate": "val/", "test": "test/"}[stage]
    run_step(
        f"{stage} --ckpt_path last.ckpt", [stage, *TINY_QUICKSTART, "--ckpt_path", str(fitted.checkpoint)], fitted.cwd
    )
    before = {k: v for k, v in last_scalars(fitted.log_dir).items() if k.startswith(prefix)}
    after = last_scalars(newest_log_dir(fitted.cwd))
    assert len(before) > 20
    for key, value in before.items():
        # NaN where a class is absent from both labels and predictions (e.g. inner mouth on a closed-mouth batch)
        assert after[key] == pytest.approx(value, rel=1e-5, abs=1e-6, nan_ok=True), key


#: each task's headline metric in the comparison table
HEADLINE = (
    "test/landmarks/nme",
    "test/headpose/mae",
    "test/attributes/accuracy",
    "test/visibility/accuracy",
    "test/age/mae",
    "test/gender/accuracy",
    "test/race/accuracy",
    "test/parsing/f1",
    "test/expression/accuracy",
)
_ROW = re.compile(r"^(test/\S+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(yes|NO)$")
_ERRORS = ("mae", "nme")  # lower is better; every other headline metric is a score in [0, 1]


def comparison_rows(stdout: str) -> dict[str, tuple[float, float]]:
    """``{metric: (model, baseline)}`` from the table ``BaselineComparison`` printed into ``stdout``."""
    rows = (_ROW.match(line.strip()) for line in stdout.splitlines())
    return {m[1]: (float(m[2]), float(m[3])) for m in rows if m}


def margin_failures(rows: dict[str, tuple[float, float]]) -> list[str]:
    """One line per headline metric that misses its margin (or is missing from the table)."""
    failures = []
    for metric in HEADLINE:
        if metric not in rows:
            failures.append(f"{metric}: not in the table")
            continue
        model, base = rows[metric]
        if metric.rsplit("/", 1)[1] in _ERRORS:
            need, ok = 0.9 * base, model <= 0.9 * base
        else:
            need = base + 0.1 * (1.0 - base)
            ok = model >= need
        if not ok:
            failures.append(f"{metric}: model {model:.4f}, baseline {base:.4f}, needs {need:.4f}")
    return failures
