"""A backbone declared by an installed package (the example plugin's ``tiny_conv``) is used by its short name
wherever a timm name is: ``build_backbone``, ``FaceXFormer(backbone=...)``, a checkpoint that names it
(``from_pretrained``, no trust flag) and ``facexformer fit --model.backbone``."""

from __future__ import annotations

import subprocess
import sys

import lightning as L
import pytest
import torch
from facexformer_smile.backbone import TinyConv  # installed by the README's test command

from facexformer import FaceXFormer
from facexformer.data import SyntheticFaces, collate_multitask
from facexformer.io.class_paths import check_class_paths
from facexformer.io.errors import CheckpointError
from facexformer.model.backbone import build_backbone
from facexformer.plugins.backbones import backbone_names, declared_backbones
from tests.workflows.steps import TINY_QUICKSTART, run_step


def test_the_declared_backbones_are_found_by_name():
    assert {"timm", "tiny_conv"} <= set(backbone_names())
    assert declared_backbones()["tiny_conv"] is TinyConv


def test_a_fresh_process_builds_a_model_on_a_declared_backbone_by_name():
    """The look-up is installed by importing ``facexformer.plugins.backbones``, which ``FaceXFormer``'s imports do
    (through ``facexformer.io``): a process that imports nothing else still finds the name."""
    code = (
        "from facexformer import FaceXFormer\n"
        "model = FaceXFormer(tasks=['gender'], backbone='tiny_conv', image_size=64, dim=32, decoder_mlp_dim=64)\n"
        "print(type(model.net.backbone).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.split()[-1] == "TinyConv", done.stderr[-2000:]


def test_build_backbone_takes_a_declared_short_name():
    backbone = build_backbone("tiny_conv")
    assert isinstance(backbone, TinyConv) and backbone.channels == [16, 32, 64]
    narrow = build_backbone({"class_path": "tiny_conv", "init_args": {"width": 4}})
    assert narrow.channels == [4, 8, 16]
    maps = narrow(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 4, 16, 16), (1, 8, 8, 8), (1, 16, 4, 4)]


def test_an_unknown_name_lists_the_declared_backbones():
    with pytest.raises(ValueError, match=r"unknown backbone 'tiny_cnv': neither a timm model .*tiny_conv"):
        build_backbone("tiny_cnv")


def test_the_allow_list_takes_a_declared_backbone_name_as_the_backbones_class_path_only():
    check_class_paths({"backbone": {"class_path": "tiny_conv"}}, "m.ckpt")
    check_class_paths({"backbone": {"class_path": "facexformer_smile.backbone.TinyConv"}}, "m.ckpt")
    with pytest.raises(CheckpointError, match="refusing crop class path 'tiny_conv'"):
        check_class_paths({"crop": {"class_path": "tiny_conv"}}, "m.ckpt")


def test_a_model_on_a_declared_backbone_trains_and_reopens_by_name(tmp_path, tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", "smiling"], **{**tiny_kwargs, "backbone": "tiny_conv"})
    assert isinstance(model.net.backbone, TinyConv)
    assert model.normalization["mean"] == pytest.approx([0.5, 0.5, 0.5])  # the backbone's own normalisation
    faces = SyntheticFaces(4, 64, seed=0, tasks=["landmarks", "smiling"])
    batch = collate_multitask([faces[i] for i in range(4)])
    batch["image"] = batch["image"].float() / 255
    first = model.net.backbone.stages[0][0].weight
    before = first.detach().clone()
    optimizer = model.configure_optimizers()["optimizer"]
    loss = model.step(batch, "train")
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(first, before)

    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=0, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    model.eval().save_pretrained(tmp_path / "folder")
    images = model.normalize(batch["image"])
    with torch.no_grad():
        expected = model(images)
    for source in (tmp_path / "m.ckpt", tmp_path / "folder"):
        again = FaceXFormer.from_pretrained(source)  # names the backbone by its short name: no trust asked for
        assert again.hparams.backbone == "tiny_conv" and isinstance(again.net.backbone, TinyConv)
        with torch.no_grad():
            got = again(images)
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


@pytest.mark.slow
def test_fit_takes_a_declared_backbone_by_name(tmp_path):
    fit = ["fit", *TINY_QUICKSTART, "--model.backbone", "tiny_conv", "--model.tasks", '["landmarks", "smiling"]']
    fit += ["--trainer.limit_train_batches", "1", "--test_after_fit", "false"]
    run_step("fit on the plugin's backbone", fit, tmp_path)
    (checkpoint,) = tmp_path.glob("runs/quickstart/version_0/checkpoints/last.ckpt")
    model = FaceXFormer.from_pretrained(checkpoint)
    assert model.hparams.backbone == "tiny_conv" and isinstance(model.net.backbone, TinyConv)


def test_evaluate_scores_a_checkpoint_of_plugin_parts(tmp_path, tiny_kwargs):
    """``facexformer evaluate`` opens a checkpoint of a plugin task on a plugin backbone (no trust flag) and
    scores the tasks the benchmark carries (head pose on BIWI as downloaded, generated)."""
    from facexformer.apps.evaluate import evaluate, parse_args
    from tests.fake_data import biwi

    model = FaceXFormer(tasks=["headpose", "smiling"], **{**tiny_kwargs, "backbone": "tiny_conv"})
    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=0, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    root = biwi.write(tmp_path / "biwi")
    args = ["--benchmark", "biwi", "--root", str(root), "--checkpoint", str(tmp_path / "m.ckpt")]
    rows = evaluate(parse_args([*args, "--batch_size", "4", "--trainer.accelerator", "cpu"]))
    assert {row.metric for row in rows} >= {"MAE_yaw", "MAE_pitch", "MAE_roll"}
    assert all(row.task == "headpose" and row.faces == 3 and row.value is not None for row in rows)
