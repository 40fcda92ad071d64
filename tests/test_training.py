"""Training behaviour of FaceXFormer: mixed-task losses, head-only fine-tuning, loggers."""

import lightning as L
import pytest
import torch

from facexformer import FaceXFormer
from facexformer.batch import select_samples
from facexformer.data import MultiTaskDataModule, SelectTasks, SyntheticFaces, collate_multitask
from facexformer.tasks import RELEASED_TASKS, Landmarks


def quiet_trainer(**kwargs) -> L.Trainer:
    """A CPU Trainer without logging, checkpoints or progress bars (the datamodule's sampler shards itself)."""
    options = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    return L.Trainer(use_distributed_sampler=False, **{**options, **kwargs})


def mixed_batch(tasks_per_sample):
    """A collated batch of synthetic faces where sample i keeps only the labels of ``tasks_per_sample[i]``."""
    faces = SyntheticFaces(len(tasks_per_sample), 64, seed=0, tasks=["landmarks", "gender", "parsing"])
    samples = [SelectTasks(faces, tasks)[i] for i, tasks in enumerate(tasks_per_sample)]
    batch = collate_multitask(samples)
    batch["image"] = batch["image"].float() / 255
    return batch


def test_each_task_loss_uses_only_its_samples(tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=[Landmarks(weight=2.0), "gender", "parsing"], **tiny_kwargs).eval()
    batch = mixed_batch([("landmarks",), ("gender",), ("landmarks", "gender"), ("gender",)])
    assert "parsing" not in batch["task_mask"]
    total = model.step(batch, "val")
    assert torch.isfinite(total)
    with torch.no_grad():
        out = model(model.normalize(batch["image"]))
    expected = 0.0
    for name, weight in (("landmarks", 2.0), ("gender", 1.0)):
        mask = batch["task_mask"][name]
        sub = select_samples(batch, mask)
        expected += weight * model.task(name).loss(model.criteria[name], out[name][mask], sub)
    torch.testing.assert_close(total, expected, rtol=1e-4, atol=1e-5)


def test_absent_task_still_touches_its_head(tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks", "parsing"], **tiny_kwargs)
    batch = mixed_batch([("landmarks",), ("landmarks",)])
    model.step(batch, "train").backward()
    grads = [p.grad for p in model.net.heads["parsing"].parameters()]
    assert all(g is not None and torch.count_nonzero(g) == 0 for g in grads)


@pytest.mark.parametrize("backbone", ["test_convnext", "resnet18"])
def test_head_only_fine_tuning_keeps_everything_else_bit_identical(tmp_path, tiny_kwargs, backbone):
    source = FaceXFormer(**{**tiny_kwargs, "backbone": backbone})
    source.save_pretrained(tmp_path / "released")
    model = FaceXFormer(
        tasks=[Landmarks(num_points=68), "headpose", "attributes", "visibility", "age", "gender", "race", "parsing"],
        init_weights=str(tmp_path / "released"),
        trainable=["net.heads.landmarks"],
        lr=1e-2,
        **{**tiny_kwargs, "backbone": backbone},
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(before[f"net.{k}"], v) for k, v in source.net.state_dict().items())
    dm = MultiTaskDataModule(train={"s": SyntheticFaces(16, 64, seed=1)}, batch_size=4, augment={})
    trainer = quiet_trainer(max_steps=3, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("net.heads.landmarks.") for k in changed), sorted(changed)[:5]


def test_new_point_count_replaces_only_the_landmark_head(tmp_path, tiny_kwargs):
    source = FaceXFormer(**tiny_kwargs)
    source.save_pretrained(tmp_path / "released")
    model = FaceXFormer(
        tasks=[Landmarks(num_points=98), "headpose", "attributes", "visibility", "age", "gender", "race", "parsing"],
        init_weights=str(tmp_path / "released"),
        **tiny_kwargs,
    )
    fresh = {k for k, v in model.net.state_dict().items() if not torch.equal(v, source.net.state_dict()[k])}
    assert fresh == {"heads.landmarks.mlp.layers.2.weight", "heads.landmarks.mlp.layers.2.bias"}


def test_wandb_logger_works_offline(tmp_path, tiny_kwargs, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="facexformer-test", save_dir=str(tmp_path), offline=True)
    dm = MultiTaskDataModule(train={"s": SyntheticFaces(8, 64)}, val={"s": SyntheticFaces(4, 64, seed=2)}, batch_size=4)
    trainer = quiet_trainer(max_steps=2, logger=logger, limit_val_batches=1)
    trainer.fit(FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs), dm)
    assert list((tmp_path / "wandb").glob("offline-run-*"))


def test_metrics_per_dataset_when_evaluated_separately(tiny_kwargs):
    test = {"common": SyntheticFaces(4, 64, seed=5), "challenge": SyntheticFaces(3, 64, seed=6)}
    dm = MultiTaskDataModule(test=test, batch_size=4, evaluate_separately=True)
    trainer = quiet_trainer()
    results = trainer.test(FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs), dm, verbose=False)
    keys = set().union(*results)
    assert {"test/common/landmarks/nme", "test/challenge/landmarks/nme", "test/challenge/gender/accuracy"} <= keys


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_training_steps(tiny_kwargs, precision):
    dm = MultiTaskDataModule(train={"s": SyntheticFaces(8, 64)}, batch_size=4, augment={})
    model = FaceXFormer(tasks=["landmarks", "parsing", "gender"], **tiny_kwargs)
    try:
        trainer = quiet_trainer(max_steps=2, precision=precision)
    except (ValueError, RuntimeError) as err:  # e.g. 16-mixed where the hardware lacks it
        pytest.skip(f"{precision} unavailable here: {err}")
    trainer.fit(model, dm)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("released_tokens", [None, RELEASED_TASKS])
def test_fine_tuning_a_new_task_on_a_released_model(tmp_path, tiny_kwargs, released_tokens):
    """released mode: training a new task's tokens and head leaves the released outputs bit-identical, and the
    released token set survives Lightning checkpoints and save_pretrained. Without it the outputs move."""
    torch.manual_seed(0)
    model = FaceXFormer(
        tasks=[*RELEASED_TASKS, "expression"],
        released_tokens=released_tokens,
        trainable=["net.heads.expression", "net.tokens.expression"],
        lr=1e-1,
        **tiny_kwargs,
    )
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model.eval()(images, tasks=RELEASED_TASKS)
    tokens_before = model.net.tokens["expression"].weight.detach().clone()
    dm = MultiTaskDataModule(train={"s": SyntheticFaces(8, 64, seed=1)}, batch_size=4, augment={})
    trainer = quiet_trainer(max_steps=2, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    assert not torch.equal(model.net.tokens["expression"].weight, tokens_before)
    trainer.save_checkpoint(tmp_path / "fine_tuned.ckpt")
    model.save_pretrained(tmp_path / "fine_tuned")
    for loaded in (
        model,
        FaceXFormer.from_pretrained(tmp_path / "fine_tuned.ckpt"),
        FaceXFormer.from_pretrained(tmp_path / "fine_tuned"),
    ):
        with torch.no_grad():
            after = loaded.eval()(images, tasks=RELEASED_TASKS)
        unchanged = all(torch.equal(after[name], before[name]) for name in RELEASED_TASKS)
        assert unchanged == (released_tokens is not None)
        assert loaded.hparams.released_tokens == (None if released_tokens is None else list(RELEASED_TASKS))
