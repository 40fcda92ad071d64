"""Training days that build on a checkpoint the CLI wrote: validate it, fine-tune only a head from it, resume
it with ``--ckpt_path last``, and run the TensorBoard and W&B loggers twice in one folder. Slow: each step is
another ``facexformer fit``."""

import hashlib

import pytest
import torch

from tests.workflows.steps import TINY_QUICKSTART, rerun_reproduces, run_step

pytestmark = pytest.mark.slow


def test_validate_with_the_checkpoint_reproduces_the_last_validation(fitted):
    pytest.importorskip("tensorboard")
    rerun_reproduces(fitted, "validate")


def test_head_only_finetuning_from_the_cli_checkpoint(fitted, tmp_path):
    run_step(
        "fit head only (init_weights last.ckpt, trainable)",
        [
            "fit",
            *TINY_QUICKSTART,
            "--model.init_weights",
            str(fitted.checkpoint),
            "--model.trainable",
            "[net.heads.landmarks]",
            "--test_after_fit",
            "false",
        ],
        tmp_path,
    )
    start = torch.load(fitted.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    tuned_file = tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt"
    tuned = torch.load(tuned_file, map_location="cpu", weights_only=True)["state_dict"]
    network = [k for k in start if k.startswith("net.")]
    head = [k for k in network if k.startswith("net.heads.landmarks.")]
    assert head and len(network) > 2 * len(head)
    assert all(torch.equal(start[k], tuned[k]) for k in network if k not in head)
    assert any(not torch.equal(start[k], tuned[k]) for k in head)


def test_resume_with_ckpt_path_last(tmp_path):
    run_step("fit 1 epoch (to resume)", ["fit", *TINY_QUICKSTART, "--test_after_fit", "false"], tmp_path)
    last = tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt"
    done = run_step(
        "fit --ckpt_path last (epoch 2)",
        ["fit", *TINY_QUICKSTART, "--trainer.max_epochs", "2", "--ckpt_path", "last", "--test_after_fit", "false"],
        tmp_path,
    )
    assert f"--ckpt_path last: resuming from {last}" in done.stdout
    assert f"Restoring states from the checkpoint path at {last}" in done.stdout + done.stderr
    assert not (tmp_path / "runs/quickstart/version_1").exists()  # the resumed run goes on in its own folder
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    # one more epoch of 2 batches (epoch index 1), written over the same last.ckpt at the end of that epoch
    assert (resumed["epoch"], resumed["global_step"]) == (1, 4)
    assert sorted(p.name for p in last.parent.iterdir()) == ["epoch=1-step=4.ckpt", "last.ckpt"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tensorboard_twice_in_the_same_folder(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_step("fit + test, TensorBoard, 1st run", ["fit", *TINY_QUICKSTART], tmp_path)
    first = tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt"
    before = digest(first)
    run_step("fit + test, TensorBoard, 2nd run in the same folder", ["fit", *TINY_QUICKSTART], tmp_path)
    assert digest(first) == before  # the second run writes into a folder of its own
    for version in ("version_0", "version_1"):
        log_dir = tmp_path / "runs/quickstart" / version
        assert (log_dir / "checkpoints" / "last.ckpt").is_file() and (log_dir / "config.yaml").is_file()
        assert (log_dir / "ced" / "test.csv").is_file()
        events = EventAccumulator(str(log_dir))
        events.Reload()
        assert {"val/overlays", "test/ced/test"} <= set(events.Tags()["images"])


def test_wandb_offline_twice_in_the_same_folder(tmp_path):
    """The one-flag switch to W&B; the second run used to die on the first run's ced/test.csv."""
    pytest.importorskip("wandb")
    for ordinal in ("1st", "2nd"):
        run_step(
            f"fit + test, --trainer.logger WandbLogger, {ordinal} run",
            ["fit", *TINY_QUICKSTART, "--trainer.logger", "WandbLogger"],
            tmp_path,
        )
    runs = sorted(tmp_path.glob("runs/quickstart/version_*/wandb/offline-run-*"))
    assert [run.parents[1].name for run in runs] == ["version_0", "version_1"]  # each W&B run in its run's folder
    assert not (tmp_path / "wandb").exists()
    for run in runs:
        assert (run.parents[1] / "checkpoints" / "last.ckpt").is_file() and (run / "files" / "config.yaml").is_file()
        assert (run / "files" / "ced" / "test.csv").is_file()
        assert list(run.glob("files/media/images/val/overlays_*.png"))
        assert list(run.glob("files/media/images/test/ced/test_*.png"))
