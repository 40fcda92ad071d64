"""Label spaces shared by the age / gender / race datasets (UTKFace, FairFace): decade bins and race orders.

The released FaceXFormer heads encode age as 8 decade bins, gender as 0 male / 1 female and race as 5 classes.
The 5-class order is disputed (``docs/tasks.md``, TASKS.md §5.3): the paper and the maintainer list
White, Black, Indian, Asian, Others, while the released checkpoint scores 98% on raw UTKFace labels, i.e. it
behaves as White, Black, Asian, Indian, Others. ``race_order="utkface"`` (default) follows the checkpoint,
``race_order="paper"`` the paper; any permutation of the five names can be passed instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from facexformer.batch import Sample
from facexformer.data.datasets.base import whole_image_box
from facexformer.tasks.age_gender_race import age_to_group

__all__ = ["RACE_ORDERS", "UTKFACE_RACES", "age_to_group", "demographics_sample", "resolve_race_order"]

UTKFACE_RACES = ("White", "Black", "Asian", "Indian", "Others")
RACE_ORDERS: dict[str, tuple[str, ...]] = {
    "utkface": UTKFACE_RACES,
    "paper": ("White", "Black", "Indian", "Asian", "Others"),
}


def resolve_race_order(race_order: str | Sequence[str]) -> dict[str, int]:
    """Model class index of each race name, from a named order ('utkface', 'paper') or the 5 names."""
    if isinstance(race_order, str):
        if race_order not in RACE_ORDERS:
            raise ValueError(f"unknown race_order {race_order!r}; use {sorted(RACE_ORDERS)} or 5 names")
        names = RACE_ORDERS[race_order]
    else:
        names = tuple(race_order)
    if sorted(names) != sorted(UTKFACE_RACES):
        raise ValueError(f"race_order must be a permutation of {UTKFACE_RACES}, got {names}")
    return {name: index for index, name in enumerate(names)}


def demographics_sample(image: torch.Tensor, source: str, age: float, age_group: int, gender: int, race: int) -> Sample:
    """A face-chip sample for the tasks age, gender and race; box = the whole (3, H, W) image.

    ``age`` in years (NaN when only the group is known), ``age_group`` a decade bin, ``gender`` 0 male /
    1 female, ``race`` a model class index (see ``resolve_race_order``).
    """
    return {
        "image": image,
        "box": whole_image_box(image),
        "tasks": ("age", "gender", "race"),
        "source": source,
        "age": torch.tensor(float(age)),
        "age_group": torch.tensor(age_group),
        "gender": torch.tensor(gender),
        "race": torch.tensor(race),
    }
