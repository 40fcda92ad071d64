import math

import pytest
import torch
import torch.nn.functional as F

from facexformer.metrics.parsing import ParsingF1
from facexformer.tasks.parsing import CLASS_NAMES

# Two 2x2 images, 3 classes. Pooled counts (pred |P|, truth |G|, overlap):
# class 0: 4, 3, 3 -> 6/7; class 1: 2, 4, 2 -> 4/6; class 2: 2, 1, 1 -> 2/3.
TARGET = torch.tensor([[[0, 1], [1, 2]], [[1, 1], [0, 0]]])
PRED = torch.tensor([[[0, 1], [2, 2]], [[1, 0], [0, 0]]])


def test_pooled_f1_per_class_and_mean_without_background():
    metric = ParsingF1(num_classes=3, class_names=["bg", "a", "b"])
    metric.update(PRED[:1], TARGET[:1])
    metric.update(PRED[1:], TARGET[1:])
    result = metric.compute()
    assert result["f1_bg"].item() == pytest.approx(6 / 7)
    assert result["f1_a"].item() == pytest.approx(2 / 3)
    assert result["f1_b"].item() == pytest.approx(2 / 3)
    assert result["f1"].item() == pytest.approx(2 / 3)
    with_background = ParsingF1(num_classes=3, ignore_background=False)
    with_background.update(PRED, TARGET)
    assert with_background.compute()["f1"].item() == pytest.approx((6 / 7 + 4 / 3) / 3)


def test_logits_give_the_same_result_with_the_task_class_names():
    logits = F.one_hot(PRED, 11).permute(0, 3, 1, 2).float()
    metric = ParsingF1(class_names=CLASS_NAMES)
    metric.update(logits, TARGET)
    result = metric.compute()
    assert set(result) == {"f1"} | {f"f1_{name}" for name in CLASS_NAMES}
    assert result["f1_skin"].item() == pytest.approx(2 / 3)
    # classes 3..10 never occur: NaN and left out of the mean
    assert math.isnan(result["f1_hair"].item())
    assert result["f1"].item() == pytest.approx(2 / 3)


def test_ignore_index_pixels_are_not_counted():
    target = TARGET.clone()
    target[0, 1, 0] = 255  # the pixel predicted 2 but labelled 1
    metric = ParsingF1(num_classes=3, ignore_index=255)
    metric.update(PRED, target)
    result = metric.compute()
    # class 1: |P| 2, |G| 3, overlap 2 -> 4/5; class 2: |P| 1, |G| 1, overlap 1 -> 1
    assert result["f1_class_1"].item() == pytest.approx(4 / 5)
    assert result["f1_class_2"].item() == pytest.approx(1.0)


def test_empty_state_is_nan():
    result = ParsingF1(num_classes=3).compute()
    assert all(math.isnan(value.item()) for value in result.values())


def test_wrong_class_names_are_rejected():
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        ParsingF1(num_classes=3, class_names=["a", "b"])


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError):
        ParsingF1(num_classes=3).update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 3, 3).long())
