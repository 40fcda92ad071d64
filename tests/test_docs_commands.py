"""The shell commands of the README and the docs run as written, or are listed here with why they cannot.

Every command in a ```bash / ```sh / ```shell / ```console block of ``README.md`` and ``docs/**/*.md`` (and
every ``$ `` prompt line in any block) is found and must be either in ``RUN`` (run here, in a fresh temporary
folder, through a shell with the installed ``facexformer`` command on ``PATH``, as a user types it) or
match a pattern of ``SKIPPED`` with the reason. A new docs command that is neither fails
``test_every_docs_command_is_run_or_skipped_with_a_reason``. Every ``facexformer ...`` in any of them, skipped
ones included, must also parse: its options and values are validated by the command's own parser without
running it; so must every YAML block of the docs that starts with ``# NAME.yaml``, as a ``--config``.

The commands of the full quickstart and those that use its checkpoint run in order in the slow part
(``pytest -m slow``), each timed; the fast part runs the few that take seconds.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonargparse
import pytest
import torch

from facexformer.apps.cli import main as facexformer_main
from tests.workflows.steps import comparison_rows, margin_failures

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
PHOTO = ROOT / "tests/fixtures/shared/reference/landmarks/samples/aflw/flickr/0/image04476.jpg"
CHECKPOINT = "runs/quickstart/version_0/checkpoints/last.ckpt"
#: appended to a training command whose full run would repeat the quickstart's 14 epochs
ONE_SHORT_EPOCH = "--trainer.max_epochs 1 --data.batches_per_epoch 2 --trainer.limit_val_batches 1"
FINETUNE_HEAD = (
    f"facexformer fit --config quickstart --model.init_weights {CHECKPOINT} --model.trainable '[net.heads.landmarks]' "
    "--trainer.default_root_dir runs/quickstart_head"
)
WRITE_WFLW_CONFIG = "facexformer fit --config finetune_landmarks_head --print_config > finetune_wflw.yaml"


@dataclass(frozen=True)
class DocCommand:
    """One shell command of the docs: ``file:line`` and its text (continuations joined, comments removed)."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Run:
    """A docs command this file runs: in ``group`` (the test that runs it), with ``append`` added to it
    (a shortened run) for the reason ``why``."""

    group: str
    append: str = ""
    why: str = ""


@dataclass(frozen=True)
class Skip:
    """A docs command not run here, and why; ``parse``: its ``facexformer`` invocations are still parsed."""

    reason: str
    parse: bool = True


