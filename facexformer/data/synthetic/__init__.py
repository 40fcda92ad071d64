"""Procedurally rendered faces with labels for every task (no downloads): ``SyntheticFaces``."""

from facexformer.data.synthetic.dataset import RENDERERS, SyntheticFaces, renderable_tasks

__all__ = ["ALL_TASKS", "RENDERERS", "SyntheticFaces", "renderable_tasks"]


def __getattr__(name: str) -> tuple[str, ...]:
    """``ALL_TASKS``: ``renderable_tasks()`` at the time of asking (kept for older imports)."""
    if name == "ALL_TASKS":
        return renderable_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
