"""Parsing for the ``facexformer`` command: typed options -> jsonargparse parsers, task names as class paths,
and user mistakes reported in one or two lines (exit status 2) instead of a traceback.

Every command takes LightningCLI-style options (``--batch_size 8``, ``--config file.yaml``); the dashed
spellings of the first release (``--batch-size``, ``--no-overlay``, a bare ``--overwrite``, ``--tasks a b``)
are rewritten to those before parsing. ``--debug`` (or ``FACEXFORMER_DEBUG=1``) shows the full traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import sys
import typing
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

import jsonargparse
import yaml

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
        message = message + suggestions(message, option_names(self))
        if debug_requested():
            raise UserError(message) from ex
        report(getattr(self, "prog", "facexformer").replace(" [options]", ""), shorten(message))


#: options of older Lightning releases -> what replaced them
REPLACED_OPTIONS = {
    "gpus": "--trainer.accelerator gpu --trainer.devices N",
    "tpu_cores": "--trainer.accelerator tpu --trainer.devices N",
    "auto_select_gpus": "--trainer.devices auto",
    "resume_from_checkpoint": "--ckpt_path FILE",
}


def option_names(parser: Any) -> list[str]:
    """The ``--options`` of an argparse/jsonargparse ``parser`` and of its subcommands' parsers."""
    names: list[str] = []
    for action in getattr(parser, "_actions", []):  # argparse's list of the parser's arguments
        names += [name for name in action.option_strings if name.startswith("--")]
        choices = action.choices if isinstance(getattr(action, "choices", None), dict) else {}
        for sub in choices.values():
            if hasattr(sub, "_actions"):
                names += option_names(sub)
    return names


def suggestions(message: str, known: Sequence[str]) -> str:
    """For each ``--option`` that ``message`` calls unrecognized, the known option it is most likely a typo of
    (or what replaced it in Lightning), as text to append to the message ("" when there is none)."""
    if "nrecognized arguments" not in message:
        return ""
    hints = []
    for option in re.findall(r"(--[\w.+-]+)", message.split("rguments:", 1)[-1]):
        name = option.split(".")[-1]
        if name in REPLACED_OPTIONS:
            hints.append(f"{option} is gone from Lightning; use {REPLACED_OPTIONS[name]}")
        elif close := difflib.get_close_matches(option, known, n=1, cutoff=0.8):
            hints.append(f"did you mean {close[0]} (instead of {option})?")
    return "; " + "; ".join(hints) if hints else ""


# ------------------------------------------------------------------------------------------ task names
def task_class_path(name: str, where: str = "--model.tasks") -> str:
    """A task name (``landmarks``) -> its class path; a class path or a ``Task`` subclass's class name (which
    jsonargparse resolves itself) is returned unchanged. ``where`` names the option or file in the error."""
    from facexformer.tasks import TASKS, Task

    if "." in name:
        return name
    if name in TASKS:
        task = TASKS[name]
        return f"{task.__module__}.{task.__qualname__}"
    if name in _task_class_names(Task):
        return name
    raise UserError(f"{where}: unknown task {name!r}; known: {', '.join(sorted(TASKS))} (or a class path)")


def _task_class_names(base: type) -> set[str]:
    names = set()
    for sub in base.__subclasses__():
        names |= {sub.__name__} | _task_class_names(sub)
    return names


def _with_task_class_paths(tasks: Any, where: str) -> Any:
    """``model.tasks`` as given (a list of names or ``{class_path, init_args}``, or one of them for ``+=``) with
    each task name replaced by its class path."""
    if isinstance(tasks, str):
        return task_class_path(tasks, where)
    if isinstance(tasks, dict) and isinstance(tasks.get("class_path"), str):
        return {**tasks, "class_path": task_class_path(tasks["class_path"], where)}
    if isinstance(tasks, list):
        return [_with_task_class_paths(task, where) for task in tasks]
    return tasks


