import pytest
import torch
from torch.utils.data import BatchSampler

from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.sampler import BalancedTaskSampler, ShardSampler
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


def augmented_by(rank: int, world_size: int, step: int) -> torch.Tensor:
    """The training batch's images as rank ``rank`` of ``world_size`` augments them at ``step``."""
    from types import SimpleNamespace

    from facexformer.tasks import task_from_config

    faces = SyntheticFaces(4, 32, seed=5)
    dm = MultiTaskDataModule(train={"a": faces}, batch_size=4, augment={"flip": 0.5, "affine": 1.0})
    dm.trainer = SimpleNamespace(
        training=True, current_epoch=0, global_step=step, world_size=world_size, global_rank=rank
    )
    dm.set_model_tasks([task_from_config("landmarks")])
    return dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)["image"]


def test_each_rank_draws_its_own_augmentation_and_a_step_draws_the_same_on_rerun():
    assert torch.equal(augmented_by(0, 2, 5), augmented_by(0, 2, 5))
    assert not torch.equal(augmented_by(0, 2, 5), augmented_by(1, 2, 5))
    assert not torch.equal(augmented_by(0, 1, 5), augmented_by(0, 1, 6))


def test_augmentation_needs_the_model_tasks_handed_over():
    from types import SimpleNamespace

    dm = MultiTaskDataModule(train={"a": SyntheticFaces(4, 32, seed=5)}, batch_size=4, augment={"flip": 1.0})
    dm.trainer = SimpleNamespace(training=True, current_epoch=0, global_step=0, world_size=1, global_rank=0)
    batch = next(iter(dm.train_dataloader()))
    with pytest.raises(RuntimeError, match=r"set_model_tasks"):
        dm.on_after_batch_transfer(dict(batch), 0)


def test_stage_datasets_are_the_items_the_loaders_read():
    faces = SyntheticFaces(3, 32, seed=4)
    dm = MultiTaskDataModule(
        train={"faces": faces}, tasks={"faces": ["visibility"]}, crop=CropFace(size=16, margin=0.0), batch_size=3
    )
    prepared = dm.stage_datasets("train")
    assert list(prepared) == ["faces"] and dm.stage_datasets("val") == {}
    item = prepared["faces"][1]
    assert item["tasks"] == ("visibility",) and "landmarks" not in item and item["image"].shape[-2:] == (16, 16)
    assert torch.equal(item["image"], CropFace(size=16, margin=0.0)(faces[1])["image"])
    with pytest.raises(ValueError, match="unknown stage 'fit'"):
        dm.stage_datasets("fit")


def test_state_dict_counts_the_trained_batches_of_the_epoch():
    from types import SimpleNamespace

    dm = MultiTaskDataModule(train={"a": SyntheticFaces(8, 32, seed=5)}, batch_size=2, batches_per_epoch=4)
    dm.trainer = SimpleNamespace(training=True, current_epoch=1, global_step=0, world_size=1, global_rank=0)
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(1)
    batches = list(loader)
    for batch in batches[:3]:
        dm.on_after_batch_transfer(batch, 0)
    assert dm.state_dict() == {"epoch": 1, "batches_done": 3}
    resumed = MultiTaskDataModule(train={"a": SyntheticFaces(8, 32, seed=5)}, batch_size=2, batches_per_epoch=4)
    resumed.load_state_dict(dm.state_dict())
    loader = resumed.train_dataloader()
    loader.batch_sampler.set_epoch(1)
    assert [b["source"] for b in loader] == [b["source"] for b in batches[3:]]


def test_each_dataset_can_carry_its_own_crop_and_channel_order():
    from facexformer.data.crop import CropFace

    val = {
        "boxed": SyntheticFaces(2, 32, seed=7),
        "whole_bgr": SyntheticFaces(2, 32, seed=9),
        "as_is": SyntheticFaces(2, 16, seed=8),
    }
    crops = {"whole_bgr": CropFace(size=16, box="image", channels="bgr"), "as_is": None}
    dm = MultiTaskDataModule(val=val, crop=CropFace(size=16, margin=0.0), crops=crops, batch_size=6)
    batch = next(iter(dm.val_dataloader()))
    by_source = dict(zip(batch["source"], range(6), strict=True))
    boxed = [by_source[val["boxed"][i]["source"]] for i in range(2)]
    whole = [by_source[val["whole_bgr"][i]["source"]] for i in range(2)]
    as_is = [by_source[val["as_is"][i]["source"]] for i in range(2)]
    for i, row in enumerate(boxed):
        expected = CropFace(size=16, margin=0.0)(val["boxed"][i])
        assert torch.equal(batch["crop"][row], expected["crop"]) and torch.equal(batch["image"][row], expected["image"])
    for i, row in enumerate(whole):
        assert batch["crop"][row].tolist() == [0.0, 0.0, 32.0, 32.0]
        rgb = CropFace(size=16, box="image")(val["whole_bgr"][i])["image"]
        assert torch.equal(batch["image"][row], rgb.flip(0))
    assert batch["crop"][as_is].isnan().all()
    with pytest.raises(ValueError, match="crops name datasets"):
        MultiTaskDataModule(val=val, crops={"missing": None})


