"""``facexformer fit|validate|test|predict --help`` served from a per-user cache of the rendered text.

LightningCLI builds its parser by importing Lightning and the model and reading their signatures (about 7 s);
the text it prints depends only on what is installed and on the terminal, so the first ``--help`` of each
command is rendered by the real parser and stored, and later ones print the stored text without importing
torch. The cache file's name is a hash (``help_key``) of everything the text depends on:

- this package's version and the content of its source files (``.py``, ``.yaml``);
- the installed distributions (the ``*.dist-info``/``*.egg-info``/``.pth`` names in the ``sys.path`` folders,
  which carry their versions: Lightning, jsonargparse, torch ...) and the Python version;
- the plugins: every entry point of the ``facexformer_*`` groups and the content of the packages declaring them
  outside this one (a plugin's task adds its class to the help);
- the terminal: its width (``COLUMNS`` or the terminal's, as argparse reads it), whether stdout is a terminal,
  and the environment variables that change argparse's, jsonargparse's or Lightning's output.

A file is stored with the SHA-256 of its text and is used only when that matches (a truncated or damaged file is
rendered again and rewritten); files are written atomically (a temporary file renamed into place), and only the
newest ``KEPT_FILES`` are kept. ``FACEXFORMER_NO_HELP_CACHE=1`` renders every time and stores nothing. The cache
folder is ``$XDG_CACHE_HOME/facexformer/help`` (``~/.cache/facexformer/help`` without it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import facexformer

#: the environment variable that turns the cache off
NO_CACHE_VARIABLE = "FACEXFORMER_NO_HELP_CACHE"
#: environment variables (names, or prefixes ending in ``_``) that can change the help's text
HELP_ENVIRONMENT = ("JSONARGPARSE_", "PL_", "LIGHTNING_", "FACEXFORMER_", "NO_COLOR", "FORCE_COLOR", "PYTHON_COLORS")
#: entry-point groups of plugin parts (``facexformer.plugins.registry.GROUPS``, not imported: it stays light)
PLUGIN_GROUPS = ("facexformer_tasks", "facexformer_backbones", "facexformer_datasets")
#: cache files kept (the newest); older ones are removed when a new one is written
KEPT_FILES = 32
#: first line of a cache file; the second is the SHA-256 of the text that follows
HEADER = "facexformer help cache 1"
_SOURCE_SUFFIXES = (".py", ".yaml")


def cache_enabled() -> bool:
    """Whether ``--help`` may be served from and stored in the cache (``FACEXFORMER_NO_HELP_CACHE`` unset or 0)."""
    return os.environ.get(NO_CACHE_VARIABLE, "") in ("", "0")


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/facexformer/help``, or ``~/.cache/facexformer/help``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facexformer" / "help"


def terminal_columns() -> int:
    """The width argparse formats help for (``COLUMNS``, else the terminal's, else 80)."""
    return shutil.get_terminal_size().columns


def installed_distributions() -> list[str]:
    """The sorted names of the distribution records and ``.pth`` files in the ``sys.path`` folders (a name
    carries its version, so an install, upgrade or removal changes the list; the folders' own paths do not
    count, so the working folder on ``sys.path`` of ``python -m facexformer`` changes nothing)."""
    found = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found += [n for n in names if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth"))]
    return sorted(found)


def declared_plugins() -> list[tuple[str, str, str, str]]:
    """(group, name, value, distribution) of every entry point of the ``PLUGIN_GROUPS``, sorted."""
    from importlib.metadata import entry_points

    found = []
    for group in PLUGIN_GROUPS:
        for ep in entry_points(group=group):
            package = ep.dist.name if ep.dist is not None else ""
            found.append((group, ep.name, ep.value, package))
    return sorted(found)


def source_digest(roots: Iterable[Path]) -> str:
    """SHA-256 of the paths and contents of the ``.py``/``.yaml`` files under ``roots`` (folders or files)."""
    digest = hashlib.sha256()
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES)
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(f"{path}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError as err:
                digest.update(f"unreadable: {err}".encode())
    return digest.hexdigest()


def plugin_sources(plugins: Iterable[tuple[str, str, str, str]]) -> list[Path]:
    """The folders (or single files) of the top-level packages the ``plugins`` name, found without importing
    them, this package excepted (its own sources are hashed anyway)."""
    own = Path(facexformer.__file__).parent
    roots: set[Path] = set()
    for _, _, value, _ in plugins:
        top = value.split(":")[0].split(".")[0].strip()
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        locations = list(spec.submodule_search_locations or ([spec.origin] if spec.origin else []))
        roots |= {Path(p) for p in locations if Path(p) != own and Path(p).exists()}
    return sorted(roots)


def help_environment() -> dict[str, str]:
    """The environment variables of ``HELP_ENVIRONMENT`` that are set (the cache switch left out)."""

    def counts(name: str) -> bool:
        return any(name == v or (v.endswith("_") and name.startswith(v)) for v in HELP_ENVIRONMENT)

    return {name: value for name, value in sorted(os.environ.items()) if name != NO_CACHE_VARIABLE and counts(name)}


def key_parts(command: str) -> dict[str, Any]:
    """Everything ``command``'s help text depends on (see the module docstring), as a JSON-able dict."""
    plugins = declared_plugins()
    return {
        "command": command,
        "facexformer": facexformer.__version__,
        "sources": source_digest([Path(facexformer.__file__).parent, *plugin_sources(plugins)]),
        "python": sys.version,
        "distributions": installed_distributions(),
        "plugins": plugins,
        "columns": terminal_columns(),
        "terminal": sys.stdout.isatty(),
        "environment": help_environment(),
    }


def help_key(command: str) -> str:
    """The cache file name of ``command``'s help now: a SHA-256 of ``key_parts(command)``."""
    text = json.dumps(key_parts(command), sort_keys=True)
    return f"{command}-{hashlib.sha256(text.encode()).hexdigest()[:32]}.txt"


def read_cached(path: Path) -> str | None:
    """The help text stored in ``path``, or None when it is missing, unreadable or damaged (its checksum)."""
    try:
        header, checksum, text = path.read_bytes().decode("utf-8").split("\n", 2)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if header != HEADER or checksum != hashlib.sha256(text.encode("utf-8")).hexdigest():
        return None
    return text


def write_cached(path: Path, text: str) -> None:
    """Store ``text`` at ``path`` atomically with its checksum; drop all but the newest ``KEPT_FILES`` files.
    A cache that cannot be written (a read-only home) is left as it is."""
    content = f"{HEADER}\n{hashlib.sha256(text.encode('utf-8')).hexdigest()}\n{text}".encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        files = sorted(path.parent.glob("*.txt"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEPT_FILES:]:
            old.unlink(missing_ok=True)
    except OSError:
        return


class _Recorder:
    """A text stream that writes through to ``stream`` and keeps a copy of what was written; everything else
    (``isatty``, ``fileno``, ``encoding`` ...) is ``stream``'s, so the renderer formats as for the real one."""

    def __init__(self, stream: Any):
        self.stream, self.parts = stream, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def print_help(command: str, render: Callable[[], object]) -> None:
    """Print ``command``'s help from the cache, or by calling ``render`` (which prints it to ``sys.stdout``
    and exits with ``SystemExit(0)``, as a parser's ``--help`` does) and storing what it printed. Ends with
    ``SystemExit`` (0 when the help was printed)."""
    if not cache_enabled():
        render()
        raise SystemExit(0)
    path = cache_folder() / help_key(command)
    text = read_cached(path)
    if text is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
        raise SystemExit(0)
    recorder = _Recorder(sys.stdout)
    sys.stdout = recorder
    try:
        render()
    except SystemExit as exit:
        if exit.code in (0, None) and recorder.parts:
            write_cached(path, "".join(recorder.parts))
        raise
    finally:
        sys.stdout = recorder.stream
    raise SystemExit(0)