def with_task_class_paths(config: Any, where: str) -> Any:
    """``config`` (a dict as loaded from YAML) with the task names under every ``model: {tasks: ...}`` replaced
    by class paths, so that jsonargparse resolves them like any class path."""
    if isinstance(config, dict):
        out = {key: with_task_class_paths(value, where) for key, value in config.items()}
        model = out.get("model")
        if isinstance(model, dict) and "tasks" in model:
            out["model"] = {**model, "tasks": _with_task_class_paths(model["tasks"], f"{where}: model.tasks")}
        return out
    return config


#: options whose value is the model's task list (``+=`` appends one task)
_TASK_OPTIONS = ("--model.tasks", "--model.tasks+", "--model.init_args.tasks", "--model.tasks.help")


def argv_with_task_class_paths(argv: Sequence[str]) -> list[str]:
    """``argv`` with the task names given to ``--model.tasks`` (``=``, ``+=`` or a separate value) or inside a
    ``--model`` value replaced by class paths."""
    out = list(argv)
    for i, arg in enumerate(out):
        option, equals, value = arg.partition("=")
        if option in (*_TASK_OPTIONS, "--model") and not equals and i + 1 < len(out):
            out[i + 1] = _task_value(option, out[i + 1])
        elif option in (*_TASK_OPTIONS, "--model") and equals:
            out[i] = f"{option}={_task_value(option, value)}"
    return out


def _task_value(option: str, value: str) -> str:
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        return value  # jsonargparse reports it
    if option == "--model":
        changed = with_task_class_paths({"model": loaded}, "--model")["model"]
    else:
        changed = _with_task_class_paths(loaded, option.rstrip("+").removesuffix(".help"))
    if changed == loaded:
        return value
    return changed if isinstance(changed, str) else json.dumps(changed)


class TaskNames:
    """Parser mixin: a registered task name (``landmarks``) stands wherever the model takes a task class path,
    on the command line (``--model.tasks``), in config files and in a checkpoint's hyperparameters. The names
    are replaced by class paths before jsonargparse parses them, through its public ``parse_*`` methods."""

    def parse_args(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        args = argv_with_task_class_paths(sys.argv[1:] if args is None else args)
        return super().parse_args(args, *rest, **kwargs)  # type: ignore[misc]

    def parse_object(self, *args: Any, **kwargs: Any) -> Any:
        # the first argument is ``obj`` (``cfg_obj`` before jsonargparse 4.40)
        args, kwargs = _replaced_first(args, kwargs, ("obj", "cfg_obj"), _object_with_class_paths)
        return super().parse_object(*args, **kwargs)  # type: ignore[misc]

    def parse_string(self, *args: Any, **kwargs: Any) -> Any:
        # the first argument is ``content`` (``cfg_str`` before jsonargparse 4.40), the second the file's path
        path = args[1] if len(args) > 1 else kwargs.get("path", kwargs.get("cfg_path", ""))
        args, kwargs = _replaced_first(
            args, kwargs, ("content", "cfg_str"), lambda text: _yaml_with_class_paths(text, path)
        )
        return super().parse_string(*args, **kwargs)  # type: ignore[misc]


def _replaced_first(
    args: tuple, kwargs: dict[str, Any], names: tuple[str, ...], replace: Any
) -> tuple[tuple, dict[str, Any]]:
    """``args``/``kwargs`` of a ``parse_*`` call with its first argument (positional or one of ``names``)
    passed through ``replace``."""
    if args:
        return (replace(args[0]), *args[1:]), kwargs
    for name in names:
        if name in kwargs:
            return args, {**kwargs, name: replace(kwargs[name])}
    return args, kwargs


def _object_with_class_paths(obj: Any) -> Any:
    return with_task_class_paths(obj, "the checkpoint's hyperparameters") if isinstance(obj, dict) else obj


def _yaml_with_class_paths(text: str, path: str | os.PathLike) -> str:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # jsonargparse reports it
    if not isinstance(loaded, dict):
        return text
    changed = with_task_class_paths(loaded, str(path) or "--config")
    return text if changed == loaded else yaml.safe_dump(changed, sort_keys=False)


class CommandParser(ShortErrors, jsonargparse.ArgumentParser):
    """jsonargparse parser of ``infer``, ``export`` and ``benchmark``."""


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
