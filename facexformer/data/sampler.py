"""Batch samplers over a concatenation of datasets (one per task) that put every task in every batch.

The datasets are concatenated (``torch.utils.data.ConcatDataset``), dataset k occupying the global indices
``[offset_k, offset_k + size_k)``. A sampler yields lists of such global indices, one list per batch, for
``DataLoader(concat, batch_sampler=sampler, collate_fn=collate_multitask)``.

Training (``shuffle=True``): every batch holds a fixed quota of samples from each dataset. Each dataset is
read as an endless stream of independently reshuffled passes over its own indices, so a small dataset is
upsampled by repetition and every one of its samples is drawn once before any is drawn again.

Evaluation (``shuffle=False``, built with :meth:`BalancedTaskSampler.for_evaluation`): the concatenation in
order, each index exactly once, cut into batches of ``batch_size``; quotas and upsampling are off.

Distributed training: the sampler shards by rank itself (see :class:`BalancedTaskSampler`), so under Lightning
the Trainer must be built with ``use_distributed_sampler=False``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def task_quotas(proportions: Sequence[float], batch_size: int) -> tuple[int, ...]:
    """Samples per dataset in one batch: ``proportions`` scaled to ``batch_size``, largest-remainder rounding.

    The quotas sum to ``batch_size`` and each is at least 1: a dataset rounded down to 0 takes one sample from
    the dataset whose quota exceeds its exact share the most. Ties go to the earlier dataset.
    ``ValueError`` when ``batch_size`` is smaller than the number of datasets or a proportion is not positive.
    """
    count = len(proportions)
    if count == 0:
        raise ValueError("task_quotas: no datasets (proportions is empty)")
    for k, share in enumerate(proportions):
        if not (math.isfinite(share) and share > 0):
            raise ValueError(f"task_quotas: proportion {k} is {share}; proportions must be positive numbers")
    if batch_size < count:
        raise ValueError(
            f"task_quotas: batch_size {batch_size} is smaller than the number of datasets {count}; "
            "every batch must hold at least one sample of every dataset"
        )
    total = math.fsum(proportions)
    exact = [batch_size * share / total for share in proportions]
    quotas = [math.floor(x) for x in exact]
    by_remainder = sorted(range(count), key=lambda k: (quotas[k] - exact[k], k))
    for k in by_remainder[: batch_size - sum(quotas)]:
        quotas[k] += 1
    for k in range(count):
        if quotas[k] == 0:
            donor = max((j for j in range(count) if quotas[j] > 1), key=lambda j: (quotas[j] - exact[j], -j))
            quotas[donor] -= 1
            quotas[k] = 1
    return tuple(quotas)


def distributed_world(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, else from the initialised process group, else ``(1, 0)``."""
    initialised = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if initialised else 1
    if rank is None:
        rank = dist.get_rank() if initialised else 0
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"invalid distributed setting: rank {rank} of num_replicas {num_replicas}")
    return num_replicas, rank


