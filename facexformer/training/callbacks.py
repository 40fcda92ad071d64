"""Callbacks: test metrics next to image-blind baselines; CED curves of the landmark tests; the next step after
``fit`` (where the checkpoint is, how to predict with it)."""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from facexformer.batch import select_samples
from facexformer.data.collate import collate_multitask
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.io.atomic import write_atomically
from facexformer.metrics.landmarks import NME, ced_curve
from facexformer.training.image_logging import ced_picture, log_image, write_png
from facexformer.training.run_files import free_folder, run_directory


class BaselineComparison(L.Callback):
    """At test time, also score each task's trivial predictor (``Task.trivial_output``: the mean shape, the
    majority class, ...) fitted on ``num_samples`` training samples, and print model vs baseline per metric.

    The training samples come from the ``MultiTaskDataModule``'s ``stage_datasets("train")`` (task selection and
    crop applied, so the baseline lives in the frame of the test batches); with another datamodule there is no
    baseline. Results are kept in ``self.results``: ``{metric: (model, baseline, higher_is_better)}``.
    """

    def __init__(self, num_samples: int = 256):
        self.num_samples = num_samples
        self.results: dict[str, tuple[float, float, bool]] = {}

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.metrics = nn.ModuleDict()
        labels = self._training_labels(trainer)
        for task in pl_module.tasks:
            mask = labels.get("task_mask", {}).get(task.name)
            if mask is None or not mask.any():
                continue
            sub = select_samples(labels, mask)
            try:
                self.outputs[task.name] = task.trivial_output(
                    sub, **task.criterion_kwargs(pl_module.criteria[task.name])
                ).to(pl_module.device)
            except NotImplementedError:
                continue
            self.metrics[task.name] = task.build_metrics().clone(prefix=f"test/{task.name}/").to(pl_module.device)

    def _training_labels(self, trainer: L.Trainer) -> dict[str, Any]:
        datamodule = trainer.datamodule
        datasets = datamodule.stage_datasets("train") if isinstance(datamodule, MultiTaskDataModule) else {}
        if not datasets:
            return {}
        samples = []
        per_dataset = max(1, self.num_samples // len(datasets))
        for dataset in datasets.values():
            step = max(1, len(dataset) // per_dataset)
            samples += [dataset[i] for i in range(0, len(dataset), step)][:per_dataset]
        batch = collate_multitask(samples)
        if not batch["image"].is_floating_point():
            batch["image"] = batch["image"].float() / 255
        return batch

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        masks = batch.get("task_mask", {})
        for name, constant in self.outputs.items():
            mask = masks.get(name)
            if mask is None or not mask.any():
                continue
            sub = select_samples(batch, mask)
            output = constant.expand(int(mask.sum()), *constant.shape[1:])
            task = pl_module.task(name)
            task.update_metrics(self.metrics[name], output, sub, **task.criterion_kwargs(pl_module.criteria[name]))

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logged = trainer.callback_metrics
        for collection in self.metrics.values():
            if not updated_on_any_process(trainer, max(m.update_count for m in collection.values())):
                continue
            better = {f"{collection.prefix}{k}": m.higher_is_better for k, m in collection.items(keep_base=True)}
            with warnings.catch_warnings():  # this process may have seen no sample; the synchronised value has all
                warnings.filterwarnings("ignore", "The ``compute`` method of metric", UserWarning)
                values = collection.compute()
            for key, value in values.items():
                if key in logged and torch.as_tensor(value).numel() == 1:
                    direction = next((b for prefix, b in better.items() if key.startswith(prefix)), None)
                    if direction is not None:  # diagnostics (e.g. counts of skipped images) are not scores
                        self.results[key] = (float(logged[key]), float(value), direction)
        if trainer.is_global_zero and self.results:
            print("\n" + format_comparison(self.results))


def updated_on_any_process(trainer: L.Trainer, update_count: int) -> bool:
    """Whether any process updated a metric (this one ``update_count`` times): the same answer on every process,
    so all of them take the same branch and join the same synchronisation, whatever data each saw."""
    count = torch.tensor(update_count, device=trainer.strategy.root_device)
    return int(trainer.strategy.reduce(count, reduce_op="sum")) > 0


def format_comparison(results: dict[str, tuple[float, float, bool]]) -> str:
    """A text table: metric, model, trivial baseline, and whether the model is better."""
    width = max(len(k) for k in results) + 2
    lines = [f"{'metric':<{width}}{'model':>12}{'baseline':>12}  better", "-" * (width + 32)]
    for key, (model, baseline, higher) in sorted(results.items()):
        wins = model > baseline if higher else model < baseline
        lines.append(f"{key:<{width}}{model:>12.4f}{baseline:>12.4f}  {'yes' if wins else 'NO'}")
    return "\n".join(lines)


class SaveCED(L.Callback):
    """After testing, write each landmark test set's cumulative error distribution (STAR's CED: fraction of
    images with NME <= x, x in steps of 1e-4 up to the task's threshold) to ``<folder>/<set>.csv`` and, when
    matplotlib is installed, ``<folder>/<set>.png`` with AUC and failure rate annotated; the picture also goes
    to TensorBoard / W&B as ``test/ced/<set>``.

    ``dirpath``: the folder; None: ``ced`` in the run's own folder (``facexformer.training.run_files.run_directory``),
    or ``ced_1``, ``ced_2``, ... when it already holds files (e.g. a second test in the same folder). A
    ``dirpath`` you name must not hold CSV files unless ``overwrite`` is true; that is checked when the run
    starts, not after it.
    """

    def __init__(self, dirpath: str | None = None, task: str = "landmarks", overwrite: bool = False):
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.task, self.overwrite = task, overwrite
        self.curves: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.folder: Path | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.folder = None
        if self.dirpath is not None and not self.overwrite and any(self.dirpath.glob("*.csv")):
            raise FileExistsError(
                f"SaveCED: {self.dirpath} already holds CED files; choose another dirpath or set overwrite: true"
            )

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.task not in pl_module.task_names:
            return
        threshold = pl_module.task(self.task).threshold
        for prefix, group in pl_module.metric_collections("test").items():
            nme = next(m for m in group[self.task].values() if isinstance(m, NME))  # the first NME of the protocol
            if not updated_on_any_process(trainer, nme.update_count):
                continue
            errors = nme.gathered_per_image()
            name = prefix.removeprefix("test").strip("/") or "test"
            self.curves[name] = ced_curve(errors, threshold)
            if trainer.is_global_zero:
                self._write(trainer, name, errors.cpu(), threshold, f"NME ({nme.normalization})")

    def _target(self, trainer: L.Trainer) -> Path:
        if self.folder is None:
            self.folder = self.dirpath or free_folder(run_directory(trainer) / "ced")
        return self.folder

    def _write(self, trainer: L.Trainer, name: str, errors: torch.Tensor, threshold: float, xlabel: str) -> None:
        folder = self._target(trainer)
        x, y = self.curves[name]
        rows = "\n".join(f"{a:.4f},{b:.6f}" for a, b in zip(x.tolist(), y.tolist(), strict=True))
        write_atomically(folder / f"{name}.csv", lambda tmp: tmp.write_text(f"nme,fraction\n{rows}\n"), self.overwrite)
        try:
            picture = ced_picture(errors, threshold, xlabel)
        except ModuleNotFoundError:  # matplotlib is optional: the CSV is the result
            return
        write_png(folder / f"{name}.png", picture, self.overwrite)
        log_image(trainer, f"test/ced/{name}", picture, to_files=False)


#: the command ``PrintNextStep`` suggests; ``{checkpoint}`` is replaced by the shell-quoted checkpoint path
PREDICT_COMMAND = "facexformer infer path/to/photo.jpg --checkpoint {checkpoint} --out predictions"


class PrintNextStep(L.Callback):
    """At the end of ``fit`` print, once, where this run's checkpoint is and the command that predicts on a photo
    with it. ``after_test``: a test follows in the same process (``--test_after_fit``), so the hint waits for the
    end of that test and is the last thing on the screen."""

    def __init__(self, after_test: bool = False) -> None:
        self.after_test = after_test
        self.message: str | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.message = next_step_message(trainer)
        if not self.after_test:
            self._print(trainer)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "test" and self.after_test:
            self._print(trainer)

    def _print(self, trainer: L.Trainer) -> None:
        if self.message is not None and trainer.is_global_zero:
            print("\n" + self.message)
        self.message = None


def next_step_message(trainer: L.Trainer) -> str:
    """Where the last (or best) checkpoint of ``trainer`` is and the ``infer`` command that uses it."""
    callback = trainer.checkpoint_callback
    path = (getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")) if callback else ""
    if not path:
        return "No checkpoint was saved (checkpointing is off); add a ModelCheckpoint callback to keep the weights."
    command = PREDICT_COMMAND.format(checkpoint=shlex.quote(str(path)))
    return f"Checkpoint: {path}\nPredict on a photo with it:\n  {command}"
