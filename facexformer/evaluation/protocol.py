"""A benchmark protocol as one declarative object: its subsets (readers), the metrics it scores, the face crop's
box source and the published numbers with their sources. ``facexformer evaluate``, ``facexformer test`` and
``fit``'s test phase print the same table from it (``facexformer.evaluation.table``).

A new benchmark is one small file in ``facexformer/evaluation/benchmarks/`` that calls ``register``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset
from torchmetrics import MetricCollection

from facexformer.data.datamodule import SelectTasks
from facexformer.tasks import Task

#: the FaceXFormer paper the published numbers come from
PAPER = "arXiv 2403.12960v3"


@dataclass(frozen=True)
class Published:
    """A number from a paper, in the table's unit: ``value``, ``method`` (who got it) and ``source`` (paper and
    table); ``role``: "paper" (FaceXFormer's own) or "specialist" (the strongest single-task method compared)."""

    value: float
    method: str
    source: str
    role: str = "paper"

    def to_dict(self) -> dict[str, object]:
        return {"value": self.value, "method": self.method, "source": self.source, "role": self.role}


@dataclass(frozen=True)
class Benchmark:
    """One protocol. ``reader``: the dataset class its subsets are read with; ``subsets``: ``{name:
    reader(root) -> Dataset}`` in table order; ``metrics``: ``{task name:
    builder(task) -> MetricCollection}``, the metrics scored for each task the benchmark carries (fed by the task's
    ``update_metrics``); ``shown``: ``{task name: collection keys}`` printed for that task (default all);
    ``box``: where the face crop's box comes from (``CropFace``'s ``box``); ``published``:
    ``{(subset, metric name as the table writes it): (Published, ...)}``; ``source``, ``layout``,
    ``definition``: the protocol's source, its download layout and its definition, for the docs and the table."""

    name: str
    title: str
    reader: type[Dataset]
    subsets: Mapping[str, Callable[[Path], Dataset]]
    metrics: Mapping[str, Callable[[Task], MetricCollection]]
    definition: str
    source: str
    layout: str
    box: str = "box"
    shown: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    published: Mapping[tuple[str, str], tuple[Published, ...]] = field(default_factory=dict)

    def datasets(self, root: str | Path) -> dict[str, Dataset]:
        """``{subset: dataset}`` read from ``root`` as downloaded (a missing file raises, naming it), each sample
        keeping only the labels of the tasks this benchmark scores."""
        return {name: SelectTasks(reader(Path(root)), list(self.metrics)) for name, reader in self.subsets.items()}

    def shows(self, task: str, key: str) -> bool:
        """Whether the table prints ``task``'s metric ``key`` (a collection key, e.g. ``mae``)."""
        return task in self.metrics and (task not in self.shown or key in self.shown[task])


def identify(datasets: Mapping[str, Dataset], tasks: Sequence[str]) -> Benchmark | None:
    """The registered benchmark whose reader read every one of ``datasets`` (``{subset: dataset}``, possibly
    wrapped by ``SelectTasks`` or a crop), under subset names it has, and which scores one of ``tasks``."""
    for benchmark in BENCHMARKS.values():
        readers = [_unwrapped(d) for d in datasets.values()]
        if (
            datasets
            and set(datasets) <= set(benchmark.subsets)
            and all(isinstance(d, benchmark.reader) for d in readers)
            and set(benchmark.metrics) & set(tasks)
        ):
            return benchmark
    return None


def _unwrapped(dataset: Dataset) -> Dataset:
    while hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return dataset


#: every registered benchmark by name
BENCHMARKS: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    """Add ``benchmark`` to ``BENCHMARKS`` (a name registered twice is refused)."""
    if benchmark.name in BENCHMARKS:
        raise ValueError(f"benchmark {benchmark.name!r} is registered twice")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark
