"""``facexformer fit|validate|test|predict --help`` from the help cache: the same text LightningCLI prints, a key
that changes with everything the text depends on, damaged files rendered again, and no torch on a hit."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import facexformer
from facexformer.apps import help_cache
from facexformer.apps.help_cache import (
    KEPT_FILES,
    NO_CACHE_VARIABLE,
    cache_folder,
    help_key,
    print_help,
    read_cached,
    source_digest,
    write_cached,
)

HEAVY = ("torch", "lightning", "timm", "facexformer.module")
#: a fresh interpreter runs ``facexformer ARGV`` (the console's path: ``main()`` reads ``sys.argv``), then prints
#: the exit status and the heavy modules it imported to stderr (the help alone is on stdout)
REPORT_IMPORTS = (
    "import sys\nfrom facexformer.apps.cli import main\n"
    "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
    f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    """An empty ``XDG_CACHE_HOME`` and the cache switched on, at a fixed width."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(NO_CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    return tmp_path / "cache"


def environment(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != NO_CACHE_VARIABLE}
    return {**env, "XDG_CACHE_HOME": str(cache), "COLUMNS": "100", **extra}


def facexformer_help(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", REPORT_IMPORTS, *argv], env=env, capture_output=True, text=True, timeout=600
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


class FakeRender:
    """A renderer that prints ``text`` and exits like a parser's ``--help``; counts its calls."""

    def __init__(self, text: str = "usage: facexformer fit [-h]\n\nTrain a model.\n", code: int = 0):
        self.text, self.code, self.calls = text, code, 0

    def __call__(self) -> None:
        self.calls += 1
        sys.stdout.write(self.text)
        raise SystemExit(self.code)


def printed(render: FakeRender, capsys: pytest.CaptureFixture, command: str = "fit") -> str:
    with pytest.raises(SystemExit) as exit_info:
        print_help(command, render)
    assert exit_info.value.code == render.code
    return capsys.readouterr().out


def test_a_cached_help_is_what_lightningcli_printed_and_needs_no_torch(tmp_path):
    """The first ``fit --help`` runs LightningCLI and stores its text; the next (``-h`` too) prints the same
    text without importing torch or Lightning, and a renderer bypassing the cache prints it as well."""
    cache = tmp_path / "cache"
    fresh = facexformer_help(environment(cache), "fit", "--help")
    assert last_line(fresh.stderr).startswith("0 [") and "'lightning'" in last_line(fresh.stderr), fresh.stderr
    assert "--trainer.max_epochs" in fresh.stdout and "--model.tasks" in fresh.stdout
    stored = list((cache / "facexformer" / "help").iterdir())
    assert [p.name.startswith("fit-") for p in stored] == [True]
    for flag in ("--help", "-h"):
        hit = facexformer_help(environment(cache), "fit", flag)
        assert last_line(hit.stderr) == "0 []", hit.stderr
        assert hit.stdout == fresh.stdout
    assert list((cache / "facexformer" / "help").iterdir()) == stored


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "test", "predict"])
def test_each_lightning_commands_cached_help_equals_an_uncached_one(command, tmp_path):
    cache = tmp_path / "cache"
    uncached = facexformer_help(environment(cache, **{NO_CACHE_VARIABLE: "1"}), command, "--help")
    assert not (cache / "facexformer").exists() and last_line(uncached.stderr).startswith("0 ["), uncached.stderr
    facexformer_help(environment(cache), command, "--help")
    hit = facexformer_help(environment(cache), command, "--help")
    assert last_line(hit.stderr) == "0 []", hit.stderr
    assert hit.stdout == uncached.stdout and f"facexformer [options] {command}" in hit.stdout


def test_the_key_changes_with_the_width_the_environment_and_the_version(cache_home, monkeypatch):
    key = help_key("fit")
    assert help_key("fit") == key and help_key("test") != key
    monkeypatch.setenv("COLUMNS", "60")
    assert help_key("fit") != key
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")  # the help then names each option's variable
    assert help_key("fit") != key
    monkeypatch.delenv("JSONARGPARSE_DEFAULT_ENV")
    version = facexformer.__version__
    monkeypatch.setattr(facexformer, "__version__", "999")
    assert help_key("fit") != key
    monkeypatch.setattr(facexformer, "__version__", version)
    assert help_key("fit") == key


