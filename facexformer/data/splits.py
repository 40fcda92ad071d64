"""Seeded random splits that keep an image and its mirrored copy together.

The seed study split 7,674 images (300W train + full, 3,837, each with a mirrored copy) at random into
6000 / 666 / 1008. Such splits are not the benchmarks' official splits: numbers measured on them are not
comparable with published ones, and every call says so in a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch


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
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(mirror_of(name) or name, []).append(index)
    keys = sorted(groups)
    order = torch.randperm(len(keys), generator=torch.Generator().manual_seed(seed)).tolist()

    parts: list[list[int]] = [[] for _ in targets]
    current = 0
    for position in order:
        while current < len(targets) - 1 and len(parts[current]) >= targets[current]:
            current += 1
        parts[current].extend(groups[keys[position]])

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
    return tuple(sorted(part) for part in parts)
