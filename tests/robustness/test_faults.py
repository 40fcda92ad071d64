"""Faults: a killed, full or read-only run loses nothing, leaves nothing running and nothing partial.

Each case states its verdict: ``exact`` (the result equals the undisturbed one), ``nothing left`` (no process,
no partial or hidden file survives), ``per-file error`` (that file reported, the others written, a summary and
exit code 1), ``clear error`` (one message naming the file), ``recovered`` (the previous state comes back).
The tests run as root, for whom ``chmod`` does not make a folder read-only: a read-only folder is simulated by
a write that raises ``PermissionError`` (EACCES), and a full disk by one that raises ``OSError(ENOSPC)``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import psutil
import pytest
import torch
from PIL import Image

from facexformer.apps import export, infer
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.io import atomic
from facexformer.io.errors import CheckpointError
from facexformer.module import FaceXFormer
from facexformer.training.checkpointing import BesideTargetCheckpointIO, ResumableCheckpoint
from tests.training.test_checkpointing import fit as boring_fit
from tests.workflows.steps import user_environment

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    return str(FaceXFormer(tasks=["landmarks", "gender"], **TINY).save_pretrained(tmp_path_factory.mktemp("m") / "m"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for index, sample in enumerate(SyntheticFaces(3, 64, seed=4, tasks=["landmarks"])):
        Image.fromarray(sample["image"].permute(1, 2, 0).numpy()).save(folder / f"face_{index}.png")
    return folder


# ------------------------------------------------------------------------- item 4: kill -9 of infer (nothing left)
@pytest.mark.slow
def test_kill_9_of_infer_ends_its_dataloader_workers(checkpoint: str, photos: Path, tmp_path: Path) -> None:
    """Verdict: nothing left. ``infer --workers 2`` on many large photos is killed with SIGKILL while its workers
    are busy; within 5 s no worker survives (they used to stay, blocked on their full result queue)."""
    many = tmp_path / "many"
    many.mkdir()
    Image.new("RGB", (1024, 1024), (120, 90, 60)).save(many / "p0000.png")
    for i in range(1, 400):
        os.link(many / "p0000.png", many / f"p{i:04d}.png")
    command = [sys.executable, "-m", "facexformer", "infer", str(many), "--checkpoint", checkpoint]
    command += ["--out", str(tmp_path / "out"), "--workers", "2", "--detector", "none", "--no-overlay"]
    process = subprocess.Popen(command, env=user_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[psutil.Process] = []
    try:
        parent = psutil.Process(process.pid)
        deadline = time.monotonic() + 120
        while len(parent.children()) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = parent.children()
        assert len(workers) >= 2, f"no workers started: {process.stderr.read().decode()[-2000:]}"
        time.sleep(2)  # the workers fill their result queue
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"{len(alive)} DataLoader worker(s) outlived the killed infer: {[p.pid for p in alive]}"
    finally:
        process.kill()
        for worker in workers:
            if worker.is_running():
                worker.kill()


# ----------------------------------------------------------------- items 6 and 7: full disk, read-only, long names
@pytest.fixture
def full_disk(tmp_path: Path):
    """A folder on a 256 KiB tmpfs filled to the last byte (a real full disk); skipped where mounting is not
    allowed (the monkeypatched cases below run everywhere)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): full disk is monkeypatched below")
    try:
        filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while os.write(filler, b"\0" * 512):
                pass
        os.close(filler)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "filler")


