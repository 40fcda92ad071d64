"""Plugin parts found through entry points (``importlib.metadata``): the tasks, backbones and dataset readers
that installed packages declare, this package's own built-in ones included. See ``docs/plugins.md``.

Importing this package reads metadata only; ``facexformer.plugins.backbones`` (which imports the model layer)
installs the look-up of backbones by short name."""

from facexformer.plugins.registry import GROUPS, declared, declared_class_paths, entry_class_path, load_declared

__all__ = ["GROUPS", "declared", "declared_class_paths", "entry_class_path", "load_declared"]
