"""Plugin parts found through entry points (``importlib.metadata``): the tasks, backbones and dataset readers
that installed packages declare, this package's own built-in ones included. See ``docs/plugins.md``."""

from facexformer.plugins.registry import GROUPS, declared, declared_class_paths, entry_class_path, load_declared

__all__ = ["GROUPS", "declared", "declared_class_paths", "entry_class_path", "load_declared"]
