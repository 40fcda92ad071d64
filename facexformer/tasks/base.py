"""The Task interface: everything task-specific lives in one object, so the model never branches on names."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torchmetrics import MetricCollection

from facexformer.batch import Batch
from facexformer.geometry.crop import CropWindow
from facexformer.plugins import load_declared
from facexformer.tasks.drawing import Box, Overlay
from facexformer.tasks.label import Label


class TaskRegistry(MutableMapping[str, "type[Task]"]):
    """Task name -> class: every task installed packages declare under the entry-point group
    ``facexformer_tasks`` (this package's built-in ones included; loaded at the first look-up), and every
    ``Task`` subclass with a ``name`` defined in this process (registered by its class statement)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Task]] = {}
        self._loading = False
        self._loaded = False

    def register(self, cls: type[Task]) -> None:
        """Add ``cls`` under its ``name`` without loading the declared tasks (a class statement calls this)."""
        self._classes[cls.name] = cls

    def registered(self) -> dict[str, type[Task]]:
        """The tasks registered so far, without loading the declared ones."""
        return dict(self._classes)

    def _load(self) -> dict[str, type[Task]]:
        if not self._loaded and not self._loading:
            self._loading = True
            try:
                for name, cls in load_declared("tasks").items():
                    if not (isinstance(cls, type) and issubclass(cls, Task) and cls.__dict__.get("name") == name):
                        warnings.warn(
                            f"entry point facexformer_tasks {name!r} must name a Task subclass whose name is "
                            f"{name!r}, got {cls!r}",
                            stacklevel=2,
                        )
                self._loaded = True
            finally:
                self._loading = False
        return self._classes

    def __getitem__(self, name: str) -> type[Task]:
        return self._load()[name]

    def __setitem__(self, name: str, cls: type[Task]) -> None:
        self._classes[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"TaskRegistry({sorted(self._load())})"


#: every registered task by name (``TaskRegistry``): a new task is one file, declared by entry point
TASKS = TaskRegistry()


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
    #: this task's labels, declared once: key, kind, shape, dtype and fill value (``facexformer.tasks.label``)
    labels: ClassVar[tuple[Label, ...]] = ()
    #: batch keys holding this task's labels (derived from ``labels``)
    label_keys: ClassVar[tuple[str, ...]] = ()
    #: label keys holding (N, 2) pixel coordinates, moved with the image by the crop and geometric augmentation
    #: (derived from ``labels``: the ``keypoints`` ones)
    keypoint_keys: ClassVar[tuple[str, ...]] = ()
    #: label keys holding (H, W) label maps, cut and warped with the image (nearest) by the crop and geometric
    #: augmentation (derived from ``labels``: the ``mask`` ones)
    mask_keys: ClassVar[tuple[str, ...]] = ()
    #: whether in-plane rotation of the image keeps the labels valid (false for head pose)
    rotation_invariant: ClassVar[bool] = True
    #: released-checkpoint key prefix -> this task's prefix in ``FaceXFormerNet`` (tokens and head)
    released_prefixes: ClassVar[dict[str, str]] = {}

    #: whether ``update_metrics`` and ``trivial_output`` score outputs against the model's criterion (e.g. class
    #: centres learnt by the loss); the model then passes it as ``criterion=`` (see ``criterion_kwargs``)
    scores_with_criterion: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        by_hand = [attr for attr in ("label_keys", "keypoint_keys", "mask_keys") if attr in cls.__dict__]
        if "labels" in cls.__dict__:
            if by_hand:
                raise TypeError(f"{cls.__qualname__}: {by_hand} derive from `labels`; declare only `labels`")
            _derive_keys(cls)
        elif by_hand and cls.labels:
            raise TypeError(f"{cls.__qualname__} sets {by_hand} by hand but inherits `labels`; declare `labels`")
        if "name" in cls.__dict__:
            _check_label_clashes(cls)
            TASKS.register(cls)

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

    def update_metrics(self, metrics: MetricCollection, output: torch.Tensor, batch: Batch) -> None:
        """Feed one batch (only this task's samples) to ``metrics`` (a task with ``scores_with_criterion`` also
        gets ``criterion=``, the model's ``build_loss`` module)."""
        metrics.update(output.detach(), batch[self.name])

    def criterion_kwargs(self, criterion: nn.Module) -> dict[str, nn.Module]:
        """``{"criterion": criterion}`` for a task that ``scores_with_criterion``, else ``{}``: how the model and
        callbacks call ``update_metrics`` and ``trivial_output``, so most tasks never see the criterion."""
        return {"criterion": criterion} if self.scores_with_criterion else {}

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        """Relabel, in place, the samples of ``batch`` whose image was mirrored (``flipped`` (B,) bool).

        ``width`` is the image width in pixels. Spatial keys are already mirrored by the augmentation
        (x -> width - 1 - x, maps flipped left-right); tasks permute indices and swap left/right classes.
        """

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        """The raw output (1, ...) of the best image-blind predictor fitted on ``batch``'s labels (a training
        sample of this task): the baseline a trained model must beat (mean shape, majority class...). A task
        with ``scores_with_criterion`` also gets ``criterion=``."""
        raise NotImplementedError

    def decode(self, output: torch.Tensor, size: int = 224) -> Any:
        """Raw head output -> the user-facing prediction in the frame of the ``size``×``size`` network input."""
        return output

    # ------------------------------------------------------------------ prediction edges: photo, JSON, picture
    # ``to_photo`` needs the configured task; the value hooks below are class methods, so a prediction read
    # back from JSON can be written and drawn again without the model.

    def to_photo(self, output: torch.Tensor, crops: Sequence[CropWindow]) -> list[Any]:
        """Raw head output (B, ...) of B face crops -> one value per face in its photo's pixels.

        ``crops``: each face's ``CropWindow`` (``invert_points`` / ``paste_mask`` map crop-frame results back).
        Default: ``decode`` at the crops' size, row by row as JSON-able lists, numbers and dicts (for outputs
        with no image geometry, e.g. an embedding).
        """
        decoded = self.decode(output, crops[0].size if crops else 224)
        return [plain_row(decoded, i) for i in range(len(crops))]

    @classmethod
    def json_fields(cls) -> tuple[str, ...]:
        """Keys this task writes into a face's JSON record (``to_json``); default ``(name,)``."""
        return (cls.name,)

    @classmethod
    def to_json(cls, value: Any) -> dict[str, Any]:
        """A ``to_photo`` value -> the JSON-able fields of a face record (keys ``json_fields``)."""
        return {cls.name: value}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Any:
        """Inverse of ``to_json``: this task's value from a face record (its ``json_fields``)."""
        return record[cls.name]

    @classmethod
    def draw(cls, overlay: Overlay, value: Any, box: Box, reference: bool = False) -> None:
        """Mark a ``to_photo`` value of the face in ``box`` (x0, y0, x1, y1 pixels) on ``overlay``
        (``facexformer.tasks.drawing``); ``reference``: the value is a label, drawn in the label style.
        Default: nothing."""

    def reference(self, batch: Batch, index: int) -> Any | None:
        """Sample ``index``'s label of ``batch`` (a crop-frame batch) as a ``to_photo`` value of the crop, to
        draw beside the prediction; None when it has none or the task draws no labels (the default)."""
        return None

    def to_config(self) -> dict[str, Any]:
        """``{"class_path": ..., "init_args": ...}``, the form LightningCLI and checkpoints use."""
        cls = type(self)
        return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(self._init_args)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args.items())
        return f"{type(self).__name__}({args})"


