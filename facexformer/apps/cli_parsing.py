"""Parsing for the ``facexformer`` command: typed options -> jsonargparse parsers, task names as class paths,
and user mistakes reported in one or two lines (exit status 2) instead of a traceback.

Every command takes LightningCLI-style options (``--batch_size 8``, ``--config file.yaml``); the dashed
spellings of the first release (``--batch-size``, ``--no-overlay``, a bare ``--overwrite``, ``--tasks a b``)
are rewritten to those before parsing. ``--debug`` (or ``FACEXFORMER_DEBUG=1``) shows the full traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import jsonargparse
import jsonargparse._typehints as _jsonargparse_typehints
from lightning.pytorch.cli import LightningArgumentParser

from facexformer.tasks import TASKS, Task

Options = TypeVar("Options")
DEBUG_FLAG = "--debug"
DEBUG_HINT = f"{DEBUG_FLAG} or FACEXFORMER_DEBUG=1 shows the traceback"


class UserError(Exception):
    """A mistake in what the user gave (a path, name or value): the command reports it briefly and exits 2."""


_debug_flag_given = False


def debug_enabled(argv: list[str]) -> bool:
    """Whether ``--debug`` is in ``argv`` (removed from it in place; remembered for this command) or
    ``FACEXFORMER_DEBUG`` is set."""
    global _debug_flag_given
    _debug_flag_given = DEBUG_FLAG in argv
    while DEBUG_FLAG in argv:
        argv.remove(DEBUG_FLAG)
    return debug_requested()


def debug_requested() -> bool:
    """Whether the user asked for tracebacks (``--debug`` seen by ``debug_enabled``, or FACEXFORMER_DEBUG)."""
    return _debug_flag_given or os.environ.get("FACEXFORMER_DEBUG", "") not in ("", "0")


def report(prog: str, message: str, err: BaseException | None = None) -> NoReturn:
    """Print ``message`` as the command's error, with how to see more, and exit with status 2; in debug mode
    ``err`` (the exception behind the message) is raised instead."""
    if err is not None and debug_requested():
        raise err
    sys.stderr.write(f"{prog}: error: {message}\n({DEBUG_HINT}; `{prog} --help` lists the options)\n")
    raise SystemExit(2)


def root_cause(err: BaseException) -> BaseException:
    """The innermost exception of ``err``'s ``raise ... from`` chain (where the problem was found)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def describe(err: BaseException) -> str:
    """A user-facing message for ``err``: its root cause's text, without the repr quotes ``KeyError`` adds."""
    cause = root_cause(err)
    text = str(cause.args[0]) if isinstance(cause, KeyError) and cause.args else str(cause)
    return shorten(text) if "Parser key" in text or "Union subtypes" in text else text


#: lines of jsonargparse's messages that say which alternatives failed rather than what is wrong
_NOISE = re.compile(
    r"Expected a <class 'NoneType'>|Expected a None|^Given value|^Subtypes:|^Errors:|^Expected a path but"
)


def shorten(message: str) -> str:
    """jsonargparse's multi-line message -> the option it concerns and the most specific reason."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    keys = [m.group(1) for line in lines if (m := re.match(r'Parser key "([^"]+)"', line))]
    reasons = [line.lstrip("- ").strip() for line in lines if not line.startswith("Parser key")]
    reasons = [r for r in reasons if r and not _NOISE.search(r) and "Union subtypes" not in r]
    reasons = [r for r in reasons if not r.startswith("Problem with given class_path")] or reasons
    reason = reasons[0] if reasons else (lines[0] if lines else message)
    return f"--{keys[-1]}: {reason}" if keys else reason


class ShortErrors:
    """Parser mixin: a parse error prints one line naming the option and the problem, then exits 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not getattr(self, "exit_on_error", True):
            super().error(message, ex)  # type: ignore[misc]
        if debug_requested():
            raise UserError(message) from ex
        report(getattr(self, "prog", "facexformer").replace(" [options]", ""), shorten(message))


class CommandParser(ShortErrors, jsonargparse.ArgumentParser):
    """jsonargparse parser of ``infer``, ``export`` and ``benchmark``."""


class LightningCommandParser(ShortErrors, LightningArgumentParser):
    """LightningCLI's parser with short errors."""


