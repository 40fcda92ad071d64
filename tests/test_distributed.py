"""DDP on CPU (gloo) and resuming: slow, run by `pytest -m slow`."""

import csv
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch.utils.data import ConcatDataset

from facexformer import FaceXFormer
from facexformer.apps.cli import main
from facexformer.data import MultiTaskDataModule, SelectTasks, SyntheticFaces
from facexformer.training.callbacks import BaselineComparison, SaveCED

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "tests" / "conf" / "tiny_multitask.yaml")
pytestmark = pytest.mark.slow


def last_metrics(log_dir: Path) -> dict[str, float]:
    with open(next(log_dir.rglob("metrics.csv"))) as handle:
        rows = list(csv.DictReader(handle))
    merged = {}
    for row in rows:
        merged.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return merged


def run_cli(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "facexformer", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_process_ddp_test_metrics_equal_single_process(tmp_path):
    model = FaceXFormer(
        tasks=["landmarks", "headpose", "gender", "parsing", "visibility"],
        backbone="test_convnext",
        image_size=64,
        dim=32,
        decoder_mlp_dim=64,
    )
    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=0)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    results = {}
    for devices, strategy in ((1, "auto"), (2, "ddp")):
        out = tmp_path / f"devices{devices}"
        run_cli(
            [
                "test",
                "--config",
                CONFIG,
                "--ckpt_path",
                str(tmp_path / "model.ckpt"),
                "--trainer.devices",
                str(devices),
                "--trainer.strategy",
                strategy,
                "--trainer.logger",
                "lightning.pytorch.loggers.CSVLogger",
                "--trainer.logger.save_dir",
                str(out),
            ],
            tmp_path,
        )
        results[devices] = last_metrics(out)
    metric_keys = [k for k in results[1] if k.startswith("test/") and not k.endswith("/loss")]
    assert len(metric_keys) > 10
    for key in metric_keys:
        assert results[2][key] == pytest.approx(results[1][key], rel=1e-5, abs=1e-6), key


def test_two_process_ddp_fit_runs(tmp_path):
    run_cli(
        [
            "fit",
            "--config",
            CONFIG,
            "--trainer.devices",
            "2",
            "--trainer.strategy",
            "ddp",
            "--trainer.default_root_dir",
            str(tmp_path),
        ],
        tmp_path,
    )


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    def fit(max_epochs: int, root: Path, ckpt: str | None = None):
        args = [
            "fit",
            "--config",
            CONFIG,
            "--trainer.max_epochs",
            str(max_epochs),
            "--trainer.logger",
            "false",
            "--trainer.default_root_dir",
            str(root),
        ]
        if ckpt:
            args += ["--ckpt_path", ckpt]
        return main(args)

    full = fit(3, tmp_path / "full").model
    fit(1, tmp_path / "part")
    first = next((tmp_path / "part").rglob("*.ckpt"))  # Lightning's default checkpoint: one file
    resumed = fit(3, tmp_path / "resumed", str(first)).model
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def uneven_evaluation_data() -> MultiTaskDataModule:
    """Two test datasets in batches of 2 over 2 ranks: rank 0 gets the first batch of "mixed" (no gender
    label) and all of "short" (one sample, fewer batches than ranks); rank 1 gets the second batch of
    "mixed" and nothing of "short". No sample carries a head pose."""
    mixed = ConcatDataset(
        [
            SelectTasks(SyntheticFaces(2, 64, seed=1), ["landmarks"]),
            SelectTasks(SyntheticFaces(2, 64, seed=2), ["landmarks", "gender"]),
        ]
    )
    short = SyntheticFaces(1, 64, seed=3, tasks=["landmarks", "gender"])
    return MultiTaskDataModule(test={"mixed": mixed, "short": short}, batch_size=2, evaluate_separately=True)