def plain_row(decoded: Any, row: int) -> Any:
    """Row ``row`` of a decoded output (a tensor or a dict of them) as JSON-able lists and numbers."""
    if isinstance(decoded, dict):
        return {k: plain_row(v, row) for k, v in decoded.items()}
    if isinstance(decoded, torch.Tensor):
        return decoded[row].detach().cpu().tolist()
    return decoded


def _derive_keys(cls: type[Task]) -> None:
    keys = [label.key for label in cls.labels]
    if len(set(keys)) != len(keys):
        raise TypeError(f"{cls.__qualname__}: a label key is declared twice in {keys}")
    cls.label_keys = tuple(keys)
    cls.keypoint_keys = tuple(label.key for label in cls.labels if label.kind == "keypoints")
    cls.mask_keys = tuple(label.key for label in cls.labels if label.kind == "mask")


def _check_label_clashes(cls: type[Task]) -> None:
    """Two registered tasks may share a label key only if they declare it alike (one fill value per key)."""
    for other in TASKS.registered().values():
        if other.name == cls.name:
            continue
        theirs = {label.key: label for label in other.labels}
        for label in cls.labels:
            same = theirs.get(label.key)
            if same is not None and not same.agrees_with(label):
                raise TypeError(
                    f"{cls.__qualname__} declares label {label.key!r} as {label.describe()} (fill {label.fill}), "
                    f"but task {other.name!r} declares it as {same.describe()} (fill {same.fill})"
                )


def declared_labels() -> dict[str, Label]:
    """Every registered task's labels by key (a key shared by two tasks is declared alike by both)."""
    return {label.key: label for task in TASKS.values() for label in task.labels}


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
