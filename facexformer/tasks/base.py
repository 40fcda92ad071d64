"""The Task interface: everything task-specific lives in one object, so the model never branches on names."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.batch import Batch

#: every Task subclass with a ``name``, registered when its class is defined (so a new task is one new file)
TASKS: dict[str, type[Task]] = {}


class Task:
    """A face-analysis task: its tokens, head, labels, loss, metrics and flip behaviour.

    Subclasses set ``name`` (the output key and the batch key of its main label) and implement
    ``build_head``, ``build_loss``, ``build_metrics`` and ``loss``. A batch given to ``loss`` and
    ``update_metrics`` holds only the samples that have this task's labels (see ``facexformer/batch.py``).

    Constructor arguments must be JSON-able: ``to_config`` stores them so that Lightning checkpoints,
    ``save_pretrained`` directories and the CLI can rebuild the task. A task is a stateless configuration: the
    modules it builds (head, criterion) belong to the model, which passes the criterion back to the methods that
    need it (``loss``, and ``update_metrics`` / ``trivial_output`` for a criterion that holds trained parameters).
    """

    name: ClassVar[str]
    #: batch keys holding this task's labels
    label_keys: ClassVar[tuple[str, ...]] = ()
    #: label keys holding (N, 2) pixel coordinates, moved with the image by geometric augmentation
    keypoint_keys: ClassVar[tuple[str, ...]] = ()
    #: label keys holding (H, W) label maps, warped with the image (nearest) by geometric augmentation
    mask_keys: ClassVar[tuple[str, ...]] = ()
    #: whether in-plane rotation of the image keeps the labels valid (false for head pose)
    rotation_invariant: ClassVar[bool] = True
    #: released-checkpoint key prefix -> this task's prefix in ``FaceXFormerNet`` (tokens and head)
    official_prefixes: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            TASKS[cls.name] = cls

    def __init__(self, weight: float = 1.0):
        self.weight = weight
        self._init_args: dict[str, Any] = {"weight": weight}

    def remember(self, **init_args: Any) -> None:
        """Record constructor arguments for ``to_config`` (call from subclass ``__init__``)."""
        self._init_args.update(init_args)

    @property
    def num_tokens(self) -> int:
        """Learnable tokens this task adds to the decoder."""
        return 1

    def build_head(self, dim: int) -> nn.Module:
        """A module mapping (tokens (B, num_tokens, dim), face tokens (B, dim, h, w)) to the raw output."""
        raise NotImplementedError

    def build_loss(self) -> nn.Module:
        """The criterion module (it may hold parameters, e.g. class centres)."""
        raise NotImplementedError

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Scalar loss of the raw ``output`` against ``batch`` (only this task's samples)."""
        raise NotImplementedError

    def build_metrics(self) -> MetricCollection:
        """A fresh collection of this task's metrics (cloned per stage by the trainer)."""
        raise NotImplementedError

    def update_metrics(
        self, metrics: MetricCollection, output: torch.Tensor, batch: Batch, criterion: nn.Module | None = None
    ) -> None:
        """Feed one batch (only this task's samples) to ``metrics``; ``criterion`` is the model's module built by
        ``build_loss`` (unused by most tasks)."""
        metrics.update(output.detach(), batch[self.name])

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        """Relabel, in place, the samples of ``batch`` whose image was mirrored (``flipped`` (B,) bool).

        ``width`` is the image width in pixels. Spatial keys are already mirrored by the augmentation
        (x -> width - 1 - x, maps flipped left-right); tasks permute indices and swap left/right classes.
        """

    def trivial_output(self, batch: Batch, criterion: nn.Module | None = None) -> torch.Tensor:
        """The raw output (1, ...) of the best image-blind predictor fitted on ``batch``'s labels (a training
        sample of this task): the baseline a trained model must beat (mean shape, majority class...).
        ``criterion``: the model's ``build_loss`` module, for tasks whose outputs are scored against it."""
        raise NotImplementedError

    def decode(self, output: torch.Tensor, size: int = 224) -> Any:
        """Raw head output -> the user-facing prediction in the frame of the ``size``×``size`` network input."""
        return output

    def to_config(self) -> dict[str, Any]:
        """``{"class_path": ..., "init_args": ...}``, the form LightningCLI and checkpoints use."""
        cls = type(self)
        return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(self._init_args)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args.items())
        return f"{type(self).__name__}({args})"


def task_from_config(spec: Task | str | dict[str, Any]) -> Task:
    """A Task from an instance, a registered name (``"landmarks"``), a class path, or a config dict."""
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, str):
        spec = {"class_path": spec}
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise TypeError(f"a task is a Task, a name or a {{'class_path', 'init_args'}} dict, got {spec!r}")
    path, args = spec["class_path"], dict(spec.get("init_args") or {})
    by_path = {f"{c.__module__}.{c.__qualname__}": c for c in TASKS.values()}
    if path in TASKS:
        cls = TASKS[path]
    elif path in by_path:
        cls = by_path[path]
    elif "." in path:
        module_name, _, attr = path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), attr)
    else:
        by_class = {c.__name__: c for c in TASKS.values()}
        if path not in by_class:
            raise KeyError(f"unknown task {path!r}; known: {sorted(TASKS)} or a full class path")
        cls = by_class[path]
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"{path} is not a facexformer Task")
    return cls(**args)
