"""The one registry of plugin parts: entry points of the groups in ``GROUPS``, read once per process.

A package declares a part in its ``pyproject.toml``, e.g.::

    [project.entry-points."facexformer_tasks"]
    eye_colour = "my_package.eye_colour:EyeColour"

The entry point's name is the part's name (a task's ``name``); its value names the class. This package declares
its built-in tasks, backbone and dataset readers the same way. Declaring a part is also what lets a checkpoint
name its class: ``facexformer.io.class_paths`` allows the class paths declared here without a trust flag.
This module imports nothing of facexformer (the lowest layer), so every layer can ask it.
"""

from __future__ import annotations

import functools
import warnings
from importlib.metadata import EntryPoint, entry_points
from typing import Any

#: kind of part -> its entry-point group
GROUPS = {
    "tasks": "facexformer_tasks",  # name = the task's ``name`` -> a ``facexformer.tasks.Task`` subclass
    "backbones": "facexformer_backbones",  # name -> an ``nn.Module`` class satisfying ``model.backbone.Backbone``
    "datasets": "facexformer_datasets",  # name -> a ``facexformer.data.datasets.FaceDataset`` subclass
}
_OWN = "facexformer"


@functools.cache
def declared(kind: str) -> tuple[EntryPoint, ...]:
    """The entry points of ``GROUPS[kind]``: this package's first, in the order it declares them, then the
    other packages' sorted by (package, name). Read once; ``declared.cache_clear()`` re-reads them."""
    if kind not in GROUPS:
        raise KeyError(f"unknown kind of plugin part {kind!r}; kinds: {sorted(GROUPS)}")
    found = list(entry_points(group=GROUPS[kind]))
    own = [ep for ep in found if _package(ep) == _OWN]
    others = sorted((ep for ep in found if _package(ep) != _OWN), key=lambda ep: (_package(ep), ep.name))
    return (*own, *others)


def entry_class_path(entry: EntryPoint) -> str:
    """``"pkg.module:Class"`` -> ``"pkg.module.Class"``, the form configs and checkpoints write."""
    module, _, attribute = entry.value.partition(":")
    return f"{module}.{attribute.strip()}" if attribute else module


def declared_class_paths(kind: str | None = None) -> dict[str, str]:
    """Class path -> ``"<package> (<group> <name>)"`` of every declared part (of ``kind``, else of all kinds);
    nothing is imported."""
    kinds = [kind] if kind is not None else list(GROUPS)
    return {entry_class_path(ep): f"{_package(ep)} ({GROUPS[k]} {ep.name})" for k in kinds for ep in declared(k)}


def load_declared(kind: str) -> dict[str, Any]:
    """Name -> loaded object of every declared part of ``kind``. A part whose module fails to import, or that
    another package already declared under the same name, is left out with a warning naming its package."""
    loaded: dict[str, Any] = {}
    for ep in declared(kind):
        if ep.name in loaded:
            warnings.warn(
                f"{GROUPS[kind]} {ep.name!r} of {_package(ep)} ignored: that name is taken by {loaded[ep.name]!r}",
                stacklevel=2,
            )
            continue
        try:
            loaded[ep.name] = ep.load()
        except Exception as err:  # a broken plugin must not break the others
            warnings.warn(
                f"{GROUPS[kind]} {ep.name!r} of {_package(ep)} ({ep.value}) cannot be loaded and is ignored: "
                f"{type(err).__name__}: {err}",
                stacklevel=2,
            )
    return loaded


def _package(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return dist.name if dist is not None else "?"
