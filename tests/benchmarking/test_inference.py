import pytest
import torch

from facexformer.benchmarking.inference import AS_BUILT, Precision, inference_throughput


def test_precision_names():
    assert Precision.parse("bf16") == Precision(torch.bfloat16, None)
    assert Precision.parse("fp16-autocast") == Precision(torch.float32, torch.float16)
    assert Precision.parse("bf16-autocast").compute == torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        Precision.parse("int8")


def test_table_reports_hardware_flops_and_peak(capsys):
    rows = inference_throughput(
        "test_convnext",
        batch_size=2,
        image_size=64,
        tasks=["landmarks", "parsing"],
        precisions=["fp32", "bf16"],
        device="cpu",
        repeats=1,
        warmup=0,
    )
    out = capsys.readouterr().out
    assert (
        out.startswith("cpu: ")
        and "matmul peak (best before and after the rounds): " in out
        and "fp32" in out
        and "bf16" in out
    )
    by_name = {r[0]: r for r in rows}
    parts = ("backbone only", "all tasks", "landmarks only", AS_BUILT)
    assert set(by_name) == {f"{p} {part}" for p in ("fp32", "bf16") for part in parts}
    assert "[fp32] optimize_for_inference: all tasks " in out and "as fast as the network as built" in out
    assert by_name["fp32 backbone only"][2] == 1.0
    for part in ("backbone only", "all tasks", AS_BUILT):
        # the same network in both precisions: GFLOP per image = GFLOP/s / (images/s) agree
        per_image = [by_name[f"{p} {part}"][3] / by_name[f"{p} {part}"][1] for p in ("fp32", "bf16")]
        assert per_image[0] == pytest.approx(per_image[1])
        assert per_image[0] > 0 and by_name[f"fp32 {part}"][4] > 0
    assert by_name["fp32 all tasks"][3] / by_name["fp32 all tasks"][1] > (
        by_name["fp32 backbone only"][3] / by_name["fp32 backbone only"][1]
    )


def test_cpu_clock_runs_on_one_thread(capsys):
    threads = torch.get_num_threads()
    try:
        with pytest.raises(ValueError, match="needs device cpu and one thread"):
            inference_throughput("test_convnext", 2, 64, ["landmarks"], device="cpu", threads=2, clock="cpu")
        rows = inference_throughput(
            "test_convnext", 2, 64, ["landmarks"], ["fp32"], "cpu", repeats=1, warmup=0, threads=1, clock="cpu"
        )
    finally:
        torch.set_num_threads(threads)
    assert "1 threads" in capsys.readouterr().out and all(r[1] > 0 for r in rows)