class TaskStreams:
    """Each dataset's index stream for the current epoch: reshuffled passes over its global indices.

    The stream of dataset k is a concatenation of independent random permutations of
    ``[offset_k, offset_k + size_k)``, drawn from a generator seeded with ``seed + epoch``, so it is the same
    on every rank and changes with :meth:`set_epoch`. Lightning's loops call ``set_epoch`` on
    ``dataloader.batch_sampler.sampler``, which is why :class:`BalancedTaskSampler` exposes this object as
    its ``sampler`` attribute.
    """

    def __init__(self, dataset_sizes: Sequence[int], seed: int = 0) -> None:
        self.sizes = tuple(dataset_sizes)
        self.offsets = tuple(sum(self.sizes[:k]) for k in range(len(self.sizes)))
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffles :meth:`draw` returns."""
        self.epoch = epoch

    def draw(self, lengths: Sequence[int]) -> list[torch.Tensor]:
        """Per dataset k, the first ``lengths[k]`` global indices of its stream: int64 ``(lengths[k],)``."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        streams = []
        for size, offset, length in zip(self.sizes, self.offsets, lengths, strict=True):
            passes = -(-length // size)
            permutations = torch.rand(passes, size, generator=generator).argsort(dim=1)
            streams.append(permutations.reshape(-1)[:length] + offset)
        return streams


class BalancedTaskSampler(Sampler[list[int]]):
    """Batch sampler over concatenated datasets: a fixed quota of every dataset in every training batch.

    Training (``shuffle=True``): batch b holds ``quotas[k]`` samples of dataset k (``quotas`` from
    :func:`task_quotas`, equal proportions by default), grouped by dataset in dataset order. Dataset k's
    samples are the next ``quotas[k]`` entries of its :class:`TaskStreams` stream, so small datasets repeat
    only after all their samples were drawn. An epoch has ``num_batches`` batches per rank, by default just
    enough for the dataset with the largest ``size / quota`` to be drawn once over all ranks. ``drop_last``
    does not apply: training batches are always full.

    Evaluation (``shuffle=False``; prefer :meth:`for_evaluation`, whose ``drop_last`` defaults to False):
    global indices ``0 .. sum(sizes) - 1`` in order, in batches of ``batch_size``; the last partial batch is
    kept unless ``drop_last``. ``proportions`` and ``num_batches`` must then be None.

    Distributed: ``num_replicas`` and ``rank`` default to those of the initialised ``torch.distributed``
    process group (read at construction, so build the sampler in the datamodule's ``setup`` or
    ``*_dataloader`` hook), else 1 and 0. In training every rank builds the same
    ``num_replicas * num_batches`` global batches and keeps batches ``rank, rank + num_replicas, ...``, so all
    ranks get ``num_batches`` batches. Global batches read disjoint positions of each stream, and positions
    within one pass are distinct indices, so two ranks (or two batches) can share an index of dataset k only
    when the epoch reads more than one pass of it, i.e. when dataset k is upsampled
    (``draws_per_epoch[k] > size_k``). In evaluation rank r keeps batches ``r, r + num_replicas, ...``: every
    index is seen exactly once overall and ranks' batch counts differ by at most one (log evaluation metrics
    at epoch level only).

    Lightning: build the Trainer with ``use_distributed_sampler=False``. This sampler already shards by rank;
    with the default, Lightning would try to inject a ``DistributedSampler`` into it under DDP, which fails
    with a ``TypeError`` saying so (it never silently replaces the sharding). Lightning calls ``set_epoch`` on
    the ``sampler`` attribute (a :class:`TaskStreams`) at every epoch start, which reshuffles.

    Args:
        dataset_sizes: length of each dataset, in concatenation order.
        batch_size: samples per batch (over all datasets, per rank).
        proportions: relative share of each dataset in a training batch; None means equal.
        num_batches: training batches per epoch on each rank; None derives it as described above.
        shuffle: True for training batches, False for sequential evaluation batches.
        seed: base seed; epoch e shuffles with ``seed + e``. Must be the same on every rank.
        num_replicas: number of ranks; None reads it from ``torch.distributed``.
        rank: this process's rank; None reads it from ``torch.distributed``.
        drop_last: evaluation only: drop the last batch when it is smaller than ``batch_size``.
    """

    def __init__(
        self,
        dataset_sizes: Sequence[int],
        batch_size: int,
        proportions: Sequence[float] | None = None,
        num_batches: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = True,
    ) -> None:
        if isinstance(dataset_sizes, Sampler):
            raise TypeError(
                "BalancedTaskSampler received a sampler instead of dataset sizes: Lightning tried to inject "
                "a DistributedSampler. Build the Trainer with use_distributed_sampler=False; "
                "BalancedTaskSampler shards by rank itself."
            )
        self.sizes = tuple(operator.index(size) for size in dataset_sizes)
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"BalancedTaskSampler: dataset_sizes {self.sizes} must be non-empty, all >= 1")
        if batch_size < 1:
            raise ValueError(f"BalancedTaskSampler: batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_replicas, self.rank = distributed_world(num_replicas, rank)
        self.sampler = TaskStreams(self.sizes, seed)
        self._resume: tuple[int, int] | None = None
        if shuffle:
            self.quotas = self._training_quotas(proportions)
            self.num_batches = self._training_length(num_batches)
        else:
            if proportions is not None or num_batches is not None:
                raise ValueError(
                    "BalancedTaskSampler: proportions and num_batches apply to training (shuffle=True) only; "
                    "evaluation visits every sample once in order"
                )
            self.quotas = ()
            total = sum(self.sizes)
            global_batches = total // batch_size if drop_last else -(-total // batch_size)
            self.num_batches = len(range(self.rank, global_batches, self.num_replicas))

    @classmethod
    def for_evaluation(
        cls,
        dataset_sizes: Sequence[int],
        batch_size: int,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> BalancedTaskSampler:
        """Sequential batches for validation/test: every index once, in order, last partial batch kept."""
        return cls(
            dataset_sizes,
            batch_size,
            shuffle=False,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )

    def _training_quotas(self, proportions: Sequence[float] | None) -> tuple[int, ...]:
        shares = [1.0] * len(self.sizes) if proportions is None else [float(p) for p in proportions]
        if len(shares) != len(self.sizes):
            raise ValueError(f"BalancedTaskSampler: {len(shares)} proportions for {len(self.sizes)} datasets")
        return task_quotas(shares, self.batch_size)

    def _training_length(self, num_batches: int | None) -> int:
        if num_batches is not None:
            if num_batches < 1:
                raise ValueError(f"BalancedTaskSampler: num_batches must be >= 1, got {num_batches}")
            return num_batches
        global_batches = max(-(-size // quota) for size, quota in zip(self.sizes, self.quotas, strict=True))
        return -(-global_batches // self.num_replicas)

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 initially)."""
        return self.sampler.epoch

    @property
    def draws_per_epoch(self) -> tuple[int, ...]:
        """Training: indices read per dataset per epoch over all ranks; more than its size = upsampled."""
        return tuple(quota * self.num_batches * self.num_replicas for quota in self.quotas)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (deterministic from ``seed + epoch``); no effect in evaluation."""
        self.sampler.set_epoch(epoch)

    def resume_at(self, epoch: int, batches_done: int) -> None:
        """Training: continue a run whose checkpoint was saved after ``batches_done`` batches of ``epoch``.

        The sampler moves to that epoch at once (Lightning builds the resumed loader's iterator, and its workers
        prefetch from it, before it calls :meth:`set_epoch`) and its next pass skips the batches already trained
        on; a finished epoch (``batches_done == len(self)``) resumes at the start of the next one. Later epochs
        are whole. ``len`` stays the full epoch, as Lightning counts the restored batches itself."""
        if not 0 <= batches_done <= self.num_batches:
            raise ValueError(f"BalancedTaskSampler: cannot resume after {batches_done} of {self.num_batches} batches")
        if batches_done == self.num_batches:
            epoch, batches_done = epoch + 1, 0
        self.set_epoch(epoch)
        self._resume = (epoch, batches_done) if self.shuffle and batches_done else None

    def __len__(self) -> int:
        """Batches this rank yields per epoch."""
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            yield from self._evaluation_batches()
            return
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            skip, self._resume = self._resume[1], None
        global_batches = self.num_batches * self.num_replicas
        streams = self.sampler.draw(self.draws_per_epoch)
        columns = [s.view(global_batches, q) for s, q in zip(streams, self.quotas, strict=True)]
        yield from torch.cat(columns, dim=1)[self.rank :: self.num_replicas][skip:].tolist()

    def _evaluation_batches(self) -> Iterator[list[int]]:
        total = sum(self.sizes)
        for b in range(self.num_batches):
            start = (self.rank + b * self.num_replicas) * self.batch_size
            yield list(range(start, min(start + self.batch_size, total)))


class ShardSampler(Sampler[int]):
    """Evaluation and prediction: ``range(size)`` cut into batches of ``batch_size``, this rank taking batches
    ``rank, rank + num_replicas, ...`` (as indices, in order, for a plain ``DataLoader(batch_size=...)``).

    Every index is seen exactly once over all ranks, without padding, in the very batches one process would
    form (so per-batch values such as the total loss match it); a rank may get none (a dataset with fewer
    batches than ranks), which the evaluation handles. ``num_replicas``/``rank`` default to
    ``torch.distributed``'s, else 1 and 0 (then it is a ``SequentialSampler``).
    """

    def __init__(self, size: int, batch_size: int = 1, num_replicas: int | None = None, rank: int | None = None):
        self.size, self.batch_size = operator.index(size), operator.index(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"ShardSampler: batch_size must be >= 1, got {batch_size}")
        self.num_replicas, self.rank = distributed_world(num_replicas, rank)

    def _batches(self) -> range:
        return range(self.rank, -(-self.size // self.batch_size), self.num_replicas)

    def __len__(self) -> int:
        return sum(min(self.batch_size, self.size - b * self.batch_size) for b in self._batches())

    def __iter__(self) -> Iterator[int]:
        for b in self._batches():
            yield from range(b * self.batch_size, min((b + 1) * self.batch_size, self.size))
