"""``MultiTaskDataModule``: one dataset per task, balanced batches, augmentation on the device."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from facexformer.data.augment import AugmentOptions, FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace
from facexformer.data.sampler import BalancedTaskSampler, ShardSampler
from facexformer.data.worker_lifetime import end_with_parent_worker_init
from facexformer.tasks import TASKS, Task

STAGES = ("train", "val", "test", "predict")


class Transformed(Dataset):
    """``dataset`` with ``transform`` applied to each item."""

    def __init__(self, dataset: Dataset, transform: Callable[[dict], dict]):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return self.transform(self.dataset[index])


def record_image_size(sample: dict) -> dict:
    """``sample`` with ``image_size``: int64 (2,) = (width, height) of its image, taken before any crop."""
    height, width = sample["image"].shape[-2:]
    return {**sample, "image_size": torch.tensor([width, height])}


class EvaluationBatches(Sampler[list[int]]):
    """This process's evaluation batches (``ShardSampler``'s: batches ``rank, rank + world, ...`` of
    ``range(size)`` cut into ``batch_size``), or one empty batch when it has none.

    A process without a batch of an evaluation dataset (fewer batches than processes, or an empty dataset) then
    still runs the evaluation loop and its epoch end, where the metrics are synchronised, instead of skipping
    them while the others wait for it. ``collate_evaluation`` turns the empty batch into a batch of 0 images,
    which the model skips."""

    def __init__(self, size: int, batch_size: int, num_replicas: int | None = None, rank: int | None = None):
        self.shard, self.batch_size = ShardSampler(size, batch_size, num_replicas, rank), batch_size

    def __len__(self) -> int:
        return max(1, -(-len(self.shard) // self.batch_size))

    def __iter__(self):
        indices = list(self.shard)  # whole batches but the dataset's last: chunks are the shard's batches
        if not indices:
            yield []
        for start in range(0, len(indices), self.batch_size):
            yield indices[start : start + self.batch_size]


def collate_evaluation(samples: list[dict]) -> dict[str, Any]:
    """``collate_multitask``, and for no sample a batch of 0 images (uint8 (0, 3, 0, 0)) with no task."""
    if not samples:
        return {"image": torch.zeros(0, 3, 0, 0, dtype=torch.uint8), "task_mask": {}, "source": []}
    return collate_multitask(samples)


class SelectTasks(Dataset):
    """``dataset`` restricted to ``tasks``: other task names and their label keys are dropped from each item
    (e.g. train visibility from COFW without its 29 landmarks meeting the 68-point landmark task)."""

    def __init__(self, dataset: Dataset, tasks: Sequence[str]):
        self.dataset, self.tasks = dataset, tuple(tasks)
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise KeyError(f"SelectTasks: unknown task(s) {unknown}; known: {sorted(TASKS)}")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.dataset[index])
        for name in sample["tasks"]:
            if name not in self.tasks and name in TASKS:
                for key in TASKS[name].label_keys:
                    sample.pop(key, None)
        sample["tasks"] = tuple(t for t in sample["tasks"] if t in self.tasks)
        return sample


class MultiTaskDataModule(L.LightningDataModule):
    """Batches that mix tasks: each named dataset (usually one per task) gets a fixed share of every
    training batch; small datasets are upsampled by repetition (``BalancedTaskSampler``).

    Args:
        train, val, test, predict: ``{name: dataset}`` per stage (any map-style datasets returning the sample
            contract of ``facexformer.data.datasets.base``).
        batch_size: samples per batch (per process under DDP).
        proportions: ``{name: weight}`` of each training dataset in a batch (default equal).
        batches_per_epoch: training batches per epoch and process (default: the largest dataset once).
        tasks: ``{name: [task, ...]}``: train only these tasks from that dataset (others' labels dropped).
        crop: the face crop applied to every item (``None`` when items are already network-sized).
        crops: ``{name: CropFace or None}``: the crop (box source, margin, square, size, channel order) of
            the datasets with that name in any stage, in place of ``crop`` (None: no crop for that dataset).
        augment: ``FaceAugment`` settings for training (``AugmentOptions``, or a dict of its fields; ``None``
            disables augmentation).
        evaluate_separately: one validation/test loader per named dataset, so metrics are reported per
            dataset (``test/common/landmarks/nme``) instead of pooled (a single dataset keeps plain names).
        num_workers, seed: DataLoader workers and the sampler's seed.

    Validation, test and prediction loaders are plain sequential ones (every sample once, in order; under DDP
    each process takes every ``world_size``-th batch, none repeated; a process left without a validation or test
    batch gets one empty batch, so it takes part in the epoch end: ``EvaluationBatches``). Prediction samples also carry
    ``image_size`` (width, height of the image before the crop) for writing predictions in original pixels.

    Trainers must be built with ``use_distributed_sampler=False`` (the samplers shard for DDP themselves);
    the CLI sets it.

    Hand-over with the model: augmentation moves and flips labels by the rules of the model's configured tasks,
    which the datamodule receives through ``set_model_tasks``; ``FaceXFormer.setup`` calls it (and reads
    ``eval_names``), so with that module nothing is to be wired by hand. With another LightningModule,
    call ``datamodule.set_model_tasks(tasks)`` before ``fit``.
    """

    def __init__(
        self,
        train: Mapping[str, Dataset] | None = None,
        val: Mapping[str, Dataset] | None = None,
        test: Mapping[str, Dataset] | None = None,
        predict: Mapping[str, Dataset] | None = None,
        batch_size: int = 32,
        proportions: Mapping[str, float] | None = None,
        batches_per_epoch: int | None = None,
        tasks: Mapping[str, Sequence[str]] | None = None,
        crop: CropFace | None = None,
        crops: Mapping[str, CropFace | None] | None = None,
        augment: AugmentOptions | None = None,
        evaluate_separately: bool = False,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        self.datasets = {"train": train, "val": val, "test": test, "predict": predict}
        if proportions and train and set(proportions) - set(train):
            raise ValueError(f"proportions name datasets {sorted(set(proportions) - set(train))} not in train")
        self.batch_size, self.proportions, self.batches_per_epoch = batch_size, proportions, batches_per_epoch
        if batch_size < 1:
            raise ValueError(f"MultiTaskDataModule: batch_size must be at least 1, got {batch_size}")
        if isinstance(augment, Mapping):
            augment = AugmentOptions(**augment)
        self.tasks, self.crop, self.augment_options = tasks or {}, crop, augment
        self.crops = dict(crops or {})
        named = {name for stage in self.datasets.values() for name in (stage or {})}
        if set(self.crops) - named:
            raise ValueError(f"crops name datasets {sorted(set(self.crops) - named)} not given in any stage")
        self.num_workers, self.seed = num_workers, seed
        self.evaluate_separately = evaluate_separately
        self._augment: FaceAugment | None = None
        self._model_tasks: list[Task] | None = None
        self._trained = (0, 0)  # (epoch, training batches handed to the model in it): saved for mid-epoch resume
        self._resume: tuple[int, int] | None = None

    def set_model_tasks(self, tasks: Sequence[Task]) -> None:
        """The model's configured tasks, whose keypoint / mask keys and flip rules training augmentation
        follows (``FaceXFormer.setup`` hands them over)."""
        self._model_tasks = list(tasks)
        self._augment = None

    def stage_datasets(self, stage: str) -> dict[str, Dataset]:
        """``{name: dataset}`` of ``stage`` ("train", "val", "test", "predict") as its loaders read them: task
        selection (``tasks``) and crop applied, before collation and augmentation; ``{}`` when none was given."""
        if stage not in STAGES:
            raise ValueError(f"MultiTaskDataModule: unknown stage {stage!r}; known: {STAGES}")
        return {name: self._prepared(stage, name) for name in self.datasets[stage] or {}}

    def _prepared(self, stage: str, name: str) -> Dataset:
        dataset = self.datasets[stage][name]
        if name in self.tasks:
            dataset = SelectTasks(dataset, self.tasks[name])
        crop = self.crops.get(name, self.crop)
        if crop is not None:  # records the image size before the crop too
            return Transformed(dataset, crop)
        return Transformed(dataset, record_image_size) if stage == "predict" else dataset

    def eval_names(self, stage: str) -> list[str] | None:
        """Names of the separately evaluated datasets of ``stage`` ("val"/"test"), in loader order; None when
        the stage's datasets are pooled (``evaluate_separately`` off, or a single dataset)."""
        if stage not in ("val", "test") or not self.evaluate_separately or len(self.datasets[stage] or ()) < 2:
            return None
        return list(self.datasets[stage])

    def _concat(self, stage: str, only: str | None = None) -> tuple[ConcatDataset, list[str]]:
        named = self.datasets[stage]
        if not named:
            raise ValueError(f"MultiTaskDataModule: no {stage} datasets were given (argument '{stage}')")
        names = [name for name in named if only is None or name == only]
        return ConcatDataset([self._prepared(stage, name) for name in names]), names

    def _loader(self, stage: str, only: str | None = None) -> DataLoader:
        dataset, names = self._concat(stage, only)
        common = {
            "collate_fn": collate_multitask,
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
            "worker_init_fn": functools.partial(end_with_parent_worker_init, os.getpid()),  # a killed fit leaves none
        }
        if stage == "train":
            sizes = [len(d) for d in dataset.datasets]
            weights = [(self.proportions or {}).get(n, 1.0) for n in names]
            sampler = BalancedTaskSampler(
                sizes, self.batch_size, weights, num_batches=self.batches_per_epoch, seed=self.seed
            )
            if self._resume is not None:
                sampler.resume_at(*self._resume)
                self._resume = None
            return DataLoader(dataset, batch_sampler=sampler, **common)
        if stage == "predict":  # under DDP, this rank's share of whole batches
            return DataLoader(
                dataset, batch_size=self.batch_size, sampler=ShardSampler(len(dataset), self.batch_size), **common
            )
        common["collate_fn"] = collate_evaluation
        return DataLoader(dataset, batch_sampler=EvaluationBatches(len(dataset), self.batch_size), **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def _evaluation_loaders(self, stage: str) -> DataLoader | list[DataLoader]:
        names = self.eval_names(stage)
        return [self._loader(stage, name) for name in names] if names else self._loader(stage)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        """The validation loader(s); without validation datasets, none (``fit`` then skips validation)."""
        return self._evaluation_loaders("val") if self.datasets["val"] else []

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._evaluation_loaders("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def state_dict(self) -> dict[str, int]:
        """Where training is within its epoch, so a run resumed from a mid-epoch checkpoint continues with the
        next batch instead of restarting the epoch."""
        epoch, batches = self._trained
        return {"epoch": epoch, "batches_done": batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore :meth:`state_dict`; the next training loader skips the batches already trained on."""
        self._trained = (state["epoch"], state["batches_done"])
        self._resume = self._trained

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """uint8 images -> float [0, 1]; training batches are then augmented on the device.

        The augmentation of a training step depends only on the seed, the step and the rank: every rank draws
        its own augmentations, and a resumed run draws those of the uninterrupted one."""
        if not batch["image"].is_floating_point():
            batch["image"] = batch["image"].float() / 255
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return batch
        epoch, batches = self._trained
        self._trained = (trainer.current_epoch, batches + 1 if epoch == trainer.current_epoch else 1)
        if self.augment_options is not None:
            if self._augment is None:
                if self._model_tasks is None:
                    raise RuntimeError(
                        "MultiTaskDataModule(augment=...) needs the model's tasks to move and flip their labels: "
                        "FaceXFormer hands them over in its setup; with another LightningModule call "
                        "datamodule.set_model_tasks(tasks) before fit"
                    )
                self._augment = FaceAugment.from_options(self._model_tasks, self.augment_options)
            step = trainer.global_step * trainer.world_size + trainer.global_rank
            batch = self._augment(batch, seed=self.seed * 1_000_003 + step)
        return batch
