"""BalancedTaskSampler: quotas, upsampling order, determinism, DDP sharding, evaluation mode, loaders."""

from collections import Counter

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from facexformer.data.collate import collate_multitask
from facexformer.data.sampler import BalancedTaskSampler, task_quotas

SIZES = [1000, 37, 5]
PROPORTIONS = [2, 1, 1]


def dataset_of(index: int, sizes: list[int]) -> int:
    """Which dataset of the concatenation a global index belongs to."""
    for k in range(len(sizes)):
        if index < sum(sizes[: k + 1]):
            return k
    raise AssertionError(f"index {index} is beyond the concatenation of {sizes}")


def per_dataset_stream(batches: list[list[int]], sizes: list[int]) -> list[list[int]]:
    """Each dataset's indices in the order the batches draw them."""
    streams: list[list[int]] = [[] for _ in sizes]
    for batch in batches:
        for index in batch:
            streams[dataset_of(index, sizes)].append(index)
    return streams


def test_task_quotas_largest_remainder_and_at_least_one() -> None:
    assert task_quotas([2, 1, 1], 8) == (4, 2, 2)
    assert task_quotas([1, 1, 1], 8) == (3, 3, 2)
    assert task_quotas([100, 1, 1], 8) == (6, 1, 1)
    assert task_quotas([1, 1, 1], 3) == (1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        count = int(torch.randint(1, 6, (1,), generator=generator))
        shares = (torch.rand(count, generator=generator) + 0.05).tolist()
        batch_size = int(torch.randint(count, 40, (1,), generator=generator))
        quotas = task_quotas(shares, batch_size)
        assert sum(quotas) == batch_size and min(quotas) >= 1
        exact = [batch_size * s / sum(shares) for s in shares]
        if all(e >= 1 for e in exact):
            assert all(abs(q - e) < 1 for q, e in zip(quotas, exact, strict=True))


def test_task_quotas_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="batch_size 2 is smaller than the number of datasets 3"):
        task_quotas([1, 1, 1], 2)
    with pytest.raises(ValueError, match="proportion 1 is 0"):
        task_quotas([1, 0, 1], 8)
    with pytest.raises(ValueError, match="3 proportions for 2 datasets"):
        BalancedTaskSampler([10, 10], 4, proportions=[1, 1, 1])
    with pytest.raises(ValueError, match="dataset_sizes"):
        BalancedTaskSampler([10, 0], 4)


def test_every_batch_holds_the_configured_quota() -> None:
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 250  # 1000 samples of the largest dataset at 4 per batch
    for batch in batches:
        assert Counter(dataset_of(i, SIZES) for i in batch) == {0: 4, 1: 2, 2: 2}


def test_small_datasets_repeat_only_after_every_sample_was_drawn() -> None:
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS, seed=1)
    streams = per_dataset_stream(list(sampler), SIZES)
    offsets = [0, 1000, 1037]
    for stream, size, offset in zip(streams, SIZES, offsets, strict=True):
        for start in range(0, len(stream), size):
            chunk = stream[start : start + size]
            assert len(set(chunk)) == len(chunk)
            if len(chunk) == size:
                assert sorted(chunk) == list(range(offset, offset + size))
    assert [len(s) for s in streams] == list(sampler.draws_per_epoch) == [1000, 500, 500]


def test_determinism_by_seed_and_epoch() -> None:
    first = BalancedTaskSampler(SIZES, 8, PROPORTIONS, seed=7)
    second = BalancedTaskSampler(SIZES, 8, PROPORTIONS, seed=7)
    epoch0 = list(first)
    assert list(second) == epoch0
    assert list(first) == epoch0  # iterating again without set_epoch repeats the epoch
    first.set_epoch(1)
    epoch1 = list(first)
    assert epoch1 != epoch0
    assert Counter(i for b in epoch1 for i in b if i < 1000) == Counter(range(1000))
    second.set_epoch(1)
    assert list(second) == epoch1
    first.set_epoch(0)
    assert list(first) == epoch0
    assert list(BalancedTaskSampler(SIZES, 8, PROPORTIONS, seed=8)) != epoch0


def test_num_batches_sets_the_epoch_length() -> None:
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=600)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 600
    assert sampler.draws_per_epoch == (2400, 1200, 1200)
    counts = Counter(i for b in batches for i in b)
    assert set(counts[i] for i in range(1037, 1042)) == {240}  # 1200 draws of 5 samples: 240 passes
    assert set(counts[i] for i in range(1000)) <= {2, 3}  # 2.4 passes over the largest dataset


