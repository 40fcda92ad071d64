"""``PaperTable``: after a test, print the results table once, in the papers' form, instead of Lightning's."""

from __future__ import annotations

import lightning as L

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.evaluation.benchmarks import BENCHMARKS
from facexformer.evaluation.protocol import Benchmark, identify
from facexformer.evaluation.table import TableRow, build_rows, format_table


class PaperTable(L.Callback):
    """At the end of ``test``, build the table of the model's synchronised test results
    (``FaceXFormer.stage_metrics.results["test"]``) and print it on the first process.

    ``benchmark``: the registered benchmark whose published numbers go beside ours; None: the one whose reader
    read the ``MultiTaskDataModule``'s test datasets, if any (``facexformer.evaluation.protocol.identify``).
    ``checkpoint``: the name written in the rows. The rows stay in ``self.rows``.
    """

    def __init__(self, benchmark: str | None = None, checkpoint: str = ""):
        if benchmark is not None and benchmark not in BENCHMARKS:
            raise ValueError(f"PaperTable: unknown benchmark {benchmark!r}; known: {sorted(BENCHMARKS)}")
        self.benchmark, self.checkpoint = benchmark, checkpoint
        self.rows: list[TableRow] = []

    def _benchmark(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Benchmark | None:
        if self.benchmark is not None:
            return BENCHMARKS[self.benchmark]
        datamodule = trainer.datamodule
        if not isinstance(datamodule, MultiTaskDataModule):
            return None
        return identify(datamodule.datasets["test"] or {}, pl_module.task_names)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        stage_metrics = getattr(pl_module, "stage_metrics", None)
        if stage_metrics is None or "test" not in stage_metrics.results:
            return
        benchmark = self._benchmark(trainer, pl_module)
        self.rows = build_rows(stage_metrics.results["test"], stage_metrics.subsets["test"], benchmark, self.checkpoint)
        if trainer.is_global_zero:
            title = f"{benchmark.title}: " if benchmark is not None else ""
            print(f"\n{title}test results ({len(self.rows)} rows)\n{format_table(self.rows)}\n")
