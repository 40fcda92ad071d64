"""Per-stage, per-dataset metric bookkeeping: which metric collection a batch updates, the epoch-end compute and log.

Metrics of stage ``train``, ``val`` or ``test`` are logged as ``{stage}/{task}/{metric}``; with the evaluation
datasets scored separately (``MultiTaskDataModule(evaluate_separately=True)`` or ``set_names``), as
``{stage}/{dataset}/{task}/{metric}``. Evaluation losses are averaged by ``MeanMetric``s (``{prefix}/{task}/loss``
and ``{prefix}/loss``), synchronised once per epoch like the metrics.

Under DDP every process holds the same collections and takes the same collective steps in the same order at
the end of an epoch, whatever data it saw: one all-reduce of the update counts and face counts, then each
collection some process updated is computed (torchmetrics synchronises it); one that no process updated is
left out (no NaN, no collective). ``EpochResult`` rows keep the values with the number of faces scored, for
the tables ``facexformer.evaluation`` prints.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from facexformer.tasks import Task

EVALUATION_STAGES = ("val", "test")


@dataclass(frozen=True)
class EpochResult:
    """One synchronised scalar of an epoch: ``subset`` (the dataset name; ``""`` when pooled), ``task``,
    ``metric`` (the collection's key, e.g. ``nme``, ``mae_yaw``, ``f1_skin``), ``value`` as computed (fractions
    for NME/F1/accuracy, degrees, years), ``faces``: samples of that task scored on all processes, ``kind``: the
    class of the metric that computed it and ``settings``: its protocol settings (``SETTINGS`` attributes it has,
    as ``(name, value)`` pairs, e.g. ``(("normalization", "inter_ocular"), ("threshold", 0.08))``)."""

    subset: str
    task: str
    metric: str
    value: float
    faces: int
    kind: str = ""
    settings: tuple[tuple[str, Any], ...] = ()


#: metric attributes that say which protocol a value follows (recorded in ``EpochResult.settings``)
SETTINGS = ("normalization", "threshold", "rule", "min_precision", "ignore_background")


class StageMetrics(nn.Module):
    """Metric collections of each stage (pooled or per named evaluation dataset) and evaluation loss means.

    ``tasks``: the model's tasks (each builds its own ``MetricCollection``); ``protocols``: ``{task name: builder}``
    replacing a task's own collection by a benchmark's (``builder(task)`` -> a ``MetricCollection`` the task's
    ``update_metrics`` can feed, e.g. NME with both COFW normalisers). After an evaluation epoch,
    ``results[stage]`` holds its ``EpochResult`` rows and ``subsets[stage]`` the dataset names scored (``[""]``
    when pooled), empty ones included.
    """

    def __init__(
        self, tasks: Sequence[Task], protocols: Mapping[str, Callable[[Task], MetricCollection]] | None = None
    ):
        super().__init__()
        self.tasks, self.protocols = list(tasks), dict(protocols or {})
        # keyed by ``_key(prefix)``: a ModuleDict key may not be a Module attribute such as "train"
        self.by_prefix = nn.ModuleDict({_key(stage): self._build(stage) for stage in ("train", *EVALUATION_STAGES)})
        self.losses = nn.ModuleDict({_key(stage): self._build_losses() for stage in EVALUATION_STAGES})
        self.names: dict[str, list[str]] = {}
        self.faces: dict[str, dict[str, int]] = {}
        self.results: dict[str, list[EpochResult]] = {}
        self.subsets: dict[str, list[str]] = {}

    def _build(self, prefix: str) -> nn.ModuleDict:
        return nn.ModuleDict({t.name: self._collection(t).clone(prefix=f"{prefix}/{t.name}/") for t in self.tasks})

    def _collection(self, task: Task) -> MetricCollection:
        builder = self.protocols.get(task.name)
        return builder(task) if builder is not None else task.build_metrics()

    def _build_losses(self) -> nn.ModuleDict:
        """``{"tasks": {task: MeanMetric}, "total": MeanMetric}``: sample-weighted means of the losses."""
        # "disable": a non-finite loss makes the mean NaN instead of being dropped
        tasks = nn.ModuleDict({t.name: MeanMetric(nan_strategy="disable") for t in self.tasks})
        return nn.ModuleDict({"tasks": tasks, "total": MeanMetric(nan_strategy="disable")})

    def set_names(self, names: Mapping[str, Sequence[str]], device: torch.device | None = None) -> None:
        """``{"val" | "test": [dataset name per evaluation loader]}``; an empty list (or a stage left out) pools
        the loaders. Every collection is created now, so all processes hold the same ones in the same order."""
        unknown = set(names) - set(EVALUATION_STAGES)
        if unknown:
            raise ValueError(f"set_evaluation_names: stages are 'val' and 'test', got {sorted(unknown)}")
        for stage in EVALUATION_STAGES:
            self.names[stage] = list(names.get(stage) or ())
            for name in self.names[stage]:
                key = _key(f"{stage}/{name}")
                if key not in self.by_prefix:
                    self.by_prefix[key] = self._build(f"{stage}/{name}").to(device)
                    self.losses[key] = self._build_losses().to(device)

    def prefix(self, stage: str, dataloader_idx: int = 0) -> str:
        """``stage``, or ``stage/dataset`` of loader ``dataloader_idx`` when the datasets are named."""
        names = self.names.get(stage)
        if names and dataloader_idx >= len(names):
            raise ValueError(
                f"{stage} loader {dataloader_idx}: only {len(names)} {stage} loaders are named ({names}); give "
                "every loader a name with set_evaluation_names, or none to pool them"
            )
        return f"{stage}/{names[dataloader_idx]}" if names else stage

    def metrics(self, prefix: str) -> nn.ModuleDict:
        """``{task: MetricCollection}`` of a ``prefix`` (``stage`` or ``stage/dataset``)."""
        return self.by_prefix[_key(prefix)]

    def loss_means(self, prefix: str) -> nn.ModuleDict:
        """The evaluation loss means of ``prefix`` (see ``_build_losses``)."""
        return self.losses[_key(prefix)]

    def collections(self, stage: str) -> dict[str, nn.ModuleDict]:
        """``{prefix: {task: MetricCollection}}`` of ``stage``: one per named dataset, else the pooled one."""
        prefixes = [f"{stage}/{name}" for name in self.names.get(stage) or ()] or [stage]
        return {prefix: self.metrics(prefix) for prefix in prefixes}

    def count(self, prefix: str, task: str, faces: int) -> None:
        """Add ``faces`` samples of ``task`` scored under ``prefix`` on this process."""
        per_task = self.faces.setdefault(prefix, {})
        per_task[task] = per_task.get(task, 0) + faces

    def compute(
        self, stage: str, device: torch.device, reduce: Callable[[torch.Tensor], torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        """Compute every collection (and evaluation loss) of ``stage`` some process updated, reset them all, and
        return ``{log key: scalar}``; ``device``: the metrics' device; ``reduce`` sums a tensor over the
        processes (None: one process).

        Sets ``results[stage]`` and ``subsets[stage]``. Collective calls are the same on every process."""
        entries: list[tuple[str, str, str, Any]] = []  # (prefix, task or "", log name, metric)
        for prefix, group in self.collections(stage).items():
            entries += [(prefix, task, f"{prefix}/{task}", collection) for task, collection in group.items()]
            if stage != "train":
                means = self.loss_means(prefix)
                entries += [(prefix, task, f"{prefix}/{task}/loss", mean) for task, mean in means["tasks"].items()]
                entries.append((prefix, "", f"{prefix}/loss", means["total"]))
        counts = torch.tensor([_update_count(m) for *_, m in entries], dtype=torch.int64, device=device)
        faces = torch.tensor(
            [self.faces.get(prefix, {}).get(task, 0) for prefix, task, *_ in entries], dtype=torch.int64, device=device
        )
        both = torch.cat([counts, faces])
        if reduce is not None:
            both = reduce(both)
        counts, faces = both.tolist()[: len(entries)], both.tolist()[len(entries) :]
        logged: dict[str, torch.Tensor] = {}
        results: list[EpochResult] = []
        for (prefix, task, name, metric), count, scored in zip(entries, counts, faces, strict=True):
            if count > 0:
                with warnings.catch_warnings():
                    # this process may have seen no sample; the synchronised value covers the others'
                    warnings.filterwarnings("ignore", "The ``compute`` method of metric", UserWarning)
                    values = metric.compute()
                for key, value in _scalars(name, values):
                    logged[key] = value
                    if not isinstance(metric, MeanMetric):
                        key = key.removeprefix(f"{name}/")
                        results.append(_result(prefix, task, key, float(value), int(scored), metric))
            metric.reset()
        self.faces = {}
        self.results[stage] = results
        self.subsets[stage] = list(self.names.get(stage) or [""])
        return logged

    def log_epoch(self, module: L.LightningModule, stage: str) -> None:
        """Compute every collection of ``stage`` (``compute``, summing over the processes of the trainer
        ``module`` is attached to, if any), log the values with ``module.log`` and reset them. The values are
        synchronised already, so Lightning's advice to sync them is silenced for these keys."""
        trainer = getattr(module, "_trainer", None)
        reduce = None
        if trainer is not None and trainer.world_size > 1:
            reduce = partial(trainer.strategy.reduce, reduce_op="sum")
        warnings.filterwarnings("ignore", rf"It is recommended to use `self.log\('{stage}/", UserWarning)
        for key, value in self.compute(stage, module.device, reduce).items():
            module.log(key, value, sync_dist=False)


