"""Training on hostile labels: missing points are masked, a non-finite loss stops the fit with a clear error,
tasks without samples are warned about, undecodable images are skipped, counted and logged."""

from __future__ import annotations

import math
import warnings

import lightning as L
import pytest
import torch
from torch.utils.data import Dataset

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.module import FaceXFormer
from facexformer.training.nonfinite_loss import NonFiniteLossError
from facexformer.training.task_coverage import WarnUntrainedTasks
from tests.robustness.hostile import READERS, assert_clear

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


class Poisoned(Dataset):
    """``SyntheticFaces`` whose items ``changes`` edits (in place), with a ``source`` naming the edit."""

    def __init__(self, count: int, tasks: list[str], changes: dict, seed: int = 0):
        self.faces = SyntheticFaces(count, 64, seed=seed, tasks=tasks, cache=True)
        self.changes = changes

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict:
        sample = {key: (value.clone() if torch.is_tensor(value) else value) for key, value in self.faces[index].items()}
        if index in self.changes:
            self.changes[index](sample)
            sample["source"] = f"poisoned[{index}]"
        return sample


class StepLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def _trainer(**kwargs) -> L.Trainer:
    options = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    return L.Trainer(use_distributed_sampler=False, accelerator="cpu", **{**options, **kwargs})


def _all_nan(sample: dict) -> None:
    sample["landmarks"][:] = math.nan


def _some_nan(sample: dict) -> None:
    sample["landmarks"][10:30] = math.nan


def _one_inf(sample: dict) -> None:
    sample["landmarks"][5, 0] = math.inf


LANDMARK_LOSSES = [
    ("regression", "wing"),
    ("regression", "smoothl1"),
    ("regression", "l1"),
    ("heatmap", "star"),
    ("heatmap", "awing"),
    ("heatmap", "l2"),
]


@pytest.mark.parametrize(("head", "loss"), LANDMARK_LOSSES)
def test_missing_landmarks_are_masked_in_training(head, loss):
    """NaN rows (all points, some points) and an inf point: every step loss and every weight stays finite."""
    torch.manual_seed(0)
    task = {"class_path": "facexformer.tasks.Landmarks", "init_args": {"head": head, "loss": loss}}
    model = FaceXFormer(tasks=[task], **TINY)
    data = Poisoned(8, ["landmarks"], {0: _all_nan, 1: _some_nan, 2: _one_inf})
    val = Poisoned(4, ["landmarks"], {0: _some_nan}, seed=2)
    steps = StepLosses()
    trainer = _trainer(max_steps=4, callbacks=[steps], limit_val_batches=1)
    trainer.fit(model, MultiTaskDataModule(train={"poisoned": data}, val={"v": val}, batch_size=4, augment={}))
    assert len(steps.losses) == 4 and all(math.isfinite(value) for value in steps.losses), steps.losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(float(trainer.callback_metrics["val/landmarks/nme"]))
    assert float(trainer.callback_metrics["val/landmarks/nonfinite"]) == 0


def _nan_pose(sample: dict) -> None:
    sample["headpose"][1] = math.nan  # no loss masks a missing head pose


def test_a_non_finite_loss_stops_the_fit_naming_task_and_source():
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "headpose"], **TINY)
    data = Poisoned(8, ["landmarks", "headpose"], {5: _nan_pose})
    trainer = _trainer(max_epochs=1)
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.fit(model, MultiTaskDataModule(train={"p": data}, batch_size=4, augment={}))
    assert_clear(caught.value, "task 'headpose'", "(non-finite labels in: poisoned[5])", "global step")
    assert all(torch.isfinite(p).all() for p in model.parameters())  # stopped before the backward pass


def test_the_stop_can_be_turned_off():
    model = FaceXFormer(tasks=["landmarks", "headpose"], stop_on_nonfinite_loss=False, **TINY)
    data = Poisoned(8, ["landmarks", "headpose"], {5: _nan_pose})
    trainer = _trainer(max_steps=2)
    trainer.fit(model, MultiTaskDataModule(train={"p": data}, batch_size=4, augment={}))
    assert trainer.global_step == 2


def test_a_configured_task_without_data_is_warned_about_once():
    model = FaceXFormer(tasks=["landmarks", "gender"], **TINY)
    data = Poisoned(4, ["landmarks"], {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _trainer(max_epochs=2).fit(model, MultiTaskDataModule(train={"p": data}, batch_size=4, augment={}))
    about = [w for w in caught if "received no training sample" in str(w.message)]
    assert len(about) == 1 and str(about[0].message).startswith("task(s) ['gender'] received no training sample")


def test_a_task_absent_from_one_whole_epoch_is_warned_about():
    class Module:
        tasks = [type("T", (), {"name": "landmarks"})(), type("T", (), {"name": "gender"})()]

    class Trainer:
        current_epoch = 0

    check, trainer = WarnUntrainedTasks(), Trainer()
    both = {"task_mask": {"landmarks": torch.tensor([True]), "gender": torch.tensor([True])}}
    only = {"task_mask": {"landmarks": torch.tensor([True, True]), "gender": torch.tensor([False, False])}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch, batch in enumerate([both, only, only]):
            trainer.current_epoch = epoch
            check.on_train_epoch_start(trainer, Module)
            check.on_train_batch_start(trainer, Module, batch, 0)
            check.on_train_epoch_end(trainer, Module)
    messages = [str(w.message) for w in caught if "received no training sample" in str(w.message)]
    assert len(messages) == 1 and "in epoch 1" in messages[0] and "'gender'" in messages[0]


def test_degenerate_validation_ground_truth_does_not_abort_the_fit():
    def zero_eye_distance(sample: dict) -> None:
        sample["landmarks"][45] = sample["landmarks"][36]

    model = FaceXFormer(tasks=["landmarks"], **TINY)
    val = Poisoned(4, ["landmarks"], {1: zero_eye_distance}, seed=2)
    trainer = _trainer(max_steps=1, limit_val_batches=1)
    dm = MultiTaskDataModule(train={"p": Poisoned(4, ["landmarks"], {})}, val={"v": val}, batch_size=4, augment={})
    trainer.fit(model, dm)
    assert float(trainer.callback_metrics["val/landmarks/degenerate"]) == 1
    assert math.isfinite(float(trainer.callback_metrics["val/landmarks/nme"]))


def test_undecodable_training_images_are_skipped_counted_and_logged(tmp_path):
    built = READERS["UTKFace"](tmp_path / "utk")
    built.images[1].write_bytes(b"")
    model = FaceXFormer(tasks=["gender", "race"], **TINY)
    dm = MultiTaskDataModule(train={"utk": built.open(skip_invalid=True)}, batch_size=3, augment={})
    trainer = _trainer(max_epochs=1)
    with pytest.warns(UserWarning, match=r"utk \(train\): \d+ sample\(s\) failed to load"):
        trainer.fit(model, dm)
    assert float(trainer.callback_metrics["data/skipped/train/utk"]) >= 1
