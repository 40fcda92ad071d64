"""Fixtures of the workflow tests (helpers in ``steps.py``); the wall time of every command is printed at the
end of the session under ``workflow step timings``."""

from __future__ import annotations

import pytest

from tests.workflows.steps import TIMINGS, TINY_QUICKSTART, FittedRun, run_step


@pytest.fixture(scope="session")
def fitted(tmp_path_factory) -> FittedRun:
    """One tiny quickstart ``fit`` (then its test, ``test_after_fit``), shared by the chain's steps."""
    cwd = tmp_path_factory.mktemp("day")
    done = run_step("fit (tiny quickstart, then test)", ["fit", *TINY_QUICKSTART], cwd)
    return FittedRun(
        cwd,
        cwd / "runs/quickstart/version_0/checkpoints/last.ckpt",
        cwd / "runs/quickstart/version_0",
        done.stdout,
    )


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("workflow step timings")
        terminalreporter.write_line(f"{'wall s':>8}{'CPU s':>8}  step")
        for name, wall, cpu in TIMINGS:
            terminalreporter.write_line(f"{wall:8.1f}{cpu:8.1f}  {name}")
        total_wall, total_cpu = sum(t[1] for t in TIMINGS), sum(t[2] for t in TIMINGS)
        terminalreporter.write_line(f"{total_wall:8.1f}{total_cpu:8.1f}  total")
