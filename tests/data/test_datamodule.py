import pytest
import torch
from torch.utils.data import BatchSampler, SequentialSampler

from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.sampler import BalancedTaskSampler
from facexformer.data.synthetic import SyntheticFaces


def test_every_training_batch_mixes_tasks_in_proportion():
    train = {
        "landmarks": SyntheticFaces(40, 32, seed=1, tasks=["landmarks"]),
        "gender": SyntheticFaces(6, 32, seed=2, tasks=["gender"]),
    }
    dm = MultiTaskDataModule(train=train, batch_size=6, proportions={"landmarks": 2, "gender": 1})
    loader = dm.train_dataloader()
    assert len(loader) == 10  # the larger dataset once at 4 per batch
    gender_seen = []
    for batch in loader:
        assert batch["task_mask"]["landmarks"].sum() == 4 and batch["task_mask"]["gender"].sum() == 2
        assert batch["landmarks"][batch["task_mask"]["gender"]].isnan().all()
        gender_seen += [s for s, m in zip(batch["source"], batch["task_mask"]["gender"], strict=True) if m]
    assert len(set(gender_seen)) == 6 and len(gender_seen) == 20  # the small dataset is upsampled


def test_evaluation_sees_each_sample_once_and_images_become_float():
    dm = MultiTaskDataModule(val={"a": SyntheticFaces(5, 32, seed=3)}, batch_size=2)
    batches = list(dm.val_dataloader())
    assert [len(b["source"]) for b in batches] == [2, 2, 1]
    out = dm.on_after_batch_transfer(batches[0], 0)
    assert out["image"].dtype == torch.float32 and out["image"].min() >= 0 and out["image"].max() <= 1


def test_configuration_errors_name_the_argument():
    with pytest.raises(ValueError, match="no test datasets"):
        MultiTaskDataModule(train={"a": SyntheticFaces(4, 32)}).test_dataloader()
    with pytest.raises(ValueError, match="proportions name datasets"):
        MultiTaskDataModule(train={"a": SyntheticFaces(4, 32)}, proportions={"b": 1.0})


def test_select_tasks_drops_other_labels():
    faces = SyntheticFaces(4, 32, seed=4)
    dm = MultiTaskDataModule(val={"faces": faces}, tasks={"faces": ["visibility"]}, batch_size=4)
    batch = next(iter(dm.val_dataloader()))
    assert set(batch["task_mask"]) == {"visibility"}
    assert "landmarks" not in batch and "parsing" not in batch and batch["visibility"].shape == (4, 29)


def test_separate_evaluation_gives_one_loader_per_dataset():
    test = {"common": SyntheticFaces(3, 32, seed=5), "challenge": SyntheticFaces(2, 32, seed=6)}
    dm = MultiTaskDataModule(test=test, batch_size=4, evaluate_separately=True)
    loaders = dm.test_dataloader()
    assert dm.eval_names("test") == ["common", "challenge"]
    assert [sum(len(b["source"]) for b in loader) for loader in loaders] == [3, 2]
    assert MultiTaskDataModule(test=test, batch_size=4).eval_names("test") is None


def test_evaluation_and_prediction_loaders_use_plain_samplers():
    """Lightning re-instantiates a custom batch sampler in its predict loop: only training may use one."""
    faces = {"a": SyntheticFaces(5, 32, seed=3)}
    dm = MultiTaskDataModule(train=faces, val=faces, test=faces, predict=faces, batch_size=2)
    for loader in (dm.val_dataloader(), dm.test_dataloader(), dm.predict_dataloader()):
        assert type(loader.batch_sampler) is BatchSampler and isinstance(loader.sampler, SequentialSampler)
        assert [len(b["source"]) for b in loader] == [2, 2, 1]
    assert type(dm.train_dataloader().batch_sampler) is BalancedTaskSampler


def test_prediction_samples_carry_the_image_size_before_the_crop():
    faces = SyntheticFaces(3, 48, seed=5)
    dm = MultiTaskDataModule(predict={"a": faces}, batch_size=3, crop=CropFace(size=32))
    batch = next(iter(dm.predict_dataloader()))
    assert batch["image"].shape == (3, 3, 32, 32) and batch["crop"].shape == (3, 4)
    assert batch["image_size"].tolist() == [[48, 48]] * 3


def test_distributed_evaluation_splits_the_samples_without_repeats(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None, rank=rank: rank)
        dm = MultiTaskDataModule(test={"a": SyntheticFaces(5, 32, seed=3)}, batch_size=2)
        seen.append([s for batch in dm.test_dataloader() for s in batch["source"]])
    assert len(seen[0]) == 3 and len(seen[1]) == 2
    assert sorted(seen[0] + seen[1]) == sorted(f"SyntheticFaces(seed=3)[{i}]" for i in range(5))