def test_prediction_loaders_use_plain_samplers():
    """Lightning re-instantiates a custom batch sampler in its predict loop: prediction may not use one.
    Evaluation loaders use ``EvaluationBatches`` (one empty batch for a process without a batch)."""
    faces = {"a": SyntheticFaces(5, 32, seed=3)}
    dm = MultiTaskDataModule(train=faces, val=faces, test=faces, predict=faces, batch_size=2)
    predict = dm.predict_dataloader()
    assert type(predict.batch_sampler) is BatchSampler and isinstance(predict.sampler, ShardSampler)
    for loader in (dm.val_dataloader(), dm.test_dataloader(), predict):
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


def write_gender_csv(root, count: int = 4) -> None:
    """``count`` 96-pixel noise images and the ``train.csv`` / ``test.csv`` of ``tests.datasets.GenderCsv``."""
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    lines = []
    for i in range(count):
        pixels = torch.randint(0, 256, (96, 96, 3), dtype=torch.uint8, generator=generator)
        Image.fromarray(pixels.numpy()).save(root / f"face{i}.png")
        lines.append(f"face{i}.png,16,16,80,80,{i % 2}")
    for split in ("train", "test"):
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")


def test_a_reader_outside_the_package_plugs_in_from_python_and_by_class_path(tmp_path):
    """A dataset is one file: ``tests/datasets.py`` is read through the data module, and the command line takes
    it (with the test backbone, also by class path) from a YAML config; no file of the package names either."""
    import yaml

    from facexformer.apps.cli import main
    from tests.datasets import GenderCsv

    write_gender_csv(tmp_path)
    dm = MultiTaskDataModule(train={"csv": GenderCsv(tmp_path, "train")}, crop=CropFace(size=32), batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    lines = [int(source.rsplit(":", 1)[1]) for source in batch["source"]]
    assert batch["image"].shape == (4, 3, 32, 32) and batch["task_mask"]["gender"].all()
    assert sorted(lines) == [1, 2, 3, 4] and batch["gender"].tolist() == [(line - 1) % 2 for line in lines]

    reader = {"class_path": "tests.datasets.GenderCsv", "init_args": {"root": str(tmp_path), "split": "train"}}
    config = {
        "trainer": {"accelerator": "cpu", "max_steps": 2, "logger": False, "default_root_dir": str(tmp_path)},
        "model": {
            "tasks": ["gender"],
            "backbone": {"class_path": "tests.backbones.TwoScales", "init_args": {"width": 8}},
            "image_size": 32,
            "dim": 16,
            "decoder_mlp_dim": 32,
        },
        "data": {
            "batch_size": 2,
            "crop": {"size": 32},
            "augment": {"flip": 0.5},
            "train": {"csv": reader},
            "test": {"csv": {**reader, "init_args": {**reader["init_args"], "split": "test"}}},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cli = main(["fit", "--config", str(tmp_path / "config.yaml"), "--test_after_fit", "true"])
    assert cli.trainer.global_step == 2 and isinstance(cli.datamodule.datasets["train"]["csv"], GenderCsv)
    assert type(cli.model.net.backbone).__name__ == "TwoScales"
    assert "test/gender/accuracy" in cli.trainer.callback_metrics


def test_a_process_without_an_evaluation_batch_gets_one_empty_batch():
    from facexformer.data.datamodule import EvaluationBatches, collate_evaluation

    # 3 faces in batches of 2 over 3 processes: ranks 0 and 1 get a batch each, rank 2 none
    shards = [list(EvaluationBatches(3, 2, num_replicas=3, rank=rank)) for rank in range(3)]
    assert shards == [[[0, 1]], [[2]], [[]]]
    assert [len(EvaluationBatches(3, 2, num_replicas=3, rank=rank)) for rank in range(3)] == [1, 1, 1]
    assert list(EvaluationBatches(5, 2, num_replicas=2, rank=0)) == [[0, 1], [4]]
    assert list(EvaluationBatches(0, 4)) == [[]]
    empty = collate_evaluation([])
    assert empty["image"].shape == (0, 3, 0, 0) and empty["task_mask"] == {}