# ------------------------------------------------------------------------------------------ task names
def _resolve_task_names(resolve: Callable[[Any, str], str]) -> Callable[[Any, str], str]:
    def resolve_class_path_by_name(cls: Any, name: str) -> str:
        bases = cls if isinstance(cls, tuple) else (cls,)
        wants_task = any(isinstance(b, type) and issubclass(b, Task) for b in bases)
        if wants_task and isinstance(name, str) and name in TASKS:
            task = TASKS[name]
            if any(isinstance(b, type) and issubclass(task, b) for b in bases):
                return f"{task.__module__}.{task.__qualname__}"
        path = resolve(cls, name)
        if wants_task and "." not in path:
            raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))} (or a class path)")
        return path

    resolve_class_path_by_name.resolves_task_names = True  # type: ignore[attr-defined]
    return resolve_class_path_by_name


def register_task_names() -> None:
    """Let a registered task name (``landmarks``) stand wherever a class path of a ``Task`` is accepted.

    jsonargparse resolves a bare class name (``Landmarks``) among the imported subclasses; task names are
    lower-case registry keys, so its resolver is wrapped to look them up in ``facexformer.tasks.TASKS`` first.
    """
    current = _jsonargparse_typehints.resolve_class_path_by_name
    if not getattr(current, "resolves_task_names", False):
        _jsonargparse_typehints.resolve_class_path_by_name = _resolve_task_names(current)


register_task_names()


# ------------------------------------------------------------------------------------ option dataclasses
def _field_types(options: type) -> dict[str, Any]:
    return typing.get_type_hints(options)


def _is_list(hint: Any) -> bool:
    args = [hint, *typing.get_args(hint)]
    return any(typing.get_origin(a) in (list, Sequence, tuple) or a in (list, tuple) for a in args)


def legacy_argv(argv: Sequence[str], options: type) -> list[str]:
    """Rewrite the first release's spellings for ``options`` (a dataclass) into jsonargparse's.

    ``--batch-size 8`` -> ``--batch_size 8``; bare ``--overwrite`` -> ``--overwrite=true``; ``--no-overlay`` ->
    ``--overlay=false``; ``--tasks a b,c`` -> ``--tasks=["a", "b", "c"]``.
    """
    hints = _field_types(options)
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--") or "=" in arg:
            out.append(arg)
            continue
        name = arg[2:].replace("-", "_")
        if name.startswith("no_") and hints.get(name[3:]) is bool:
            out.append(f"--{name[3:]}=false")
            continue
        if name not in hints:
            out.append(arg)
            continue
        hint = hints[name]
        if hint is bool and (i == len(args) or args[i].lower() not in ("true", "false", "yes", "no", "1", "0")):
            out.append(f"--{name}=true")
        elif _is_list(hint) and i < len(args) and not args[i].startswith("["):
            values = []
            while i < len(args) and not args[i].startswith("-"):
                values += [v for v in args[i].split(",") if v]
                i += 1
            out.append(f"--{name}={json.dumps(values)}")
        else:
            out.append(f"--{name}")
    return out


def options_parser(options: type, prog: str, description: str, positional: str | None = None) -> CommandParser:
    """A parser of ``options`` (a dataclass; field docs from its docstring) with ``--config``; the field
    named ``positional`` (a list) is taken from the positional arguments. Options that have a field named
    ``config`` give it that name instead of a file of options."""
    parser = CommandParser(prog=prog, description=description, env_prefix="FACEXFORMER", default_env=False)
    if "config" not in _field_types(options):
        parser.add_argument("--config", action=jsonargparse.ActionConfigFile, help="a YAML file of these options")
    if positional is not None:
        parser.add_argument(positional, nargs="*", type=str, help=_field_help(options, positional))
    parser.add_class_arguments(options, as_group=False, skip={positional} if positional else None)
    return parser


def _field_help(options: type, name: str) -> str | None:
    doc = options.__doc__ or ""
    match = re.search(rf"^\s*{name}:\s*(.+)$", doc, re.MULTILINE)
    return match.group(1) if match else None


def parse_options(
    options: type[Options], argv: Sequence[str], prog: str, description: str, positional: str | None = None
) -> Options:
    """``argv`` parsed into an ``options`` instance (a bad value exits with a one-line error, status 2)."""
    argv = list(argv)
    debug_enabled(argv)
    parser = options_parser(options, prog, description, positional)
    config = parser.parse_args(legacy_argv(argv, options))
    values = config.as_dict()
    values.pop("config", None)
    if positional is not None and not values.get(positional):
        report(prog, f"give at least one {positional.rstrip('s')} (see `{prog} --help`)")
    names = {f.name for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    return options(**{k: v for k, v in values.items() if k in names})
