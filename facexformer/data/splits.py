"""Seeded random splits, with or without keeping an image and its mirrored copy together.

The seed study split 7,674 images (300W train + full, 3,837, each with a mirrored copy) at random into
6000 / 666 / 1008; ``RandomSplit`` gives one part of such a split as a dataset. Such splits are not the
benchmarks' official splits: numbers measured on them are not comparable with published ones, and every call
of ``random_split_with_mirrors`` says so in a warning.

``HeldOut`` is the recipes' validation split: a seeded part of a training set, so that checkpoints are chosen
without looking at the test set.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch.utils.data import Dataset

from facexformer.data.datasets.w300 import MIRROR_SUFFIX


def _target_sizes(fractions: Sequence[int] | Sequence[float], total: int) -> list[int]:
    """Split sizes from counts (ints summing to ``total``) or ratios (floats summing to 1)."""
    if not fractions or any(isinstance(f, bool) or f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative counts or ratios, got {tuple(fractions)}")
    if all(isinstance(f, int) for f in fractions):
        if sum(fractions) != total:
            raise ValueError(f"split sizes {tuple(fractions)} sum to {sum(fractions)}, not to {total} names")
        return list(fractions)
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"split ratios {tuple(fractions)} sum to {sum(fractions)}, not to 1")
    sizes = [math.floor(f * total) for f in fractions]
    sizes[-1] += total - sum(sizes)
    return sizes


def random_split_with_mirrors(
    names: Sequence[str],
    fractions: Sequence[int] | Sequence[float] = (6000, 666, 1008),
    seed: int = 0,
    *,
    mirror_of: Callable[[str], str | None],
) -> tuple[list[int], ...]:
    """Split ``names`` at random into ``len(fractions)`` parts; returns each part's indices into ``names``.

    ``fractions``: sizes (ints summing to ``len(names)``) or ratios (floats summing to 1).
    ``mirror_of(name)``: the name of the image ``name`` is a mirrored copy of, or None for an original; an
    image and its copies form one group, and groups are never divided. Groups are ordered by key (so the
    result does not depend on the order of ``names``), shuffled with ``torch.randperm`` seeded by ``seed``,
    and dealt out in turn until each part reaches its size; a group that does not fit may overshoot a part by
    less than its size (a warning gives the sizes reached). Indices in each part are sorted.
    """
    targets = _target_sizes(fractions, len(names))
    parts = _grouped_split(names, targets, seed, mirror_of)
    sizes = [len(part) for part in parts]
    warnings.warn(
        f"random split (seed {seed}) into sizes {sizes}: not the official benchmark split; numbers "
        "measured on it are not comparable with published results",
        UserWarning,
        stacklevel=2,
    )
    if sizes != targets:
        warnings.warn(
            f"random split: mirrored pairs cannot be divided, so the sizes are {sizes} instead of {targets}",
            UserWarning,
            stacklevel=2,
        )
    return parts


def _grouped_split(
    names: Sequence[str], targets: Sequence[int], seed: int, group_of: Callable[[str], str | None]
) -> tuple[list[int], ...]:
    """Deal the groups of ``names`` (``group_of(name) or name``), in a ``seed``-shuffled order of their sorted
    keys, into parts of ``targets`` sizes (a part may overshoot by less than one group); sorted indices."""
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(group_of(name) or name, []).append(index)
    keys = sorted(groups)
    order = torch.randperm(len(keys), generator=torch.Generator().manual_seed(seed)).tolist()
    parts: list[list[int]] = [[] for _ in targets]
    current = 0
    for position in order:
        while current < len(targets) - 1 and len(parts[current]) >= targets[current]:
            current += 1
        parts[current].extend(groups[keys[position]])
    return tuple(sorted(part) for part in parts)


class RandomSplit(Dataset):
    """One part of a seeded random split of ``dataset`` into parts of fixed sizes (the seed study's 300W split).

    Args:
        dataset: a dataset with ``names`` (one stable name per sample, e.g. ``W300.names``), which the split
            sorts, so it does not depend on file-system order.
        part: the name of the part to keep, one of ``sizes``.
        sizes: ``{part: number of samples}``, in dealing order, summing to ``len(dataset)``.
        seed: the split's seed (its own generator: the global seed, the process and the number of processes
            do not change it).
        keep_mirrors_together: False (the study's way: each of the 7,674 images is drawn on its own, so a face
            and its mirror may land in different parts) or True (a face and its mirror, ``name`` and
            ``name#mirror``, always in the same part).

    The split is ``random_split_with_mirrors``, which warns that it is not an official benchmark split.
    """

    def __init__(
        self,
        dataset: Dataset,
        part: str,
        sizes: Mapping[str, int],
        seed: int = 0,
        keep_mirrors_together: bool = False,
    ):
        if part not in sizes:
            raise ValueError(f"RandomSplit: part {part!r} is not one of the sizes' parts {list(sizes)}")
        names = getattr(dataset, "names", None)
        if names is None:
            kind = type(dataset).__name__
            raise TypeError(f"RandomSplit needs a dataset with 'names' (one per sample); {kind} has none")
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError("RandomSplit: the dataset's names are not unique")
        if sum(sizes.values()) != len(names):
            raise ValueError(
                f"RandomSplit: sizes {dict(sizes)} sum to {sum(sizes.values())}, but the dataset has {len(names)} "
                "samples (the seed study's 7,674 = 2 x (3,148 300W train + 689 full) images; is the download whole?)"
            )
        mirror_of = _mirror_of if keep_mirrors_together else _ungrouped
        parts = random_split_with_mirrors(names, list(sizes.values()), seed, mirror_of=mirror_of)
        self.dataset, self.part = dataset, part
        self.indices = parts[list(sizes).index(part)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[self.indices[index]]


def _mirror_of(name: str) -> str | None:
    return name.removesuffix(MIRROR_SUFFIX) if name.endswith(MIRROR_SUFFIX) else None


class HeldOut(Dataset):
    """One part of a seeded split of ``dataset`` into training data and a held-out validation set.

    ``part``: "train" (the rest) or "held_out" (``fraction`` of the samples, at least one). The split depends
    only on ``seed``, ``fraction``, the dataset's length and its index entries, so two ``HeldOut`` of the same
    dataset and arguments (one per part) are disjoint and together cover it.
    ``group_pattern``: a regular expression searched in ``str(dataset.records[i])`` (the file-based
    readers' index entry, which names the image file); samples whose matches (first group, else the whole
    match) agree stay in the same part, e.g. the poses and mirrored copies synthesised from one 300W-LP
    photo, or the faces of one WFLW image. Without it each sample is its own group.
    """

    def __init__(
        self,
        dataset: Dataset,
        part: str = "train",
        fraction: float = 0.05,
        seed: int = 0,
        group_pattern: str | None = None,
    ):
        if part not in ("train", "held_out"):
            raise ValueError(f"HeldOut: part must be 'train' or 'held_out', got {part!r}")
        if not 0 < fraction < 1:
            raise ValueError(f"HeldOut: fraction must be in (0, 1), got {fraction}")
        size = len(dataset)  # type: ignore[arg-type]
        held = max(1, round(fraction * size))
        if held >= size:
            raise ValueError(f"HeldOut: {size} samples cannot give {held} held-out samples and leave any to train")
        names, group_of = [str(i) for i in range(size)], _ungrouped
        if group_pattern is not None:
            records = getattr(dataset, "records", None)
            if records is None:
                raise TypeError(
                    f"HeldOut: group_pattern needs a dataset with 'records'; {type(dataset).__name__} has none"
                )
            names = [str(record) for record in records]
            group_of = _group_key(re.compile(group_pattern))
        train, held_out = _grouped_split(names, (size - held, held), seed, group_of)
        if not held_out:
            raise ValueError(f"HeldOut: the groups of group_pattern {group_pattern!r} leave no sample to hold out")
        self.dataset, self.part = dataset, part
        self.indices = train if part == "train" else held_out

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[self.indices[index]]


def _ungrouped(name: str) -> None:
    return None


def _group_key(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def key(name: str) -> str | None:
        match = pattern.search(name)
        if match is None:
            raise ValueError(f"HeldOut: group_pattern {pattern.pattern!r} does not match index entry {name!r}")
        return match.group(1) if pattern.groups else match.group(0)

    return key