def test_ddp_evaluation_with_uneven_tasks_per_rank_matches_one_process(tiny_kwargs, tmp_path, recwarn):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender", "headpose"], **tiny_kwargs)
    results = {}
    for devices in (1, 2):
        # a rank stuck in a collective fails after 60 s instead of hanging
        strategy = DDPStrategy(start_method="spawn", timeout=timedelta(seconds=60)) if devices > 1 else "auto"
        trainer = L.Trainer(
            accelerator="cpu",
            devices=devices,
            strategy=strategy,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            callbacks=[SaveCED(str(tmp_path / f"ced{devices}"))],
        )
        output = trainer.test(model, uneven_evaluation_data(), verbose=False)
        results[devices] = {k: v for loader in output for k, v in loader.items()}
    assert {"test/mixed/gender/accuracy", "test/short/gender/accuracy", "test/short/landmarks/nme"} <= set(results[1])
    # a task no sample carries is left out: no NaN, no warning
    assert not any("headpose" in key for key in results[1])
    assert not [w for w in recwarn if "no sample" in str(w.message)]
    assert results[2].keys() == results[1].keys()
    for key, value in results[1].items():
        assert results[2][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    # the CED curves gather every process's errors, also of "short", which one rank never saw
    for name in ("mixed", "short"):
        assert (tmp_path / "ced2" / f"{name}.csv").read_text() == (tmp_path / "ced1" / f"{name}.csv").read_text()


def test_ddp_baseline_comparison_matches_one_process(tiny_kwargs, capfd):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs)
    tables = {}
    for devices in (1, 2):
        strategy = DDPStrategy(start_method="spawn", timeout=timedelta(seconds=60)) if devices > 1 else "auto"
        trainer = L.Trainer(
            accelerator="cpu",
            devices=devices,
            strategy=strategy,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            callbacks=[BaselineComparison(num_samples=4)],
        )
        # in batches of 2 over 2 ranks, rank 0 tests faces without gender labels and rank 1 faces with them
        test = ConcatDataset(
            [
                SelectTasks(SyntheticFaces(2, 64, seed=1), ["landmarks"]),
                SelectTasks(SyntheticFaces(2, 64, seed=2), ["landmarks", "gender"]),
            ]
        )
        train = SyntheticFaces(4, 64, seed=3, tasks=["landmarks", "gender"])
        capfd.readouterr()
        trainer.test(model, MultiTaskDataModule(train={"t": train}, test={"t": test}, batch_size=2), verbose=False)
        tables[devices] = sorted(line for line in capfd.readouterr().out.splitlines() if line.startswith("test/"))
    assert any(line.startswith("test/gender/accuracy") for line in tables[1])
    assert any(line.startswith("test/landmarks/nme") for line in tables[1])
    assert tables[2] == tables[1]


def tiny_evaluation_data(separately: bool, fit: bool = False) -> MultiTaskDataModule:
    """Two evaluation datasets of one face each, in batches of 2: fewer batches than processes (the case that
    hung for ever with the datasets evaluated separately), and one of 3 faces (uneven over 2 or 3 processes)."""
    one = SyntheticFaces(1, 64, seed=1, tasks=["landmarks", "gender", "visibility"])
    other = SyntheticFaces(1, 64, seed=2, tasks=["landmarks", "gender"])
    three = SyntheticFaces(3, 64, seed=3, tasks=["landmarks", "gender", "visibility"])
    evaluation = {"one": one, "other": other, "three": three}
    train = {"train": SyntheticFaces(4, 64, seed=4, tasks=["landmarks", "gender"])} if fit else None
    return MultiTaskDataModule(
        train=train, val=evaluation, test=evaluation, batch_size=2, evaluate_separately=separately
    )


def _trainer(devices: int, **kwargs) -> L.Trainer:
    strategy = DDPStrategy(start_method="spawn", timeout=timedelta(seconds=60)) if devices > 1 else "auto"
    return L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        **kwargs,
    )


