"""A newcomer's first day (issue 23, items 9-12): each case the issue lists, with its expected verdict.

Verdicts: "documented" (the docs say it), "clear error" (exit 2, one message naming the option or file and the
way out), "exact result" (the output is what the case asks for), "not shown" (a notice the user cannot act on
is gone). Cases still open are ``xfail(strict=True)``: they fail the suite once fixed, so the mark is removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image

from facexformer import FaceXFormer
from facexformer.apps.cli import main
from facexformer.apps.cli_parsing import UserError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "fixtures" / "shared" / "reference" / "landmarks" / "samples"


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "tiny"
    FaceXFormer(
        tasks=["landmarks", "gender"], backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64
    ).save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------------------- item 9
def test_9_install_docs_say_how_to_get_cpu_wheels():  # documented
    text = (ROOT / "docs" / "install.md").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in text


def test_9_export_without_onnx_names_the_export_extra(tiny_model_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as in the base install: `import onnx` fails
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--checkpoint", str(tiny_model_folder), "--format", "onnx", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2  # clear error
    assert 'pip install "facexformer[export]"' in err and "No module named" not in err
    assert not (tmp_path / "m").exists()


def test_9_export_prints_no_failure_line_or_dynamo_warning(tiny_model_folder, tmp_path, capfd):
    """torch.onnx traces the network as built (the CPU speed-ups are a step export does not take), so its first
    attempt succeeds: no red failure line, no dynamo side-effect warning."""
    pytest.importorskip("onnxscript")
    main(["export", "--checkpoint", str(tiny_model_folder), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    out, err = capfd.readouterr()
    assert (tmp_path / "m.onnx").is_file()
    assert "❌" not in out + err and "side effects" not in out + err


# ------------------------------------------------------------------------------------------------ item 10
def test_10_a_run_may_not_write_into_the_folder_of_the_weights_it_starts_from(tmp_path):  # clear error
    from facexformer.apps.lightning_cli import check_own_folder

    folder = tmp_path / "runs" / "quickstart" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "last.ckpt").write_bytes(b"")
    callbacks = [ModelCheckpoint(dirpath=str(folder))]
    with pytest.raises(UserError, match="lies in this run's checkpoint folder"):
        check_own_folder(str(folder / "last.ckpt"), callbacks)
    check_own_folder(str(folder / "last.ckpt"), [ModelCheckpoint(dirpath=str(tmp_path / "finetune"))])
    check_own_folder("kartiknarayan/facexformer", callbacks)  # a Hub id is no folder of this run


def test_10_each_run_has_its_own_folder_and_a_resume_says_which_file_last_is(tmp_path, capsys):  # exact result
    """A fine-tune (another config) never writes into the quickstart's folders; `--ckpt_path last` resumes the
    newest quickstart run in its own folder and prints the file. The same with the installed command:
    tests/workflows/test_run_folders.py."""
    import os

    import lightning as L

    from facexformer.training.run_folders import place_run

    root = tmp_path / "runs" / "quickstart"
    for version, age in ((0, 2), (1, 1)):
        last = root / f"version_{version}" / "checkpoints" / "last.ckpt"
        last.parent.mkdir(parents=True)
        last.write_bytes(b"")
        os.utime(last, (1000 + age, 1000 + age))

    def trainer(config: str) -> L.Trainer:
        callbacks = [ModelCheckpoint(save_last=True)]
        return L.Trainer(default_root_dir=tmp_path / "runs" / config, logger=False, callbacks=callbacks)

    finetune = trainer("finetune_landmarks_head")
    place_run(finetune, None, fitting=True, default_logger=True)
    assert finetune.checkpoint_callback.dirpath == str(tmp_path / "runs/finetune_landmarks_head/version_0/checkpoints")
    resumed = trainer("quickstart")
    newest = root / "version_0" / "checkpoints" / "last.ckpt"
    assert place_run(resumed, "last", fitting=True, default_logger=True) == str(newest)
    assert capsys.readouterr().out == f"--ckpt_path last: resuming from {newest}\n"
    assert resumed.checkpoint_callback.dirpath == str(newest.parent)  # Lightning resumes from that very file


def test_10_wandb_config_goes_into_the_wandb_run_folder(tmp_path, monkeypatch):  # exact result
    pytest.importorskip("wandb")
    from lightning.pytorch.loggers import WandbLogger

    from facexformer.apps.lightning_cli import SaveConfigInRunFolder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(offline=True, save_dir=str(tmp_path))
    saved = {}
    parser = SimpleNamespace(save=lambda config, path, **kwargs: saved.setdefault("path", Path(path)))
    callback = SaveConfigInRunFolder(parser, Namespace(a=1))
    callback.run_folder = tmp_path / "runs" / "quickstart" / "version_0"
    strategy = SimpleNamespace(broadcast=lambda value: value)
    callback.setup(SimpleNamespace(loggers=[logger], is_global_zero=True, strategy=strategy), None, "fit")
    logger.experiment.finish()
    assert saved["path"].name == "config.yaml" and saved["path"].parent == Path(logger.experiment.dir)
    assert not (tmp_path / "config.yaml").exists()


def test_10_infer_on_a_folder_with_images_only_in_sub_folders_points_to_recursive(tmp_path, capsys):  # clear error
    (tmp_path / "photos" / "trip").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "trip" / "a.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["infer", str(tmp_path / "photos"), "--checkpoint", "m.ckpt", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "1 in sub-folders: add --recursive true" in err


def test_10_infer_says_where_the_results_are(tiny_model_folder, tmp_path, capsys):  # exact result
    Image.new("RGB", (64, 64), (120, 90, 60)).save(tmp_path / "face.png")
    out = tmp_path / "preds"
    args = ["infer", str(tmp_path / "face.png"), "--checkpoint", str(tiny_model_folder), "--out", str(out)]
    main([*args, "--detector", "none", "--workers", "0", "--overlay", "false"])
    err = capsys.readouterr().err
    assert f"1 written, 0 skipped, 0 failed; results in {out}/" in err
    assert json.loads((out / "face.json").read_text())["faces"]


def test_10_lightning_prints_no_second_metric_table():  # exact result: verbose=False reaches Lightning
    from facexformer.apps.lightning_cli import FaceXFormerCLI

    calls = []
    trainer = SimpleNamespace(test=lambda **kw: calls.append(kw), validate=lambda **kw: calls.append(kw))
    cli = SimpleNamespace(trainer=trainer, collectives_bounded=contextlib.nullcontext)
    FaceXFormerCLI.test(cli, model=None, verbose=True)
    FaceXFormerCLI.validate(cli, model=None)
    assert [call["verbose"] for call in calls] == [False, False]


def test_10_configure_callbacks_override_notice_is_not_shown(caplog):  # not shown
    from lightning.pytorch.utilities import rank_zero_info

    from facexformer.apps.lightning_cli import quiet_lightning_notices

    quiet_lightning_notices()
    with caplog.at_level(logging.INFO):
        rank_zero_info(
            "The following callbacks returned in `LightningModule.configure_callbacks` will override existing "
            "callbacks passed to Trainer: ModelCheckpoint"
        )
        rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        rank_zero_info("an ordinary notice")
    assert [r.getMessage() for r in caplog.records] == ["an ordinary notice"]


def test_10_a_log_file_gets_one_progress_update_per_epoch(monkeypatch):  # exact result
    from lightning.pytorch.callbacks import TQDMProgressBar

    from facexformer.apps.cli import run_lightning_cli
    from facexformer.apps.lightning_cli import LOG_REFRESH_RATE, FaceXFormerCLI
    from tests.cli_args import TINY_MODEL

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.setattr(FaceXFormerCLI, "before_fit", lambda self: None)
    synthetic = str(ROOT / "tests" / "conf" / "synthetic_data.yaml")
    monkeypatch.setattr(
        FaceXFormerCLI, "_run_subcommand", lambda self, subcommand: None
    )  # build everything, run nothing
    cli = run_lightning_cli(["fit", "--data", synthetic, *TINY_MODEL, "--trainer.logger", "false"])
    bar = cli.trainer.progress_bar_callback
    assert isinstance(bar, TQDMProgressBar) and bar.refresh_rate == LOG_REFRESH_RATE


# ------------------------------------------------------------------------------------------------ item 11
def test_11_landmark_dots_stay_apart_on_a_small_face_of_a_sample_photo():  # exact result
    from facexformer.inference.visualize import draw_landmarks

    expected = json.loads((SAMPLES / "expected.json").read_text())["wflw"]
    name, entry = next((k, v) for k, v in expected.items() if "Football" in k)
    photo = Image.open(next(SAMPLES.glob(f"wflw/WFLW_images/**/{Path(name.split(':', 1)[1]).name}"))).convert("RGB")
    points = np.asarray(entry["landmarks"], float)  # a face of about 80 px in a 1024-px photo
    drawn = np.asarray(draw_landmarks(np.zeros_like(np.asarray(photo)), points))
    green = int((drawn == (0, 255, 0)).all(-1).sum())
    assert green / len(points) <= 9  # one-pixel dots: 98 points do not merge into a blob


def test_11_captions_are_not_cut_at_the_right_border():  # exact result
    from facexformer.tasks.drawing import CAPTION_COLOUR, Overlay

    overlay = Overlay(Image.new("RGB", (120, 100), (255, 255, 255)))
    overlay.caption((100.0, 50.0, 119.0, 99.0), "female white")
    yellow = (np.asarray(overlay.render()) == CAPTION_COLOUR).all(-1)
    assert yellow.any() and np.flatnonzero(yellow.any(0)).max() < 119


def test_11_the_validation_grid_is_large_enough_to_judge():  # exact result
    from facexformer.training.image_logging import GRID_CELL, grid_scale

    assert 64 * grid_scale(64) >= GRID_CELL >= 224 and grid_scale(256) == 1


def test_11_docs_say_heatmap_models_return_heatmaps_and_how_to_decode_them():  # documented
    readme = " ".join((ROOT / "README.md").read_text().split())
    inference = (ROOT / "docs" / "inference.md").read_text()
    assert "returns heatmaps instead" in readme
    assert "onnxruntime.InferenceSession" in inference and "def decode_landmarks" in inference


# ------------------------------------------------------------------------------------------------ item 12
@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--trainer.max_epoch", "did you mean --trainer.max_epochs"),
        ("--trainer.gpus", "use --trainer.accelerator gpu --trainer.devices N"),
    ],
)
def test_12_likely_typos_get_a_suggestion(option, expected, capsys):  # clear error
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "quickstart", option, "1"])
    assert exit_info.value.code == 2 and expected in capsys.readouterr().err


def test_12_finetune_without_data_and_hub_reports_both_at_once(tmp_path, monkeypatch, capsys):  # clear error
    from huggingface_hub import constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "finetune_landmarks_head"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "data/300W does not exist" in err and "--model.init_weights: cannot get 'ckpts/model.pt'" in err
