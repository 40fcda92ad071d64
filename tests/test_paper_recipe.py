"""The paper's multi-task recipe runs as written for a few steps: every dataset it names, generated in its real
layout under data/ (a few faces each, from the readers' own test helpers), with a tiny backbone on the CPU."""

import warnings

import numpy as np
import pytest
import torch

from facexformer.apps.cli import main
from facexformer.data.augment import FaceAugment
from tests.data.datasets import (
    test_celeba,
    test_celebamask_hq,
    test_cofw,
    test_expression,
    test_fairface,
    test_headpose,
    test_utkface,
)
from tests.w300_files import FULL_COUNTS, write_300w


@pytest.fixture
def paper_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    test_celebamask_hq.make_root(data / "CelebAMask-HQ", size=16)
    write_300w(data / "300W", dict.fromkeys(FULL_COUNTS, 4))
    for folder, flipped in (("AFW", "AFW_Flip"), ("HELEN", "HELEN_Flip")):
        for photo in range(25):  # 200 samples: 2% held out is one whole photo (2 poses, 2 mirrors)
            for pose in range(2):
                name = f"{folder}_{photo}_{pose}"
                points = np.array([[4.0, 30.0, 17.0], [5.0, 9.0, 30.0]])
                test_headpose.write_pair(data / "300W_LP" / folder, name, [5.0, 10.0, 2.0], points)
                test_headpose.write_pair(data / "300W_LP" / flipped, name, [5.0, -10.0, -2.0], points)
    (data / "BIWI").mkdir()
    test_headpose.make_biwi(data / "BIWI" / "BIWI_noTrack.npz", [[10.0, 5.0, 1.0], [-5.0, 2.0, 0.0]])
    test_celeba.make_root(data / "celeba")
    utk = test_utkface.make_root(data / "UTKFace", test_utkface.NAMES)
    names = test_utkface.NAMES
    (utk / "utk_train.csv").write_text(f",file,age\n0,{names[1]},4\n1,{names[2]},24\n")
    (utk / "utk_test.csv").write_text(f",file,age\n0,{names[2]},24\n")
    test_fairface.make_root(data / "fairface", test_fairface.ROWS)
    images, phis, boxes = test_cofw._content(4)
    (data / "COFW").mkdir()
    test_cofw._write_v5(data / "COFW" / "COFW_train_color.mat", images, phis, boxes, ("IsTr", "phisTr", "bboxesTr"))
    test_cofw._write_v5(data / "COFW" / "COFW_test_color.mat", images, phis, boxes)
    test_expression.make_raf(data / "RAF-DB", test_expression.RAF_LINES)
    test_expression.make_affectnet(data / "AffectNet", ["0", "1", "3", "6"])
    monkeypatch.chdir(tmp_path)
    return data


def test_paper_recipe_runs_as_written(paper_data):
    """Its datasets, crops, per-task augmentation, balanced batches and every test set, a few steps on a CPU."""
    tiny = ["--model.backbone", "test_convnext", "--model.backbone_pretrained", "false", "--model.image_size", "64"]
    tiny += ["--model.dim", "32", "--model.decoder_mlp_dim", "64", "--data.batch_size", "9", "--data.num_workers", "0"]
    crops = [f"--data.crops.{name}.init_args.size" for name in ("w300lp", "w300lp_held_out", "biwi", "celebamask_hq")]
    sizes = ["--data.crop.init_args.size", "64", *(arg for flag in crops for arg in (flag, "64"))]
    cpu = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.strategy", "auto"]
    short = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = main(["fit", "--config", "paper_multitask", *tiny, *sizes, *cpu, *short])
    assert cli.trainer.global_step == 2
    assert set(cli.datamodule.datasets["train"]) == {
        "celebamask_hq",
        "w300",
        "w300lp",
        "celeba",
        "utkface",
        "fairface",
        "cofw",
        "rafdb",
        "affectnet",
    }
    augment = FaceAugment.from_options(cli.model.tasks, cli.datamodule.augment_options)
    assert augment.override_tasks == ["headpose", "attributes", "age", "gender", "race", "expression", "visibility"]
    metrics = cli.trainer.callback_metrics
    for key in ("test/landmarks/nme", "test/headpose/mae", "test/parsing/f1", "test/expression/accuracy"):
        assert key in metrics, sorted(metrics)
    assert all(torch.isfinite(value) for key, value in metrics.items() if key.endswith(("/loss", "/nme", "/mae")))
