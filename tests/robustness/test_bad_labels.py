"""Bad label values: a clear error naming the task, the label and the sample (refused), or, for a non-finite
value in evaluation, the sample left out of that task's metrics with a warning (counted skip) — never a crash
deep inside torch or torchmetrics, nor a silently NaN metric."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.module import FaceXFormer
from facexformer.tasks.label_check import LabelValueError
from tests.robustness.hostile import assert_clear
from tests.robustness.test_training import TINY, Poisoned, _trainer


def _set(key: str, index, value):
    def change(sample: dict) -> None:
        if index is None:
            sample[key] = torch.tensor(value, dtype=sample[key].dtype)
        else:
            sample[key][index] = value

    return change


REFUSED = [
    ("gender", _set("gender", None, 99), ["task 'gender'", "label 'gender'", "poisoned[3]", "class id 99", "0 .. 1"]),
    ("race", _set("race", None, -5), ["task 'race'", "poisoned[3]", "class id -5", "0 .. 4"]),
    ("attributes", _set("attributes", 4, 2.0), ["task 'attributes'", "poisoned[3]", "value 2", "0 or 1"]),
    ("attributes", _set("attributes", 4, math.nan), ["task 'attributes'", "poisoned[3]", "non-finite", "0 or 1"]),
    ("parsing", _set("parsing", (5, 5), 99), ["task 'parsing'", "poisoned[3]", "class id 99", "0 .. 10"]),
    ("landmarks", _set("landmarks", 7, 1e6), ["task 'landmarks'", "poisoned[3]", "1e+06 px", "refused"]),
]


@pytest.mark.parametrize(
    ("task", "change", "words"),
    REFUSED,
    ids=["gender-99", "race-minus-5", "attribute-2", "attribute-nan", "parsing-99", "landmark-1e6-px"],
)
def test_a_label_no_task_can_take_is_refused_naming_task_and_sample(task, change, words) -> None:
    """Verdict: clear error (was: an index error in torch, a torchmetrics value error, or a silent 1e6 loss)."""
    model = FaceXFormer(tasks=[task], **TINY)
    data = Poisoned(8, [task], {3: change})
    with pytest.raises(LabelValueError) as caught:
        _trainer(max_epochs=1).fit(model, MultiTaskDataModule(train={"p": data}, batch_size=4, augment={}))
    assert_clear(caught.value, *words)


def test_a_nan_validation_label_is_left_out_of_the_metric_with_a_warning() -> None:
    """Verdict: counted skip (was: that epoch's metric NaN without a word)."""
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["headpose"], **TINY)
    val = Poisoned(4, ["headpose"], {1: _set("headpose", 0, math.nan)}, seed=2)
    data = MultiTaskDataModule(train={"p": Poisoned(4, ["headpose"], {})}, val={"v": val}, batch_size=4, augment={})
    trainer = _trainer(max_steps=1, limit_val_batches=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, data)
    said = [str(w.message) for w in caught if "left out of this task's metrics" in str(w.message)]
    assert said == [
        "task 'headpose', label 'headpose': a non-finite value in 1 sample(s), left out of this task's "
        "metrics: poisoned[1]"
    ]
    values = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/headpose/")}
    assert values and all(math.isfinite(v) for v in values.values()), values
