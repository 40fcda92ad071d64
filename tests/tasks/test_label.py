import math

import numpy as np
import pytest
import torch

from facexformer.tasks import Landmarks, Visibility
from facexformer.tasks.label import Label


def test_each_kind_has_its_default_shape_dtype_and_fill():
    cases = {
        "keypoints": ((None, 2), torch.float32),
        "mask": ((None, None), torch.int64),
        "vector": ((None,), torch.float32),
        "class": ((), torch.int64),
        "scalar": ((), torch.float32),
    }
    for kind, (shape, dtype) in cases.items():
        label = Label("x", kind)
        assert (label.shape, label.dtype) == (shape, dtype)
        assert math.isnan(label.fill) if dtype.is_floating_point else label.fill == -1
    assert Label("x", "class", fill=0).fill == 0
    assert Label("x", "vector", (3, 3)).shape == (3, 3)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"kind": "points"}, "unknown kind 'points'"),
        ({"kind": "keypoints", "shape": (5, 3)}, r"keypoints are \(N, 2\)"),
        ({"kind": "keypoints", "shape": (5,)}, "cannot have shape"),
        ({"kind": "class", "shape": (2,)}, "cannot have shape"),
        ({"kind": "vector", "shape": ()}, "cannot have shape"),
        ({"kind": "mask", "dtype": torch.float32}, "holds integers"),
        ({"kind": "class", "fill": 0.5}, "fill 0.5"),
        ({"kind": "class", "dtype": torch.uint8}, "fill -1"),
    ],
)
def test_bad_declarations_are_refused_naming_the_key(kwargs, message):
    with pytest.raises(ValueError, match=f"label 'x'.*{message}"):
        Label("x", **kwargs)


def test_named_sizes_are_read_from_a_task_or_left_free():
    label = Landmarks.labels[0]
    assert label.shape == ("num_points", 2)
    assert label.sizes() == (None, 2) and label.sizes(Landmarks(num_points=98)) == (98, 2)
    assert label.describe() == "(N, 2) float32 keypoints"
    assert label.describe(Landmarks(num_points=5)) == "(5, 2) float32 keypoints"
    assert label.convert(np.zeros((7, 2))).shape == (7, 2)
    with pytest.raises(ValueError, match=r"expected shape \(5, 2\) float32 keypoints, got \(7, 2\)"):
        label.convert(np.zeros((7, 2)), Landmarks(num_points=5))


def test_convert_casts_and_checks_values():
    points = Label("p", "keypoints").convert([[1, 2], [3.5, 4]])
    assert points.dtype == torch.float32 and points.tolist() == [[1.0, 2.0], [3.5, 4.0]]
    identity = Label("i", "class").convert(np.float64(7.0))
    assert identity.dtype == torch.int64 and identity.item() == 7
    assert Label("m", "mask").convert(torch.ones(2, 3, dtype=torch.uint8)).dtype == torch.int64
    flags = Visibility.labels[0]
    assert flags.convert([0, 1, 1], Visibility(num_points=3)).tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="values must be 0 or 1"):
        flags.convert([0, 2, 1])
    with pytest.raises(ValueError, match="integer class ids"):
        Label("i", "class").convert(0.5)
    with pytest.raises(ValueError, match="integer class ids"):
        Label("i", "class").convert(float("nan"))
    with pytest.raises(ValueError, match=r"expected shape \(\) float32 scalar, got \(2,\)"):
        Label("a", "scalar").convert([1.0, 2.0])
    with pytest.raises(ValueError, match="numbers, got <U1"):
        Label("a", "scalar").convert("x")


def test_agreement_compares_kind_dtype_and_fill():
    assert Label("x", "scalar").agrees_with(Label("x", "scalar", (), torch.float32))  # NaN fills agree
    assert not Label("x", "scalar").agrees_with(Label("x", "scalar", fill=0.0))
    assert not Label("x", "class").agrees_with(Label("x", "scalar"))
