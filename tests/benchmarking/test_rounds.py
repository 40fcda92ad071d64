import time

import pytest

from facexformer.benchmarking.rounds import paired_speed_ratios, timed_rounds


def test_paired_ratios_follow_each_round_not_the_medians():
    # the machine halves its speed in round 2 and again in round 3; "half" is always 2x slower than "base"
    times = {"base": [1.0, 2.0, 4.0], "half": [2.0, 4.0, 8.0], "mixed": [2.0, 2.0, 8.0]}
    ratios = paired_speed_ratios(times, "base")
    assert ratios["base"] == 1.0
    assert ratios["half"] == pytest.approx(0.5)
    assert ratios["mixed"] == pytest.approx(0.5)  # rounds give 0.5, 1.0, 0.5; a ratio of medians would say 1.0


def test_timed_rounds_interleaves_the_cases():
    order = []
    times = timed_rounds({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}


def test_cpu_clock_counts_work_not_waiting():
    # sleeping takes wall time but no CPU time
    times = timed_rounds({"sleep": lambda: time.sleep(0.05)}, repeats=1, warmup=0, clock="cpu")
    assert times["sleep"][0] < 0.02
    assert timed_rounds({"sleep": lambda: time.sleep(0.05)}, repeats=1, warmup=0)["sleep"][0] >= 0.05
