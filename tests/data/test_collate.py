"""collate_multitask: stacking, task masks, fill values for missing labels, and the errors for bad batches."""

import math

import numpy as np
import pytest
import torch

from facexformer.data.collate import collate_multitask
from facexformer.tasks import Label, Task


def sample(source: str, tasks: tuple[str, ...], size: int = 4, **labels: object) -> dict:
    """A contract-shaped sample with a (3, size, size) image whose pixels all equal len(source)."""
    return {
        "image": torch.full((3, size, size), len(source), dtype=torch.uint8),
        "box": torch.tensor([1.0, 2.0, 3.0, float(len(source))]),
        "tasks": tasks,
        "source": source,
        **labels,
    }


def mixed_batch() -> list[dict]:
    return [
        sample("wflw/a.jpg", ("landmarks",), landmarks=torch.ones(98, 2), attributes_wflw=torch.ones(6)),
        sample(
            "utk/bb.jpg",
            ("age", "gender"),
            age=torch.tensor(31.0),
            age_group=torch.tensor(3),
            gender=torch.tensor(1),
        ),
        sample("lapa/ccc.jpg", ("parsing",), parsing=torch.full((4, 4), 7), crop=torch.tensor([0.0, 0, 4, 4])),
    ]


def test_stacks_images_boxes_and_keeps_sources_and_tasks() -> None:
    batch = collate_multitask(mixed_batch())
    assert batch["image"].shape == (3, 3, 4, 4) and batch["image"].dtype == torch.uint8
    assert batch["image"][:, 0, 0, 0].tolist() == [10, 10, 12]
    assert batch["box"].shape == (3, 4) and batch["box"][:, 3].tolist() == [10.0, 10.0, 12.0]
    assert batch["source"] == ["wflw/a.jpg", "utk/bb.jpg", "lapa/ccc.jpg"]
    assert batch["tasks"] == [("landmarks",), ("age", "gender"), ("parsing",)]


def test_task_mask_for_every_task_in_any_sample() -> None:
    masks = collate_multitask(mixed_batch())["task_mask"]
    assert {name: m.tolist() for name, m in masks.items()} == {
        "landmarks": [True, False, False],
        "age": [False, True, False],
        "gender": [False, True, False],
        "parsing": [False, False, True],
    }
    assert all(m.dtype == torch.bool for m in masks.values())
    assert "headpose" not in masks


def test_missing_labels_get_nan_or_minus_one() -> None:
    batch = collate_multitask(mixed_batch())
    assert batch["landmarks"].shape == (3, 98, 2)
    assert (batch["landmarks"][0] == 1).all() and batch["landmarks"][1:].isnan().all()
    assert batch["attributes_wflw"].shape == (3, 6) and batch["attributes_wflw"][1:].isnan().all()
    assert batch["age"].dtype == torch.float32 and batch["age"][1] == 31.0
    assert math.isnan(batch["age"][0]) and math.isnan(batch["age"][2])
    assert batch["age_group"].tolist() == [-1, 3, -1] and batch["gender"].tolist() == [-1, 1, -1]
    assert batch["parsing"].shape == (3, 4, 4) and batch["parsing"].dtype == torch.int64
    assert (batch["parsing"][:2] == -1).all() and (batch["parsing"][2] == 7).all()
    assert batch["crop"][:2].isnan().all() and batch["crop"][2].tolist() == [0.0, 0.0, 4.0, 4.0]


def test_numbers_and_arrays_become_tensors() -> None:
    batch = collate_multitask(
        [
            sample("a", ("gender",), gender=1, age=20.5, attributes=np.zeros(40, dtype=np.float32)),
            sample("b", ("gender",), gender=0, age=30.0, attributes=np.ones(40, dtype=np.float32)),
        ]
    )
    assert batch["gender"].tolist() == [1, 0] and batch["gender"].dtype == torch.int64
    assert batch["age"].tolist() == [20.5, 30.0] and batch["age"].dtype == torch.float32
    assert batch["attributes"].shape == (2, 40)


def test_image_size_mismatch_names_sizes_and_sources() -> None:
    samples = [sample("one.jpg", ()), sample("two.jpg", (), size=6)]
    with pytest.raises(ValueError, match=r"'image' has shape \(3, 4, 4\) in one.jpg but \(3, 6, 6\) in two.jpg"):
        collate_multitask(samples)


def test_landmark_count_mismatch_names_key_shapes_and_sources() -> None:
    samples = [
        sample("300w/x.png", ("landmarks",), landmarks=torch.zeros(68, 2)),
        sample("wflw/y.png", ("landmarks",), landmarks=torch.zeros(98, 2)),
    ]
    with pytest.raises(ValueError, match=r"'landmarks' has shape \(68, 2\) in 300w/x.png but \(98, 2\) in wflw/y"):
        collate_multitask(samples)


def test_dtype_mismatch_is_an_error() -> None:
    samples = [sample("a", ("age",), age=torch.tensor(3.0)), sample("b", ("age",), age=torch.tensor(3))]
    with pytest.raises(ValueError, match=r"'age' has dtype torch.float32 in a but torch.int64 in b"):
        collate_multitask(samples)


def test_key_without_a_safe_fill_value_must_be_in_every_sample() -> None:
    samples = [sample("a", (), flag=torch.tensor(True)), sample("b", ())]
    with pytest.raises(ValueError, match=r"'flag' is missing from b and its dtype torch.bool"):
        collate_multitask(samples)
    both = collate_multitask([sample("a", (), flag=torch.tensor(True)), sample("b", (), flag=torch.tensor(False))])
    assert both["flag"].tolist() == [True, False]


def test_bad_samples_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        collate_multitask([])
    broken = sample("lost.jpg", ())
    del broken["box"]
    with pytest.raises(KeyError, match=r"lost.jpg lacks required key\(s\) \['box'\]"):
        collate_multitask([sample("ok.jpg", ()), broken])
    with pytest.raises(TypeError, match="key 'note' of a is a str, expected a tensor"):
        collate_multitask([sample("a", (), note="hello")])


def test_a_missing_label_gets_the_fill_its_task_declares(task_registry) -> None:
    class Score(Task):
        name = "test_score"
        labels = (Label("test_score", "scalar", fill=-5.0), Label("test_rank", "class", fill=0))

    present = sample("a", ("test_score",), test_score=torch.tensor(0.5), test_rank=torch.tensor(3))
    batch = collate_multitask([present, sample("b", ("landmarks",))])
    assert batch["test_score"].tolist() == [0.5, -5.0] and batch["test_rank"].tolist() == [3, 0]
    assert batch["task_mask"]["test_score"].tolist() == [True, False]
    assert Score.label_keys == ("test_score", "test_rank")


def test_a_label_given_in_another_dtype_gets_that_dtypes_fill(task_registry) -> None:
    class Rank(Task):
        name = "test_rank"
        labels = (Label("test_rank", "class", fill=-7),)

    samples = [sample("utk/a.jpg", ("age",), age=torch.tensor(31)), sample("lapa/b.jpg", ("parsing",))]
    assert collate_multitask(samples)["age"].tolist() == [31, -1]  # declared float NaN; an int64 column gets -1
    ranks = [sample("a", ("test_rank",), test_rank=torch.tensor(2, dtype=torch.uint8)), sample("b", ())]
    with pytest.raises(ValueError, match="key 'test_rank' is missing from b and its dtype torch.uint8"):
        collate_multitask(ranks)
    ranks[0]["test_rank"] = torch.tensor(2, dtype=torch.int8)
    assert collate_multitask(ranks)["test_rank"].tolist() == [2, -7] and Rank.label_keys == ("test_rank",)
