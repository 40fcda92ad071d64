"""Metric collections the benchmark protocols score, each fed by its task's ``update_metrics``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torchmetrics import MetricCollection

from facexformer.metrics.landmarks import AUC, NME, DegenerateTargets, FailureRate, NonFinitePredictions
from facexformer.metrics.pose import PoseMAE
from facexformer.tasks import Task

Builder = Callable[[Task], MetricCollection]


def landmark_metrics(normalizations: Sequence[str], threshold: float | None) -> Builder:
    """NME under each of ``normalizations`` (the first also gives FR and AUC at ``threshold``, when given)
    for the model's landmark task (its point count), with the counts of non-finite and degenerate faces."""

    def build(task: Task) -> MetricCollection:
        points = task.num_points
        metrics = {f"nme_{n}": NME(normalization=n, num_landmarks=points) for n in normalizations}
        first = {"normalization": normalizations[0], "num_landmarks": points}
        if threshold is not None:
            metrics["fr"] = FailureRate(threshold=threshold, **first)
            metrics["auc"] = AUC(threshold=threshold, **first)
        metrics["nonfinite"] = NonFinitePredictions(**first)
        metrics["degenerate"] = DegenerateTargets(**first)
        return MetricCollection(metrics, compute_groups=True)

    return build


def pose_metrics(rule: str = "plain") -> Builder:
    """``PoseMAE`` with the difference ``rule`` (``facexformer.metrics.pose``)."""
    return lambda task: MetricCollection({"mae": PoseMAE(rule=rule)})


def own_metrics(task: Task) -> MetricCollection:
    """The task's own collection (accuracies, age MAE, parsing F1, recall at precision)."""
    return task.build_metrics()
