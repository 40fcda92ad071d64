import random
import warnings

import pytest

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
