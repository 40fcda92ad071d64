import warnings

import pytest
import torch

from facexformer import FaceXFormer
from facexformer.benchmarking.training import synthetic_batch, training_step, training_throughput


def test_training_step_updates_the_weights(tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).train()
    batch = synthetic_batch(model, 2, torch.device("cpu"))
    before = model.net.tokens["gender"].weight.clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        training_step(model, batch, "bf16-mixed")()
    assert not [w for w in caught if "self.log" in str(w.message)]  # no Trainer is attached, on purpose
    assert not torch.equal(before, model.net.tokens["gender"].weight)
    with pytest.raises(ValueError, match="unknown training precision"):
        training_step(model, batch, "int8")


def test_training_table_counts_forward_and_backward(tiny_kwargs, capsys):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks"], **tiny_kwargs)
    rows = training_throughput({"tiny": model}, {"tiny": 2}, ["fp32", "bf16-mixed"], "cpu", repeats=1, warmup=0)
    out = capsys.readouterr().out
    assert "GFLOP per training image" in out and "matmul peak" in out
    assert [r[0].split(",")[0] for r in rows] == ["tiny fp32", "tiny bf16-mixed"]
    assert all(r[1] > 0 and r[3] > 0 and r[4] > 0 for r in rows)