FAST, QUICKSTART, BENCHMARKS = "fast", "quickstart chain (slow)", "small benchmarks (slow)"
#: docs command (as written, whitespace collapsed) -> how it is run
RUN: dict[str, Run] = {
    "facexformer fit --help": Run(FAST),
    "python3 -m venv .venv && . .venv/bin/activate": Run(FAST),
    WRITE_WFLW_CONFIG: Run(FAST),
    "facexformer fit --config quickstart": Run(QUICKSTART),
    "facexformer fit --config quickstart --ckpt_path last": Run(QUICKSTART),
    f"facexformer test --config quickstart --ckpt_path {CHECKPOINT}": Run(QUICKSTART),
    f"facexformer predict --config quickstart --config pred.yaml --ckpt_path {CHECKPOINT}": Run(QUICKSTART),
    f"facexformer infer photo.jpg --checkpoint {CHECKPOINT} --out predictions": Run(QUICKSTART),
    f"facexformer export --checkpoint {CHECKPOINT} --format onnx --out model.onnx": Run(QUICKSTART),
    "facexformer export --checkpoint model.ckpt --format onnx --tasks landmarks --out landmarks.onnx": Run(QUICKSTART),
    "facexformer export --checkpoint my_model/ --format torchscript --out facexformer.pt": Run(QUICKSTART),
    FINETUNE_HEAD: Run(
        QUICKSTART,
        ONE_SHORT_EPOCH,
        "its full run is 14 more epochs of the quickstart's model; one short epoch shows that it starts from the "
        "checkpoint and trains only the landmark head",
    ),
    "facexformer fit --config quickstart --trainer.logger WandbLogger": Run(
        QUICKSTART,
        ONE_SHORT_EPOCH,
        "the same 14 epochs as the quickstart run above, only the logger differs; one short epoch shows the "
        "W&B run (offline) with the test after it",
    ),
    "facexformer benchmark data --samples 200 --workers 0 1 2": Run(BENCHMARKS),
    "facexformer benchmark landmarks": Run(BENCHMARKS),
}
PYPI = "installs the package and its dependencies from PyPI (network)"
RELEASED = "needs the released checkpoint (a Hugging Face Hub download, or ckpts/model.pt fetched by hand)"
#: pattern (a full match of the command) -> why it is not run
SKIPPED: dict[str, Skip] = {
    r'python3 -m venv \.venv && \. \.venv/bin/activate && pip install -e (\.|"\.\[dev\]") && .*': Skip(
        f"{PYPI}; its parts run here: the venv line (docs/install.md), `facexformer fit --config quickstart` "
        "(slow part), and `pytest` is what CI runs (.ci/run)"
    ),
    r'pip install -e (\.|"\.\[dev\]")': Skip(PYPI),
    r"pytest( -q)?": Skip("the test suite itself: CI runs it (.ci/run); run from a test it would recurse"),
    r"hf download .*": Skip("downloads from the Hugging Face Hub (network)"),
    r"facexformer (fit|validate|test|predict) --config NAME_OR_PATH .*": Skip(
        "a synopsis: NAME_OR_PATH and ... stand for values (the docs' concrete fit, test and predict commands run)",
        parse=False,
    ),
    r"facexformer fit --config paper_multitask( .*)?": Skip(
        "the paper's recipe: the eight real datasets under data/ and GPUs (8 by default, 4 with DDP here)"
    ),
    r"facexformer fit --config finetune_landmarks_head": Skip(f"{RELEASED}, and 300W under data/"),
    r"facexformer (fit|test) --config (study_300w_\w+|landmarks_\w+)( .*)?": Skip(
        "300W (or WFLW) under data/, Swin-B at 224 px (a GPU), and the released checkpoint or torchvision's weights"
    ),
    r"curl -L -o \S+ https://download\.pytorch\.org/\S+": Skip("downloads torchvision's weights (network)"),
    r"facexformer (infer|export|evaluate) .*--checkpoint (/path/to/model\.pt|kartiknarayan/facexformer) .*": Skip(
        RELEASED
    ),
    r"#!/bin/bash\n.*": Skip("a SLURM job script: a cluster of 2 nodes with 4 GPUs each, and the real datasets"),
    r"facexformer benchmark (model|train|infer)( .*)?": Skip(
        "Swin-B at 224 px: minutes per table on a CPU, and the numbers mean something only on an idle machine; "
        "tests/benchmarking runs these modes on small models"
    ),
}


# ------------------------------------------------------------------------------------------------ extraction
def strip_comment(line: str) -> str:
    """``line`` without a shell comment (a ``#`` that starts a word, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(index of the first line, text) of each command line: ``\\`` continuations joined, whitespace
    collapsed, comments and empty lines dropped."""
    out: list[tuple[int, str]] = []
    start, pieces = 0, []
    for i, line in enumerate(lines):
        if not pieces:
            start = i
        if line.rstrip().endswith("\\"):
            pieces.append(line.rstrip()[:-1])
            continue
        text = " ".join(strip_comment(" ".join([*pieces, line])).split())
        pieces = []
        if text:
            out.append((start, text))
    return out


def extract_commands(markdown: str, file: str) -> list[DocCommand]:
    """The shell commands of ``markdown``'s fenced blocks: every line of a shell block (a block that starts
    with ``#!`` is one script), only the ``$ `` lines of a console block or of a block in another language."""
    lines = markdown.splitlines()
    commands: list[DocCommand] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        i += 1
        if not fence:
            continue
        indent, marker, language = len(fence.group(1)), fence.group(2), fence.group(3).lower()
        first = i
        while i < len(lines) and not lines[i].strip().startswith(marker):
            i += 1
        body = [line[indent:] if line[:indent].isspace() else line.lstrip() for line in lines[first:i]]
        i += 1
        if language in SHELL_LANGUAGES and language != "console" and body and body[0].startswith("#!"):
            script = "\n".join(text for _, text in logical_lines(body) if not text.startswith("#"))
            commands.append(DocCommand(file, first + 1, f"{body[0].strip()}\n{script}"))
            continue
        prompts_only = language not in SHELL_LANGUAGES or language == "console"
        for index, text in logical_lines(body):
            if text.startswith("$ "):
                text = text[2:].strip()
            elif prompts_only:
                continue
            commands.append(DocCommand(file, first + index + 1, text))
    return commands