def _result(prefix: str, task: str, key: str, value: float, faces: int, collection: Any) -> EpochResult:
    """The ``EpochResult`` of ``key`` computed by ``collection``: its metric is the one of that name, or the
    collection's only one (a metric returning a dict of values, e.g. ``mae_yaw`` of ``PoseMAE``)."""
    members = dict(collection.items(keep_base=True))
    metric = members.get(key) or (next(iter(members.values())) if len(members) == 1 else None)
    settings = tuple((a, getattr(metric, a)) for a in SETTINGS if metric is not None and hasattr(metric, a))
    kind = type(metric).__name__ if metric is not None else ""
    return EpochResult(prefix.partition("/")[2], task, key, value, faces, kind, settings)


def _key(prefix: str) -> str:
    """The ModuleDict key of a log prefix (``val/common`` -> ``m_val__common``)."""
    return "m_" + prefix.replace("/", "__")


def _scalars(name: str, values: Any) -> list[tuple[str, torch.Tensor]]:
    """The one-element tensors of a computed metric (a tensor, or a possibly nested dict of them) by log key."""
    if not isinstance(values, dict):
        values = {name: values}
    out = []
    for key, value in values.items():
        out += [(f"{key}/{sub}", v) for sub, v in value.items()] if isinstance(value, dict) else [(key, value)]
    return [(k, v) for k, v in out if isinstance(v, torch.Tensor) and v.numel() == 1]


def _update_count(metric: Any) -> int:
    """How many times ``metric`` (a Metric or MetricCollection) was updated since its last reset."""
    if isinstance(metric, MeanMetric):
        return metric.update_count
    return max((m.update_count for m in metric.values()), default=0)
