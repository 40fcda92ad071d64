"""One allow-list for every class path read from a file, checked before anything is imported or called.

A checkpoint's ``hyper_parameters``, a ``save_pretrained`` folder's ``config.json`` and a Hub folder name the
classes a model is rebuilt from (``backbone``, ``tasks``, ``crop``, Lightning's ``_class_path`` and
``_instantiator``, anything nested). Importing a named module runs its code and calling a named callable runs
it, so a file could run ``os.system``. Every ``class_path`` in such a config (at any depth), and every task
given by name, must be:

- declared by an installed package under an entry-point group of ``facexformer.plugins`` (this package's
  built-in tasks, backbone and dataset readers are declared the same way), or
- a task registered in this process (``facexformer.tasks.TASKS``: its name, class name or class path; a task
  class defined in code you imported registers itself), or
- as the ``backbone``'s class path, the short name of a declared backbone (``build_backbone`` resolves it among
  the declared ones only), or
- the model class itself (``MODEL_CLASS_PATHS``) or Lightning's own instantiator (``LIGHTNING_INSTANTIATOR``),

unless the caller trusts the file (``trusted=True`` in Python, ``--trust_checkpoint`` on every command line):
the same trust that opens a full pickle, since both let the file run code.

A backbone given as a bare name (``backbone: tiny_conv``) is no class path: ``build_backbone`` takes it as a timm
model or a declared backbone, nothing else. Importing this module installs that look-up of the declared
backbones (``facexformer.plugins.backbones``), so every path that reads a model file has it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from facexformer.io.errors import CheckpointError
from facexformer.plugins import GROUPS, declared_class_paths
from facexformer.plugins.backbones import backbone_names
from facexformer.tasks import TASKS

#: the LightningModule a checkpoint's ``_class_path`` may name
MODEL_CLASS_PATHS = ("facexformer.module.FaceXFormer", "facexformer.FaceXFormer")
#: what LightningCLI writes as ``_instantiator`` (``LightningModule.load_from_checkpoint`` imports and calls it)
LIGHTNING_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"
#: how a refusal says to allow a class path
HOW_TO_ALLOW = (
    "install the package that declares it (entry-point groups "
    + ", ".join(GROUPS.values())
    + ", see docs/plugins.md), or, if you trust the file, pass trusted=True (Python) or --trust_checkpoint "
    "(command line)"
)


def allowed_class_paths() -> set[str]:
    """Every class path (and task name) a file may name without trust; declared plugins are not imported, the
    registered tasks are (loading the declared ones)."""
    tasks = TASKS.values()
    return {
        *declared_class_paths(),
        *TASKS,
        *(f"{cls.__module__}.{cls.__qualname__}" for cls in tasks),
        *(cls.__name__ for cls in tasks),
        *MODEL_CLASS_PATHS,
    }


def check_class_paths(
    config: Mapping[str, Any] | None, path: str | Path, trusted: bool = False, skip: Collection[str] = ()
) -> None:
    """Raise ``CheckpointError`` (one line naming the file, the entry and how to allow it) at the first class
    path of ``config`` that the allow-list refuses; nothing is imported. ``trusted`` allows everything;
    ``skip``: top-level keys the caller replaces (their values are never used)."""
    if trusted or not config:
        return
    allowed: set[str] | None = None
    for where, class_path in class_path_entries(config, skip):
        if where == "_instantiator" and class_path == LIGHTNING_INSTANTIATOR:
            continue
        if where == "backbone" and class_path in backbone_names():
            continue
        if allowed is None:
            allowed = allowed_class_paths()
        if class_path not in allowed:
            raise CheckpointError(
                f"{path}: refusing {where} class path {class_path!r}: it is neither built in nor declared by an "
                f"installed package, and loading it could run code. To allow it, {HOW_TO_ALLOW}"
            )


def class_path_entries(config: Mapping[str, Any], skip: Collection[str] = ()) -> Iterator[tuple[str, str]]:
    """``(where, class path)`` of every class path in ``config``: each ``class_path`` value at any depth, the
    model's own ``_class_path``/``_instantiator`` (Lightning's keys), and each task of ``tasks`` given as a
    string (a name or a class path). ``where`` is the entry, e.g. ``backbone`` or ``tasks[1]``. A non-string
    class path is yielded as its repr."""
    for key, value in config.items():
        if key in skip:
            continue
        if key in ("class_path", "_class_path", "_instantiator"):
            yield str(key), value if isinstance(value, str) else repr(value)
        elif key == "tasks" and isinstance(value, list | tuple):
            for i, task in enumerate(value):
                if isinstance(task, str):
                    yield f"tasks[{i}]", task
                else:
                    yield from _nested(task, f"tasks[{i}]")
        else:
            yield from _nested(value, str(key))


def _nested(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "class_path":
                yield where, item if isinstance(item, str) else repr(item)
            else:
                yield from _nested(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _nested(item, f"{where}[{i}]")
