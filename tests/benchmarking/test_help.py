"""``facexformer benchmark help``: a row per command (and per cache state where the help is cached), the
hardware line, and the check that the warm text is the cold one."""

import pytest

from facexformer.benchmarking import help as help_benchmark
from facexformer.benchmarking.help import HelpBenchmark, benchmark_help, help_run, print_help_table


def test_a_help_run_times_the_child_and_keeps_its_text():
    run = help_run("")
    assert run.text.startswith("usage: facexformer COMMAND") and "shipped configs" in run.text
    assert run.cpu > 0 and 0 < run.wall < 60


def test_the_table_has_a_row_per_command_and_cache_state(capsys, monkeypatch):
    # infer stands in for a cached command: its help is quick, and cold and warm must print the same text
    monkeypatch.setattr(help_benchmark, "cached_commands", lambda: ("infer",))
    medians = benchmark_help(HelpBenchmark(commands=["", "infer"], repeats=1))
    assert set(medians) == {("", ""), ("infer", "cold"), ("infer", "warm")}
    assert all(wall > 0 and cpu > 0 for wall, cpu in medians.values())
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(("cpu: ", "cuda: ")) and "load average before" in lines[1]
    assert [line.split()[:-2] for line in lines if line.startswith("facexformer ")] == [
        ["facexformer", "--help", "-"],
        ["facexformer", "infer", "--help", "cold"],
        ["facexformer", "infer", "--help", "warm"],
    ]
    assert "warm text = cold text: yes" in out


def test_a_warm_text_unlike_the_cold_one_is_reported(capsys, monkeypatch):
    texts = iter(["the help\n", "the help\n", "another help\n"])  # the warm cache filled, cold, warm

    def fake_run(command, environment=None):
        return help_benchmark.HelpRun(0.1, 0.1, next(texts))

    monkeypatch.setattr(help_benchmark, "cached_commands", lambda: ("fit",))
    monkeypatch.setattr(help_benchmark, "help_run", fake_run)
    benchmark_help(HelpBenchmark(commands=["fit"], repeats=1))
    assert "warm text differs from the cold one: fit" in capsys.readouterr().out


@pytest.mark.parametrize("state, shown", [("", "-"), ("cold", "cold")])
def test_the_table_names_the_cache_state(state, shown, capsys):
    print_help_table({("fit", state): (7.25, 6.5)})
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.split() == ["facexformer", "fit", "--help", shown, "7.25", "6.50"]