@cache
def documented_commands() -> tuple[DocCommand, ...]:
    """Every shell command of README.md and docs/**/*.md, in file order."""
    found: list[DocCommand] = []
    for path in DOC_FILES:
        found += extract_commands(path.read_text(), str(path.relative_to(ROOT)))
    return tuple(found)


def skip_rules(text: str) -> list[str]:
    """The ``SKIPPED`` patterns that ``text`` matches in full."""
    return [pattern for pattern in SKIPPED if re.fullmatch(pattern, text, re.S)]


def documented_yaml_files() -> dict[str, str]:
    """YAML blocks of the docs that start with ``# NAME.yaml`` -> their text (pred.yaml, wflw.yaml...)."""
    files = {}
    for path in DOC_FILES:
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S):
            name = re.match(r"#\s*([\w.-]+\.ya?ml)\s*\n", block)
            if name:
                files[name.group(1)] = block
    return files


def facexformer_invocations(text: str) -> list[list[str]]:
    """The arguments of every ``facexformer`` call in ``text`` (up to a ``&&``, ``;``, ``|`` or redirect)."""
    calls = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token == "facexformer":
                args = []
                for arg in tokens[i + 1 :]:
                    if arg and set(arg) <= set("&;|<>()"):
                        break
                    args.append(arg)
                calls.append(args)
    return calls


# ------------------------------------------------------------------------------------------------ running
class Parsed(BaseException):
    """Raised once a command's arguments parsed, so that nothing runs."""