def test_infer_on_a_full_disk_reports_each_photo_and_leaves_nothing(checkpoint, photos, full_disk, capsys) -> None:
    """Verdict: per-file error. Each photo is an error naming the reason, the summary counts them, exit 1, and
    neither a JSON, an overlay nor a temporary file is left."""
    code = infer.main([str(photos), "--checkpoint", checkpoint, "--out", str(full_disk), "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("No space left on device") == 3 and "0 written, 0 skipped, 3 failed" in err
    assert outputs(full_disk) == []


def test_export_on_a_full_disk_is_one_line_and_leaves_no_partial_file(checkpoint, full_disk, capsys) -> None:
    """Verdict: clear error (was: a C++ stack and a partial file)."""
    target = full_disk / "model.pt"
    assert export.main(["--checkpoint", checkpoint, "--format", "torchscript", "--out", str(target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"facexformer export: error: cannot write {target}"), err
    assert outputs(full_disk) == []


def test_export_when_the_disk_fills_midway_leaves_no_partial_file(checkpoint, tmp_path, monkeypatch, capsys):
    """Verdict: clear error. The monkeypatched full disk: the write stops with ENOSPC after half the file."""

    def half_then_full(self, data):
        with open(self, "wb") as file:
            file.write(bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    target = tmp_path / "model.pt"
    assert export.main(["--checkpoint", checkpoint, "--format", "torchscript", "--out", str(target)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"facexformer export: error: cannot write {target}: No space left on device "
        "(is the disk full or the folder read-only?)"
    ]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES, "Permission denied")],
    ids=["full-disk", "read-only-folder"],
)
def test_infer_whose_writes_fail_reports_each_photo(checkpoint, photos, tmp_path, monkeypatch, capsys, error):
    """Verdict: per-file error. The monkeypatched full disk / read-only folder (root ignores chmod, so the folder
    cannot be made read-only for these tests): every temporary file fails to open."""

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    out = tmp_path / "out"
    code = infer.main([str(photos), "--checkpoint", checkpoint, "--out", str(out), "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 1 and err.count(error.strerror) == 3 and "0 written, 0 skipped, 3 failed" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_legal_254_character_photo_name(checkpoint, tmp_path, photos, capsys) -> None:
    """Verdict: exact without overlays (``NAME.json`` is 255 characters), per-file error with them
    (``NAME.overlay.png`` would be 262, over the 255-byte limit), nothing partial either way."""
    folder = tmp_path / "in"
    folder.mkdir()
    long = folder / ("n" * 250 + ".png")
    shutil.copy(photos / "face_0.png", long)
    shutil.copy(photos / "face_1.png", folder / "short.png")
    out = tmp_path / "out"
    code = infer.main([str(folder), "--checkpoint", checkpoint, "--out", str(out), "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 1 and "File name too long" in err and "1 written, 0 skipped, 1 failed" in err
    assert outputs(out) == ["short.json", "short.overlay.png"]
    code = infer.main([str(long), "--checkpoint", checkpoint, "--out", str(out), "--detector", "none", "--no-overlay"])
    assert code == 0 and (out / ("n" * 250 + ".json")).is_file()


def test_infer_and_export_files_get_the_umask_permissions(checkpoint, photos, tmp_path) -> None:
    """Verdict: exact. Under umask 022, files are 0644 (were 0600, the temporary file's mode)."""
    old = os.umask(0o022)
    try:
        assert infer.main([str(photos / "face_0.png"), "--checkpoint", checkpoint, "--out", str(tmp_path / "o")]) == 0
        assert (
            export.main(["--checkpoint", checkpoint, "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
        )
    finally:
        os.umask(old)
    written = [tmp_path / "o/face_0.json", tmp_path / "o/face_0.overlay.png", tmp_path / "m.pt"]
    assert [oct(stat.S_IMODE(p.stat().st_mode)) for p in written] == ["0o644"] * 3


# -------------------------------------------------------------------------- item 5: leftovers and interrupted saves
def test_infer_removes_and_names_the_temporary_files_a_killed_run_left(checkpoint, photos, tmp_path, capsys) -> None:
    """Verdict: nothing left. A kill during a write leaves ``.NAME.json.<random>.tmp``; the next run removes it
    and says so (other hidden files stay)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".face_0.json.ab12cd34.tmp").write_text('{"faces": [')
    (out / ".face_0.overlay.png.zz99yy88.tmp").write_bytes(b"\x89PNG" + b"\0" * 1000)
    (out / ".keep").write_text("the user's")
    assert infer.main([str(photos / "face_0.png"), "--checkpoint", checkpoint, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "removed .face_0.json.ab12cd34.tmp, an unfinished file a killed run left" in err
    assert outputs(out) == [".keep", "face_0.json", "face_0.overlay.png"]


def test_a_save_pretrained_killed_between_its_renames_is_recovered_by_from_pretrained(tmp_path) -> None:
    """Verdict: recovered. Without an atomic exchange, ``save_pretrained(overwrite=True)`` renames the old folder
    aside, then the new one into place; a kill in between leaves the folder missing and the previous model at
    ``.NAME.<random>.tmp.old`` (tests/io/test_atomic.py kills a real process there). ``from_pretrained`` (and the
    next ``save_pretrained``) puts it back, saying so."""
    torch.manual_seed(1)
    model = FaceXFormer(tasks=["gender"], **TINY)
    folder = model.save_pretrained(tmp_path / "model")
    os.replace(folder, tmp_path / ".model.k1ll3d00.tmp.old")
    with pytest.warns(UserWarning, match="restored the folder an interrupted save_pretrained had set aside"):
        restored = FaceXFormer.from_pretrained(folder)
    expected = model.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in restored.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# ------------------------------------------------------------------------- item 8: what infer does not read, counted
def test_infer_counts_gif_files_and_dangling_links_in_its_summary(checkpoint, photos, tmp_path, capsys) -> None:
    """Verdict: counted skip (they were ignored without a word)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos / "face_0.png", folder / "face.png")
    Image.new("RGB", (8, 8)).save(folder / "anim.gif")
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    (folder / "notes.txt").write_text("not a picture: not counted")
    assert infer.main([str(folder), "--checkpoint", checkpoint, "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "1 written, 0 skipped, 0 failed; results in " in err
    assert "/out/; not read: 1 .gif file (anim.gif), 1 dangling link (gone.png)" in err


# ------------------------------------------------------------- item 3: resume after an interrupted fit, in process
class Interrupted(Exception):
    """Raised to stop a fit the way a kill does (the in-process stand-in for SIGKILL)."""


class StopAtStep(L.Callback):
    """Abort the fit (an exception: no epoch end, no final checkpoint) when training step ``step`` starts."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise Interrupted


def _fit_tiny(folder: Path, stop: int | None = None, ckpt_path: str | None = None) -> L.Trainer:
    """2 epochs of 3 batches, one DataLoader worker, ``last.ckpt`` every 2 steps and at epoch ends (the
    quickstart's checkpoint callback, scaled down): saves at steps 2, 3 (epoch end), 4 and 6 (epoch end)."""
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "gender"], **TINY)
    faces = SyntheticFaces(12, 64, seed=1, tasks=["landmarks", "gender"], cache=True)
    data = MultiTaskDataModule(train={"s": faces}, batch_size=4, batches_per_epoch=3, num_workers=1, seed=3)
    checkpoint = ResumableCheckpoint(dirpath=folder, save_last=True, last_every_n_train_steps=2, save_top_k=1)
    callbacks = [checkpoint] + ([StopAtStep(stop)] if stop is not None else [])
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=folder.parent,
    )
    trainer.fit(model, data, ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize(
    "stop",
    [pytest.param(3, marks=pytest.mark.slow, id="after-epoch-end-save"), pytest.param(5, id="mid-epoch-1-worker")],
)
def test_an_interrupted_fit_resumed_from_last_equals_the_whole_fit(tmp_path: Path, stop: int) -> None:
    """Verdict: exact. Stopped at step 3 it resumes from the epoch end at step 3 (the whole next epoch used to be
    skipped); at step 5 from step 4, in epoch 1 with a DataLoader worker (epoch 0's order used to be replayed)."""
    whole = _fit_tiny(tmp_path / "whole")
    with contextlib.suppress(Interrupted):
        _fit_tiny(tmp_path / "stopped", stop=stop)
    resumed = _fit_tiny(tmp_path / "stopped", ckpt_path="last")
    assert resumed.global_step == whole.global_step == 6
    expected = whole.lightning_module.state_dict()
    different = [k for k, v in resumed.lightning_module.state_dict().items() if not torch.equal(v, expected[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


# ---------------------------------------------------------------------- item 5: a damaged or truncated last.ckpt
def test_a_truncated_last_ckpt_falls_back_to_the_newest_intact_checkpoint(tmp_path: Path) -> None:
    """Verdict: recovered, saying so. (A kill or a full disk no longer truncates it: it is written beside its
    target; a file damaged otherwise, e.g. copied half-way, is what this case makes.)"""
    folder = tmp_path / "ckpt"
    boring_fit(folder, max_epochs=1, save_top_k=1)
    last = folder / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=r"last.ckpt is damaged .*resuming from epoch=0-step=5.ckpt"):
        trainer, _ = boring_fit(folder, max_epochs=2, ckpt_path="last", save_top_k=1)
    assert trainer.global_step == 10


def test_a_damaged_last_ckpt_with_nothing_intact_is_one_clear_error(tmp_path: Path) -> None:
    """Verdict: clear error naming the file (was: a traceback from torch's zip reader)."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"last.ckpt is damaged .* no intact checkpoint to resume from"):
        boring_fit(folder, ckpt_path=str(folder / "last.ckpt"), save_top_k=0)


def test_the_command_line_reports_a_checkpoint_it_cannot_resume_from_in_one_line() -> None:
    """Verdict: clear error; ``facexformer fit`` turns the ``CheckpointError`` into a ``UserError``, which the
    console entry point prints as one line (exit code 2) instead of a traceback."""
    import contextlib
    from types import SimpleNamespace

    from facexformer.apps.cli_parsing import UserError
    from facexformer.apps.lightning_cli import FaceXFormerCLI

    def fit(**kwargs):
        raise CheckpointError("runs/x/checkpoints/last.ckpt is damaged and there is no intact checkpoint")

    with pytest.raises(UserError, match=r"^--ckpt_path: runs/x/checkpoints/last.ckpt is damaged"):
        cli = SimpleNamespace(trainer=SimpleNamespace(fit=fit), collectives_bounded=contextlib.nullcontext)
        FaceXFormerCLI.fit(cli, ckpt_path="last")


def test_a_checkpoint_on_a_full_disk_is_an_error_and_leaves_no_truncated_file(full_disk: Path) -> None:
    """Verdict: clear error, nothing partial (Lightning's writer left a truncated ``last.ckpt`` where the
    temporary folder was on another filesystem; torch's own file writer aborts the process on a full disk)."""
    with pytest.raises(OSError, match="No space left"):
        BesideTargetCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(100_000)}}, full_disk / "last.ckpt")
    assert outputs(full_disk) == []