@pytest.mark.parametrize(("sizes", "replicas"), [(SIZES, 2), (SIZES, 3), ([960, 37, 5], 3)])
def test_ddp_ranks_get_equal_lengths_and_disjoint_samples(sizes: list[int], replicas: int) -> None:
    ranks = [BalancedTaskSampler(sizes, 8, PROPORTIONS, seed=5, num_replicas=replicas, rank=r) for r in range(replicas)]
    per_rank = [list(s) for s in ranks]
    assert len({len(s) for s in ranks}) == 1
    assert [len(b) for b in per_rank] == [len(ranks[0])] * replicas
    # the ranks interleave the global batch sequence of a single-process sampler of replicas x the length
    single = list(BalancedTaskSampler(sizes, 8, PROPORTIONS, seed=5, num_batches=len(ranks[0]) * replicas))
    assert [per_rank[g % replicas][g // replicas] for g in range(len(single))] == single
    streams = per_dataset_stream([b for batches in per_rank for b in batches], sizes)
    for k, (stream, draws) in enumerate(zip(streams, ranks[0].draws_per_epoch, strict=True)):
        assert len(stream) == draws
        assert len(set(stream)) == min(sizes[k], draws)  # duplicates only where the epoch upsamples dataset k
        if draws <= sizes[k]:
            rank_sets = [set(per_dataset_stream(batches, sizes)[k]) for batches in per_rank]
            assert sum(len(s) for s in rank_sets) == len(set().union(*rank_sets))


def test_rank_and_world_size_come_from_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (BalancedTaskSampler(SIZES, 8).num_replicas, BalancedTaskSampler(SIZES, 8).rank) == (1, 0)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 4)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 3)
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS)
    assert (sampler.num_replicas, sampler.rank, len(sampler)) == (4, 3, 63)  # ceil(250 / 4)
    with pytest.raises(ValueError, match="rank 2 of num_replicas 2"):
        BalancedTaskSampler(SIZES, 8, rank=2, num_replicas=2)


def test_evaluation_visits_every_index_once_in_order() -> None:
    sampler = BalancedTaskSampler.for_evaluation([5, 3], 3)
    assert list(sampler) == [[0, 1, 2], [3, 4, 5], [6, 7]] and len(sampler) == 3
    assert list(BalancedTaskSampler.for_evaluation([5, 3], 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert list(BalancedTaskSampler([5, 3], 3, shuffle=False, drop_last=False)) == list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    with pytest.raises(ValueError, match="training"):
        BalancedTaskSampler([5, 3], 3, proportions=[1, 2], shuffle=False)


@pytest.mark.parametrize("replicas", [2, 3])
def test_evaluation_shards_cover_every_index_once(replicas: int) -> None:
    sizes = [50, 7, 3]
    ranks = [BalancedTaskSampler.for_evaluation(sizes, 4, num_replicas=replicas, rank=r) for r in range(replicas)]
    indices = [i for s in ranks for b in s for i in b]
    assert sorted(indices) == list(range(60))
    assert max(len(s) for s in ranks) - min(len(s) for s in ranks) <= 1
    assert sum(len(s) for s in ranks) == 15


class TinyTaskDataset(Dataset):
    """Contract-shaped samples with a 2x2 image; the label value is the sample's index."""

    def __init__(self, name: str, task: str, size: int) -> None:
        self.name, self.task, self.size = name, task, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        return {
            "image": torch.full((3, 2, 2), index % 256, dtype=torch.uint8),
            "box": torch.tensor([0.0, 0.0, 2.0, 2.0]),
            "tasks": (self.task,),
            "source": f"{self.name}[{index}]",
            self.task: torch.tensor(index),
        }


def tiny_concat() -> ConcatDataset:
    sizes = dict(zip(["landmarks", "gender", "expression"], SIZES, strict=True))
    return ConcatDataset([TinyTaskDataset(f"d{k}", task, n) for k, (task, n) in enumerate(sizes.items())])


@pytest.mark.parametrize("workers", [0, 2])
def test_works_in_a_dataloader(workers: int) -> None:
    concat = tiny_concat()
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=20, seed=2)
    loader = DataLoader(concat, batch_sampler=sampler, collate_fn=collate_multitask, num_workers=workers)
    names = ["d0", "d1", "d2"]
    expected = [
        [f"{names[dataset_of(i, SIZES)]}[{i - [0, 1000, 1037][dataset_of(i, SIZES)]}]" for i in b] for b in sampler
    ]
    seen = [batch["source"] for batch in loader]
    assert seen == expected and len(loader) == 20
    batch = next(iter(loader))
    assert {t: int(m.sum()) for t, m in batch["task_mask"].items()} == {
        "landmarks": 4,
        "gender": 2,
        "expression": 2,
    }
    assert batch["image"].shape == (8, 3, 2, 2)


def test_lightning_reshuffles_every_epoch() -> None:
    sampler = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=3, seed=11)

    class Recorder(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.sources: list[list[str]] = []

        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            self.sources.append(batch["source"])
            return (self.weight**2).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(tiny_concat(), batch_sampler=sampler, collate_fn=collate_multitask)

    model = Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(model)
    assert len(model.sources) == 6 and model.sources[:3] != model.sources[3:]
    reference = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=3, seed=11)
    reference.set_epoch(1)
    assert [len(s) for s in model.sources[3:]] == [len(b) for b in reference]
    assert model.sources[3:] == [
        batch["source"] for batch in DataLoader(tiny_concat(), batch_sampler=reference, collate_fn=collate_multitask)
    ]


