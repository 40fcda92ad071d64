"""Procedurally rendered faces with labels for every task (no downloads): ``SyntheticFaces``."""

from facexformer.data.synthetic.dataset import ALL_TASKS, RENDERERS, SyntheticFaces, renderable_tasks

__all__ = ["ALL_TASKS", "RENDERERS", "SyntheticFaces", "renderable_tasks"]