def write_plugin(site: Path, version: str, task_doc: str) -> Path:
    """An installed plugin distribution in ``site`` declaring one task; returns its task file."""
    package = site / "eye_plugin"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(f'class EyeColour:\n    """{task_doc}"""\n')
    for old in site.glob("eye_plugin-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    record = site / f"eye_plugin-{version}.dist-info"
    record.mkdir()
    (record / "METADATA").write_text(f"Metadata-Version: 2.1\nName: eye-plugin\nVersion: {version}\n")
    (record / "entry_points.txt").write_text("[facexformer_tasks]\neye_colour = eye_plugin.task:EyeColour\n")
    return package / "task.py"


def test_the_key_changes_when_a_plugin_is_installed_upgraded_or_edited(cache_home, tmp_path, monkeypatch):
    before = help_key("fit")
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert help_key("fit") == before  # an empty folder on the path changes nothing
    task_file = write_plugin(site, "1.0", "Eye colour.")
    installed = help_key("fit")
    assert installed != before
    assert (
        "facexformer_tasks",
        "eye_colour",
        "eye_plugin.task:EyeColour",
        "eye-plugin",
    ) in help_cache.declared_plugins()
    task_file.write_text('class EyeColour:\n    """Eye colour, in five classes."""\n')  # an editable plugin edited
    edited = help_key("fit")
    assert edited != installed
    write_plugin(site, "1.1", "Eye colour, in five classes.")
    assert help_key("fit") not in (before, installed, edited)


def test_an_upgraded_dependency_changes_the_key(cache_home, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "lightning-2.6.6.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    before = help_key("fit")
    (site / "lightning-2.6.6.dist-info").rename(site / "lightning-2.7.0.dist-info")
    assert help_key("fit") != before


def test_the_source_digest_changes_with_any_source_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "c.yaml").write_text("a: 1\n")
    digest = source_digest([tmp_path / "pkg"])
    (tmp_path / "pkg" / "notes.txt").write_text("not source")
    assert source_digest([tmp_path / "pkg"]) == digest
    (tmp_path / "pkg" / "c.yaml").write_text("a: 2\n")
    changed = source_digest([tmp_path / "pkg"])
    assert changed != digest
    (tmp_path / "pkg" / "b.py").write_text("")
    assert source_digest([tmp_path / "pkg"]) not in (digest, changed)


def test_a_miss_renders_and_stores_then_a_hit_prints_the_stored_text(cache_home, capsys):
    render = FakeRender()
    assert printed(render, capsys) == render.text and render.calls == 1
    assert read_cached(cache_folder() / help_key("fit")) == render.text
    assert printed(render, capsys) == render.text and render.calls == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) - 5],  # cut short
        lambda data: data.replace(b"Train", b"Trian"),  # a changed byte
        lambda data: b"",  # empty
        lambda data: b"\xff\xfe" + data,  # not UTF-8
        lambda data: data.split(b"\n", 1)[1],  # no header
    ],
    ids=["truncated", "changed", "empty", "not utf-8", "no header"],
)
def test_a_damaged_cache_file_is_ignored_and_rewritten(damage, cache_home, capsys):
    render = FakeRender()
    printed(render, capsys)
    path = cache_folder() / help_key("fit")
    path.write_bytes(damage(path.read_bytes()))
    assert read_cached(path) is None
    assert printed(render, capsys) == render.text and render.calls == 2
    assert read_cached(path) == render.text


def test_the_switch_renders_every_time_and_stores_nothing(cache_home, capsys, monkeypatch):
    monkeypatch.setenv(NO_CACHE_VARIABLE, "1")
    render = FakeRender()
    assert printed(render, capsys) == render.text and printed(render, capsys) == render.text
    assert render.calls == 2 and not cache_home.exists()


def test_a_failed_render_stores_nothing(cache_home, capsys):
    render = FakeRender("error: something\n", code=2)
    printed(render, capsys)
    assert not cache_home.exists() or not list(cache_folder().iterdir())


def test_an_unwritable_cache_still_prints_the_help(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    monkeypatch.delenv(NO_CACHE_VARIABLE, raising=False)
    render = FakeRender()
    assert printed(render, capsys) == render.text and printed(render, capsys) == render.text
    assert render.calls == 2


def test_only_the_newest_files_are_kept(tmp_path):
    for i in range(KEPT_FILES + 3):
        path = tmp_path / f"fit-{i:03}.txt"
        write_cached(path, f"help {i}\n")
        os.utime(path, (i, i))
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == KEPT_FILES and kept[0] == "fit-003.txt"
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_recorder_passes_the_text_and_the_terminal_through(cache_home, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    seen = []

    def render() -> None:
        seen.append(sys.stdout.isatty())
        sys.stdout.write("usage: facexformer fit\n")
        raise SystemExit(0)

    monkeypatch.setattr(sys, "stdout", terminal)
    with pytest.raises(SystemExit):
        print_help("fit", render)
    assert seen == [True] and terminal.getvalue() == "usage: facexformer fit\n" and sys.stdout is terminal