def test_lightning_sampler_injection_fails_with_a_clear_message() -> None:
    from lightning.pytorch.trainer.states import RunningStage
    from lightning.pytorch.utilities.data import _update_dataloader

    concat = tiny_concat()
    loader = DataLoader(concat, batch_sampler=BalancedTaskSampler(SIZES, 8), collate_fn=collate_multitask)
    with pytest.raises(TypeError, match="use_distributed_sampler=False"):
        _update_dataloader(loader, DistributedSampler(concat, num_replicas=2, rank=0), mode=RunningStage.TRAINING)


def test_resume_at_skips_the_trained_batches_of_that_epoch_only() -> None:
    whole = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3)
    whole.set_epoch(2)
    full_epoch2 = list(whole)
    whole.set_epoch(3)
    full_epoch3 = list(whole)
    resumed = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3)
    resumed.resume_at(2, 4)
    resumed.set_epoch(2)
    assert len(resumed) == 6
    assert list(resumed) == full_epoch2[4:]
    resumed.set_epoch(3)
    assert list(resumed) == full_epoch3
    with pytest.raises(ValueError, match="cannot resume after 7 of 6"):
        resumed.resume_at(2, 7)


def test_shard_sampler_gives_whole_batches_once_and_may_leave_a_rank_empty() -> None:
    from facexformer.data.sampler import ShardSampler

    shards = [list(ShardSampler(7, 2, num_replicas=3, rank=r)) for r in range(3)]
    assert shards == [[0, 1, 6], [2, 3], [4, 5]]  # batches [0 1] [2 3] [4 5] [6] dealt in turn
    assert [len(ShardSampler(7, 2, 3, r)) for r in range(3)] == [3, 2, 2]
    assert list(ShardSampler(1, 2, num_replicas=2, rank=1)) == [] and len(ShardSampler(1, 2, 2, 1)) == 0
    assert list(ShardSampler(4, 3)) == [0, 1, 2, 3]


def _epoch(sampler: BalancedTaskSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize(("epoch", "done"), [(0, 2), (1, 1), (2, 5)])
def test_resumed_iterator_built_before_set_epoch_has_the_resumed_epochs_order(epoch: int, done: int) -> None:
    """Lightning builds the resumed loader's iterator (DataLoader workers prefetch from it at once) before it
    calls ``set_epoch``: the order must already be that of the resumed epoch, without the trained batches."""
    full = _epoch(BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3), epoch)
    resumed = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3)
    resumed.resume_at(epoch, done)
    batches = iter(resumed)
    first = next(batches)  # drawn now, as a worker's prefetch does
    resumed.set_epoch(epoch)
    assert [first, *batches] == full[done:]


def test_resume_after_a_finished_epoch_starts_the_next_one_whole() -> None:
    """A checkpoint written at an epoch's end holds all its batches: the resumed run trains the next epoch whole
    (it used to skip all of it when the iterator was built before ``set_epoch``)."""
    reference = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3)
    next_epoch = _epoch(reference, 1)
    resumed = BalancedTaskSampler(SIZES, 8, PROPORTIONS, num_batches=6, seed=3)
    resumed.resume_at(0, 6)
    assert resumed.epoch == 1
    batches = list(resumed)
    resumed.set_epoch(1)
    assert batches == next_epoch
    assert _epoch(resumed, 2) == _epoch(reference, 2)
