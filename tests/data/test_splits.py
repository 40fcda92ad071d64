import os
import random
import subprocess
import sys
import warnings

import pytest
import torch

from facexformer.data.splits import random_split_with_mirrors


def _mirror_of(name: str) -> str | None:
    return name.removesuffix("_mirror") if name.endswith("_mirror") else None


def _names(originals: int) -> list[str]:
    return [f"img{i:05d}" for i in range(originals)] + [f"img{i:05d}_mirror" for i in range(originals)]


def _split(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return random_split_with_mirrors(*args, mirror_of=_mirror_of, **kwargs)


def test_study_split_sizes_and_pairs_together():
    names = _names(3837)
    assert len(names) == 7674
    with pytest.warns(UserWarning, match="not comparable with published"):
        parts = random_split_with_mirrors(names, (6000, 666, 1008), seed=0, mirror_of=_mirror_of)
    assert [len(part) for part in parts] == [6000, 666, 1008]
    assert sorted(i for part in parts for i in part) == list(range(len(names)))
    where = {names[i]: k for k, part in enumerate(parts) for i in part}
    assert all(where[f"img{i:05d}"] == where[f"img{i:05d}_mirror"] for i in range(3837))


def test_seeded_and_independent_of_input_order():
    names = _names(50)
    first = _split(names, (60, 20, 20), seed=3)
    assert first == _split(names, (60, 20, 20), seed=3)
    assert first != _split(names, (60, 20, 20), seed=4)
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    again = _split(shuffled, (60, 20, 20), seed=3)
    assert [{shuffled[i] for i in part} for part in again] == [{names[i] for i in part} for part in first]


def test_ratios():
    parts = _split(_names(50), (0.6, 0.2, 0.2), seed=0)
    assert [len(part) for part in parts] == [60, 20, 20]


@pytest.mark.filterwarnings("ignore:random split \\(seed")
def test_odd_sizes_overshoot_with_a_warning():
    with pytest.warns(UserWarning, match=r"sizes are \[6, 4\] instead of \[5, 5\]"):
        parts = random_split_with_mirrors(_names(5), (5, 5), seed=0, mirror_of=_mirror_of)
    assert [len(part) for part in parts] == [6, 4]


@pytest.mark.parametrize("fractions", [(10, 5), (0.5, 0.6), (), (-1, 11), (True, 9)])
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions|sum to"):
        _split(_names(5), fractions)


def test_held_out_parts_are_seeded_disjoint_and_cover_the_dataset():
    from facexformer.data.splits import HeldOut

    data = list(range(40))
    train, held = HeldOut(data, "train", 0.1, seed=3), HeldOut(data, "held_out", 0.1, seed=3)
    assert len(held) == 4 and len(train) == 36
    assert sorted([*train, *held]) == data and not set(train) & set(held)
    assert list(HeldOut(data, "held_out", 0.1, seed=3)) == list(held)  # seeded: the same every time
    assert list(HeldOut(data, "held_out", 0.1, seed=4)) != list(held)
    assert len(HeldOut(list(range(5)), "held_out", 0.01)) == 1  # at least one sample
    with pytest.raises(ValueError, match="part must be"):
        HeldOut(data, "test")
    with pytest.raises(ValueError, match="leave any to train"):
        HeldOut([0], "train", 0.5)


def test_held_out_keeps_groups_together():
    from facexformer.data.splits import HeldOut

    class Records(list):
        @property
        def records(self):
            return [f"/data/300W_LP/{'AFW_Flip' if i % 2 else 'AFW'}/AFW_{i // 6}_1_{i % 3}.jpg" for i in range(60)]

    data = Records(range(60))
    held = HeldOut(data, "held_out", 0.2, seed=0, group_pattern=r"(AFW_\d+)_1_\d+\.jpg")
    train = HeldOut(data, "train", 0.2, seed=0, group_pattern=r"(AFW_\d+)_1_\d+\.jpg")
    photos = {i // 6 for i in held}
    assert photos and photos.isdisjoint({i // 6 for i in train}) and len(held) == 12
    with pytest.raises(ValueError, match="does not match"):
        HeldOut(data, "train", 0.2, group_pattern=r"LFPW_\d+")
    with pytest.raises(TypeError, match="records"):
        HeldOut(list(range(10)), "train", 0.2, group_pattern="x")


STUDY_SIZES = {"train": 6000, "val": 666, "test": 1008}
PRINT_SPLIT = """
import sys, warnings, torch
torch.manual_seed(int(sys.argv[2]))
warnings.simplefilter("ignore")
from facexformer.data.datasets import W300
from facexformer.data.splits import RandomSplit
pool = W300(sys.argv[1], "train+full", mirror=True)
sizes = {"train": 6000, "val": 666, "test": 1008}
print([RandomSplit(pool, part, sizes, seed=0).indices for part in sizes])
"""


@pytest.fixture(scope="module")
def study_pool(tmp_path_factory):
    from facexformer.data.datasets import W300
    from tests.w300_files import write_300w

    root = write_300w(tmp_path_factory.mktemp("study") / "300W")
    return W300(root, "train+full", mirror=True)


def _study_parts(pool, **kwargs) -> dict[str, list[int]]:
    from facexformer.data.splits import RandomSplit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {part: RandomSplit(pool, part, STUDY_SIZES, **kwargs).indices for part in STUDY_SIZES}


def test_study_split_of_the_full_mirrored_list(study_pool):
    assert len(study_pool) == 7674
    parts = _study_parts(study_pool, seed=0)
    assert {part: len(indices) for part, indices in parts.items()} == STUDY_SIZES
    assert sorted(i for indices in parts.values() for i in indices) == list(range(7674))
    assert parts == _study_parts(study_pool, seed=0)
    assert parts != _study_parts(study_pool, seed=1)


def test_study_split_draws_each_image_on_its_own_unless_asked(study_pool):
    """The study split its 7,674 images at random: a face and its mirror land in parts independently (so most
    test faces have their mirror in training); ``keep_mirrors_together`` keeps each pair in one part."""
    names = study_pool.names  # one list, not one per image
    faces = names[::2]
    for together in (False, True):
        parts = _study_parts(study_pool, seed=0, keep_mirrors_together=together)
        where = {names[i]: part for part, indices in parts.items() for i in indices}
        pairs = [(where[face], where[face + "#mirror"]) for face in faces]
        apart = sum(a != b for a, b in pairs) / len(pairs)
        test = [(a, b) for a, b in pairs for mine, other in ((a, b), (b, a)) if mine == "test"]
        test_beside_train = sum("train" in pair for pair in test) / len(test)
        if together:
            assert apart == 0 and test_beside_train == 0
        else:  # P(apart) = 1 - sum (n_k / N)^2 = 0.36; a test image's mirror is in training with P ~ 6000/7673
            assert 0.32 < apart < 0.40
            assert 0.72 < test_beside_train < 0.84


def test_study_split_is_the_same_in_every_process(study_pool, tmp_path):
    """Each DDP process builds the split itself: other global seeds, ranks and world sizes give the same parts."""
    expected = str(list(_study_parts(study_pool, seed=0).values()))
    for rank, world, seed in ((0, 1, 7), (1, 2, 123), (3, 8, 0)):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world)}
        run = subprocess.run(
            [sys.executable, "-c", PRINT_SPLIT, str(study_pool.root), str(seed)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert run.stdout.strip() == expected, (rank, world, seed)


def test_study_split_refuses_a_list_of_another_size(study_pool):
    from facexformer.data.splits import RandomSplit

    class Short(torch.utils.data.Subset):
        names = study_pool.names[:7672]

    with pytest.raises(ValueError, match=r"sum to 7674, but the dataset has 7672 samples .*is the download whole"):
        RandomSplit(Short(study_pool, range(7672)), "train", STUDY_SIZES)
    with pytest.raises(TypeError, match="'names'"):
        RandomSplit(torch.utils.data.Subset(study_pool, range(7674)), "train", STUDY_SIZES)
    with pytest.raises(ValueError, match="part 'valid'"):
        RandomSplit(study_pool, "valid", STUDY_SIZES)