def parse_only(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """``facexformer ARGS`` parsed by the command's own parser (every option name and value validated) but
    not run: 0 when it parses, else the command's exit status (2 with its one-line message on stderr)."""
    parse = jsonargparse.ArgumentParser.parse_args
    depth = [0]

    def parse_then_stop(self, *a, **kw):
        depth[0] += 1
        try:
            result = parse(self, *a, **kw)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            raise Parsed
        return result

    with monkeypatch.context() as patch:
        patch.setattr(jsonargparse.ArgumentParser, "parse_args", parse_then_stop)
        try:
            facexformer_main(list(args))
        except Parsed:
            return 0
        except SystemExit as exit:
            return exit.code if isinstance(exit.code, int) else 1
    return 0


def user_shell_environment() -> dict[str, str]:
    """A user's shell with this checkout installed: its Python's scripts first on PATH, this code first on
    PYTHONPATH, offline hubs and W&B, no GUI."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_MODE="offline", WANDB_SILENT="true")
    env.update(MPLBACKEND="Agg")
    return env


def run_documented(text: str, cwd: Path, ran: list[tuple[str, float]]) -> subprocess.CompletedProcess:
    """Run the docs command ``text`` (plus its ``RUN`` entry's shortening) in a shell in ``cwd``; fail with
    its output unless it exits 0. Its wall time is appended to ``ran`` and printed."""
    assert text in RUN, f"{text!r} is not in RUN"
    assert text in {c.text for c in documented_commands()}, f"{text!r} is no longer in the docs"
    assert (Path(sys.executable).parent / "facexformer").is_file(), "the facexformer command is not installed"
    command = f"{text} {RUN[text].append}".strip()
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=user_shell_environment(), capture_output=True, text=True, timeout=3600
    )
    seconds = time.perf_counter() - start
    ran.append((text, seconds))
    print(f"[docs command] {seconds:7.1f} s  {command}")
    if done.returncode != 0:
        output = f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-5000:]}"
        pytest.fail(f"`{command}` exited {done.returncode}\n{output}")
    return done


def assert_ran_the_group(group: str, ran: list[tuple[str, float]]) -> None:
    assert {text for text, _ in ran} == {text for text, run in RUN.items() if run.group == group}


# ------------------------------------------------------------------------------------------------ the tests
def test_extraction_reads_blocks_continuations_comments_and_prompts():
    markdown = "\n".join(
        [
            "```bash",
            "# a comment line",
            "tool run --a 1   # trailing comment",
            "tool fit --x '#not a comment' \\",
            "    --y 2",
            "```",
            "```text",
            "$ tool bench --n 3",
            "output line",
            "```",
            "```console",
            "$ tool ls",
            "listing",
            "```",
            "```python",
            "print('tool')",
            "```",
            "  ```sh",
            "  #!/bin/bash",
            "  #SBATCH --nodes=2",
            "  srun tool fit",
            "  ```",
        ]
    )
    assert [(c.line, c.text) for c in extract_commands(markdown, "x.md")] == [
        (3, "tool run --a 1"),
        (4, "tool fit --x '#not a comment' --y 2"),
        (8, "tool bench --n 3"),
        (12, "tool ls"),
        (19, "#!/bin/bash\nsrun tool fit"),
    ]
    assert facexformer_invocations("facexformer fit --c q --m '[a, b]' > out.yaml && facexformer test") == [
        ["fit", "--c", "q", "--m", "[a, b]"],
        ["test"],
    ]


def test_every_docs_command_is_run_or_skipped_with_a_reason():
    commands = documented_commands()
    assert len(commands) > 20 and any(c.file == "README.md" for c in commands)
    unclassified = [str(c) for c in commands if c.text not in RUN and not skip_rules(c.text)]
    assert not unclassified, "docs commands neither in RUN nor in SKIPPED:\n" + "\n".join(unclassified)
    both = [str(c) for c in commands if c.text in RUN and skip_rules(c.text)]
    ambiguous = [str(c) for c in commands if len(skip_rules(c.text)) > 1]
    assert not both and not ambiguous, both + ambiguous
    assert all(run.why for run in RUN.values() if run.append), "a shortened run needs its reason"


def test_every_listed_command_is_still_in_the_docs():
    texts = [c.text for c in documented_commands()]
    assert not [text for text in RUN if text not in texts]
    assert not [pattern for pattern in SKIPPED if not any(re.fullmatch(pattern, t, re.S) for t in texts)]


def parse_cases() -> list[tuple[str, list[str]]]:
    """(where it is written first, arguments) of every distinct ``facexformer`` call of the docs."""
    cases: dict[tuple[str, ...], str] = {}
    for command in documented_commands():
        rules = skip_rules(command.text)
        if not rules or SKIPPED[rules[0]].parse:
            for args in facexformer_invocations(command.text):
                cases.setdefault(tuple(args), str(command))
    return [(where, list(args)) for args, where in cases.items()]


@pytest.mark.parametrize(("command", "args"), parse_cases(), ids=[" ".join(a) for _, a in parse_cases()])
def test_every_facexformer_command_of_the_docs_parses(command, args, tmp_path, monkeypatch, capsys):
    for name, text in documented_yaml_files().items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    assert parse_only(args, monkeypatch) == 0, f"{command}\n{capsys.readouterr().err}"


@pytest.mark.parametrize("name", sorted(documented_yaml_files()))
def test_every_config_file_of_the_docs_parses(name, tmp_path, monkeypatch, capsys):
    (tmp_path / name).write_text(documented_yaml_files()[name])
    monkeypatch.chdir(tmp_path)
    assert parse_only(["fit", "--config", name], monkeypatch) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "--config", "quickstart", "--trainer.max_epocs", "2"],
        ["fit", "--config", "quikstart"],
        ["fit", "--config", "quickstart", "--model.tasks", "[landmark]"],
        ["infer", "photo.jpg", "--checkpoint", "m.pt", "--out", "o", "--batchsize", "2"],
        ["export", "--checkpoint", "m.pt", "--format", "onnxx", "--out", "m.onnx"],
        ["benchmark", "model", "--dtype", "fp33"],
    ],
    ids=["misspelt option", "unknown config", "unknown task", "infer option", "export format", "benchmark dtype"],
)
def test_the_parse_check_rejects_a_wrong_command(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert parse_only(args, monkeypatch) == 2
    assert "error" in capsys.readouterr().err


def test_the_quick_commands_run_as_written(tmp_path, monkeypatch):
    ran: list[tuple[str, float]] = []
    assert "--trainer.max_epochs" in run_documented("facexformer fit --help", tmp_path, ran).stdout
    run_documented("python3 -m venv .venv && . .venv/bin/activate", tmp_path, ran)
    assert (tmp_path / ".venv/bin/activate").is_file()
    run_documented(WRITE_WFLW_CONFIG, tmp_path, ran)
    written = (tmp_path / "finetune_wflw.yaml").read_text()
    assert "init_weights: kartiknarayan/facexformer" in written and "net.heads.landmarks" in written
    monkeypatch.chdir(tmp_path)  # the docs' next step edits it and runs `facexformer fit --config finetune_wflw.yaml`
    assert parse_only(["fit", "--config", "finetune_wflw.yaml"], monkeypatch) == 0
    assert_ran_the_group(FAST, ran)


def baseline_rows(stdout: str) -> dict[str, str]:
    """metric -> its row (model, baseline, ``yes``/``NO``) in the last table ``BaselineComparison`` printed."""
    rows = re.findall(r"^((test/\S+)\s+[-\d.e+]+\s+[-\d.e+]+\s+(?:yes|NO))\s*$", stdout, re.M)
    return {metric: row for row, metric in rows}


@pytest.mark.slow
def test_the_quickstart_and_the_commands_that_use_its_checkpoint(tmp_path):
    ran: list[tuple[str, float]] = []

    def run(text: str) -> subprocess.CompletedProcess:
        return run_documented(text, tmp_path, ran)

    fit = run("facexformer fit --config quickstart")
    checkpoint = tmp_path / CHECKPOINT
    assert checkpoint.is_file() and f"Checkpoint: {checkpoint}" in fit.stdout and "facexformer infer" in fit.stdout
    rows = baseline_rows(fit.stdout)
    assert len(rows) > 10, fit.stdout[-3000:]
    # checked last, so that the commands after it run whatever the table says
    behind = [row for m, row in rows.items() if row.endswith(" NO") and not m.startswith("test/parsing/f1_")]
    short_of_margin = margin_failures(comparison_rows(fit.stdout))
    logs = tmp_path / "runs/quickstart/version_0"
    for documented in ("config.yaml", "ced/test.csv", "ced/test.png"):
        assert (logs / documented).is_file(), documented
    assert list(logs.glob("events.out.tfevents.*"))

    run("facexformer fit --config quickstart --ckpt_path last")  # already at its last epoch: tests again
    assert len(baseline_rows(run(f"facexformer test --config quickstart --ckpt_path {CHECKPOINT}").stdout)) > 10

    (tmp_path / "pred.yaml").write_text(documented_yaml_files()["pred.yaml"])
    run(f"facexformer predict --config quickstart --config pred.yaml --ckpt_path {CHECKPOINT}")
    assert len(list((tmp_path / "runs/quickstart").glob("version_*/predictions/*.json"))) == 8

    shutil.copy(PHOTO, tmp_path / "photo.jpg")
    run(f"facexformer infer photo.jpg --checkpoint {CHECKPOINT} --out predictions")
    assert (tmp_path / "predictions/photo.json").is_file() and (tmp_path / "predictions/photo.overlay.png").is_file()

    run(f"facexformer export --checkpoint {CHECKPOINT} --format onnx --out model.onnx")
    shutil.copy(checkpoint, tmp_path / "model.ckpt")  # the README's name for a checkpoint
    run("facexformer export --checkpoint model.ckpt --format onnx --tasks landmarks --out landmarks.onnx")
    from facexformer import FaceXFormer  # the documented Python line that writes my_model/

    FaceXFormer.from_pretrained(str(checkpoint)).save_pretrained(str(tmp_path / "my_model"))
    run("facexformer export --checkpoint my_model/ --format torchscript --out facexformer.pt")
    for exported in ("model.onnx", "landmarks.onnx", "facexformer.pt"):
        assert (tmp_path / exported).stat().st_size > 0, exported

    started_from = checkpoint.read_bytes()
    run(FINETUNE_HEAD)
    assert checkpoint.read_bytes() == started_from  # the fine-tune writes into a folder of its own
    tuned = tmp_path / "runs/quickstart_head/version_0/checkpoints/last.ckpt"
    before = torch.load(checkpoint, weights_only=True, map_location="cpu")["state_dict"]
    after = torch.load(tuned, weights_only=True, map_location="cpu")["state_dict"]
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith("net.heads.landmarks.") for name in changed), sorted(changed)[:5]

    run("facexformer fit --config quickstart --trainer.logger WandbLogger")
    assert list((tmp_path / "runs/quickstart").glob("version_*/wandb/offline-run-*"))
    assert_ran_the_group(QUICKSTART, ran)
    claim = "the docs say every task beats its baseline after the full quickstart; not:"
    assert not behind, "\n".join([claim, *behind])
    assert not short_of_margin, "\n".join(
        ["docs/quickstart.md's margins (1/10 of the gap, 0.9x the error):", *short_of_margin]
    )


@pytest.mark.slow
def test_the_small_benchmarks_run_as_written(tmp_path):
    ran: list[tuple[str, float]] = []
    data = run_documented("facexformer benchmark data --samples 200 --workers 0 1 2", tmp_path, ran).stdout
    assert "DataModule, 2 workers, batches/s" in data
    assert "heatmap 56px + star" in run_documented("facexformer benchmark landmarks", tmp_path, ran).stdout
    assert_ran_the_group(BENCHMARKS, ran)
