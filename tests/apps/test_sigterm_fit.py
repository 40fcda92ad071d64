"""SIGTERM ends a 2-process ``facexformer fit`` (gloo): every process gone at once, exit status 143, no "finished"
message, and the ``last.ckpt`` written before the signal loads."""

import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import psutil
import pytest

from facexformer import FaceXFormer
from facexformer.apps.lightning_cli import FaceXFormerCLI
from facexformer.apps.sigterm import EXIT_STATUS, EndOnSigterm
from facexformer.data import MultiTaskDataModule, SyntheticFaces
from facexformer.training.collective_timeout import DEFAULT_TIMEOUT_S
from tests.processes import assert_group_ends, launched

CONFIG = str(Path(__file__).parents[1] / "conf" / "tiny_multitask.yaml")


@pytest.mark.slow
def test_sigterm_ends_every_rank_of_a_ddp_fit_and_leaves_a_loadable_last_ckpt(tmp_path):
    args = ["fit", "--config", CONFIG, "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    args += ["--trainer.max_epochs", "1000", "--trainer.default_root_dir", str(tmp_path), "--trainer.timeout", "120"]
    # the shipped configs' checkpointing: last.ckpt after every step
    args += ["--trainer.callbacks+=facexformer.training.checkpointing.ResumableCheckpoint"]
    args += ["--trainer.callbacks.dirpath", str(tmp_path / "checkpoints"), "--trainer.callbacks.save_last=true"]
    args += ["--trainer.callbacks.last_every_n_train_steps=1"]
    last = tmp_path / "checkpoints" / "last.ckpt"
    with launched(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as launcher:
        deadline = time.monotonic() + 240
        while not last.exists():
            assert launcher.poll() is None, "fit ended before SIGTERM was sent"
            assert time.monotonic() < deadline, "no last.ckpt within 240 s"
            time.sleep(0.2)
        time.sleep(1.0)  # training goes on, writing last.ckpt again at every step
        assert launcher.poll() is None, "fit ended before SIGTERM was sent"
        ranks = psutil.Process(launcher.pid).children(recursive=True)
        assert ranks, "rank 1 is not running"
        sent = time.monotonic()
        launcher.send_signal(signal.SIGTERM)
        out, err = launcher.communicate(timeout=30)
        ended = time.monotonic() - sent
        assert_group_ends(launcher.pid, 30)
    assert launcher.returncode == EXIT_STATUS, err[-3000:]
    assert ended < 10, f"the launcher took {ended:.1f} s to end"
    assert "facexformer fit: stopped by SIGTERM" in err
    assert "Checkpoint:" not in out and "stopped: `max_epochs" not in err  # no "finished" message
    model = FaceXFormer.from_pretrained(str(last))
    assert model.task_names == ["landmarks", "headpose", "gender", "parsing", "visibility"]


class HandlerProbe(L.Callback):
    """Records the SIGTERM handler in force at each batch of each loop."""

    def __init__(self):
        self.seen: dict[str, object] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen["train"] = signal.getsignal(signal.SIGTERM)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen.setdefault("sanity" if trainer.sanity_checking else "validate", signal.getsignal(signal.SIGTERM))

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen["test"] = signal.getsignal(signal.SIGTERM)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen["predict"] = signal.getsignal(signal.SIGTERM)


def test_end_on_sigterm_replaces_lightnings_handler_in_every_loop(tiny_kwargs, tmp_path):
    """Lightning installs its own handler (which only notes the signal) when each loop is set up; EndOnSigterm
    takes the signal back in every loop, and the handler in force before it is restored at the end."""
    before = signal.getsignal(signal.SIGTERM)
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs)
    faces = SyntheticFaces(2, 64, seed=0, tasks=["landmarks", "gender"])
    data = MultiTaskDataModule(
        train={"t": faces}, val={"v": faces}, test={"t": faces}, predict={"p": faces}, batch_size=2
    )
    probe = HandlerProbe()
    with EndOnSigterm("facexformer fit") as sigterm:
        trainer = L.Trainer(
            accelerator="cpu",
            max_steps=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=1,
            callbacks=[sigterm, probe],
            default_root_dir=tmp_path,
        )
        sigterm.watch(trainer)
        trainer.fit(model, data)
        trainer.validate(model, data, verbose=False)
        trainer.test(model, data, verbose=False)
        trainer.predict(model, data)
    assert set(probe.seen) == {"sanity", "train", "validate", "test", "predict"}
    assert all(handler == sigterm.handle for handler in probe.seen.values()), probe.seen
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_cli_gives_its_timeout_and_sigterm_handling_to_the_trainer():
    before = signal.getsignal(signal.SIGTERM)
    args = ["--config", CONFIG, "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.timeout", "7"]
    cli = FaceXFormerCLI(FaceXFormer, MultiTaskDataModule, run=False, args=args)
    assert cli.trainer.strategy._timeout == timedelta(seconds=7)  # no public getter
    assert cli.sigterm in cli.trainer.callbacks and cli.sigterm.trainer is cli.trainer
    assert signal.getsignal(signal.SIGTERM) == before
    default = FaceXFormerCLI(FaceXFormer, MultiTaskDataModule, run=False, args=["--config", CONFIG])
    assert default.timeout == DEFAULT_TIMEOUT_S == 1800