@pytest.mark.parametrize("separately", [True, False], ids=["separately", "pooled"])
def test_validation_gives_the_same_numbers_on_1_2_3_processes(tiny_kwargs, separately):
    # (test runs the same epoch end: test_evaluate_prints_the_same_table_on_1_2_3_processes covers it)
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender", "visibility"], **tiny_kwargs)
    results = {}
    for devices in (1, 2, 3):
        validated = _trainer(devices).validate(model, tiny_evaluation_data(separately), verbose=False)
        results[devices] = {k: v for loader in validated for k, v in loader.items()}
    prefix = "val/one/" if separately else "val/"
    assert {f"{prefix}landmarks/nme", f"{prefix}visibility/recall_at_precision"} <= set(results[1])
    for devices in (2, 3):
        assert results[devices].keys() == results[1].keys()
        for key, value in results[1].items():
            assert results[devices][key] == pytest.approx(value, rel=1e-6, abs=1e-6), (devices, key)


def test_validation_inside_fit_on_2_processes_matches_one(tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender", "visibility"], lr=0.0, **tiny_kwargs)  # weights stay
    metrics = {}
    for devices in (1, 2):
        trainer = _trainer(devices, max_epochs=1, limit_train_batches=1, num_sanity_val_steps=0)
        trainer.fit(model, tiny_evaluation_data(separately=True, fit=True))
        metrics[devices] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    assert "val/one/landmarks/nme" in metrics[1]
    assert metrics[2].keys() == metrics[1].keys()
    for key, value in metrics[1].items():
        assert metrics[2][key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


def test_evaluate_prints_the_same_table_on_1_2_3_processes(tiny_kwargs, tmp_path):
    from tests.fake_data import w300

    # common: 3 faces (uneven over 2 and 3 processes), challenge: 1 face (fewer batches than processes)
    root = w300.write(tmp_path / "300W", {"helen/testset": 1, "lfpw/testset": 2, "ibug": 1})
    FaceXFormer(tasks=["landmarks"], **tiny_kwargs).save_pretrained(tmp_path / "model")
    tables = {}
    for devices in (1, 2, 3):
        out = tmp_path / f"out{devices}"
        args = ["evaluate", "--benchmark", "300w", "--root", str(root), "--checkpoint", str(tmp_path / "model")]
        args += ["--out", str(out), "--batch_size", "1", "--trainer.accelerator", "cpu", "--trainer.devices"]
        args += [str(devices), "--trainer.strategy", "ddp", "--trainer.timeout", "60"]
        run_cli(args, tmp_path)
        tables[devices] = json.loads((out / "results.json").read_text())["rows"]
    assert len(tables[1]) == 9
    for devices in (2, 3):
        for mine, single in zip(tables[devices], tables[1], strict=True):
            for field in ("subset", "metric", "faces"):
                assert mine[field] == single[field]
            assert mine["value"] == pytest.approx(single["value"], rel=1e-6, abs=1e-6), (devices, mine["metric"])


class StallRank(L.Callback):
    """Test-only: process ``rank`` sleeps ``seconds`` after its first training batch, while the others go on
    into the next collective (a rank stuck in a data loader, a file system or a deadlock)."""

    def __init__(self, rank: int = 1, seconds: float = 600.0):
        self.rank, self.seconds = rank, seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and batch_idx == 0:
            time.sleep(self.seconds)


def test_a_stuck_rank_ends_a_ddp_fit_with_the_timeout_error(tmp_path):
    from tests.processes import assert_group_ends, launched

    timeout = 60  # also bounds the start: rank 1 imports and builds everything before joining
    args = ["fit", "--config", CONFIG, "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.logger"]
    args += ["false", "--trainer.default_root_dir", str(tmp_path), "--trainer.timeout", str(timeout)]
    args += ["--trainer.callbacks+=tests.test_distributed.StallRank", "--trainer.callbacks.rank=1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    with launched(args, tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as launcher:
        _, stderr = launcher.communicate(timeout=240 + timeout)
        elapsed = time.monotonic() - started
        assert_group_ends(launcher.pid, 30)
    assert launcher.returncode == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("facexformer fit: error:")]
    assert len(errors) == 1 and f"--trainer.timeout {timeout} s" in errors[0], stderr[-3000:]
    assert "Traceback" not in stderr
    assert elapsed > timeout
