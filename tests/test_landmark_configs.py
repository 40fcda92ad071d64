"""The landmark recipes run end to end on tiny datasets laid out as the real downloads (built from the real
samples in ../shared), with a tiny backbone."""

import shutil
from pathlib import Path

import pytest
import torch

from facexformer import FaceXFormer
from facexformer.apps.cli import main

TINY_MODEL = [
    "--model.backbone",
    "test_convnext",
    "--model.backbone_pretrained",
    "false",
    "--model.image_size",
    "64",
    "--model.dim",
    "32",
    "--model.decoder_mlp_dim",
    "64",
    "--data.crop.init_args.size",
    "64",
    "--data.batch_size",
    "2",
    "--data.num_workers",
    "0",
    "--trainer.accelerator",
    "cpu",
]
W300_FOLDERS = ("afw", "helen/trainset", "helen/testset", "lfpw/trainset", "lfpw/testset", "ibug")


@pytest.fixture
def data_root(shared_dir, tmp_path, monkeypatch):
    """A working directory with data/300W (every split folder holds the two real 300W faces) and data/WFLW."""
    samples = shared_dir / "reference" / "landmarks" / "samples"
    for folder in W300_FOLDERS:
        shutil.copytree(samples / "300w" / "01_Indoor", tmp_path / "data" / "300W" / folder)
    shutil.copytree(samples / "wflw", tmp_path / "data" / "WFLW")
    lists = tmp_path / "data" / "WFLW" / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    shutil.copy(lists / "list_98pt_rect_attr_test.txt", lists / "list_98pt_rect_attr_train.txt")
    test_list = lists / "list_98pt_rect_attr_test.txt"
    test_list.unlink()  # a copy of the read-only original: raise every attribute flag so each subset has faces
    lines = [line.split() for line in (lists / "list_98pt_rect_attr_train.txt").read_text().splitlines()]
    test_list.write_text("".join(" ".join(f[:200] + ["1"] * 6 + f[206:]) + "\n" for f in lines))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["landmarks_300w_wing", "landmarks_300w_star", "landmarks_wflw_star"])
def test_training_recipes_fit_and_test_per_subset(name, data_root):
    cli = main(
        [
            "fit",
            "--config",
            name,
            *TINY_MODEL,
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "1",
            "--trainer.limit_val_batches",
            "1",
        ]
    )
    metrics = cli.trainer.callback_metrics
    subsets = ("common", "challenge", "full") if "300w" in name else ("test", "pose", "blur")
    for subset in subsets:
        assert f"test/{subset}/landmarks/nme" in metrics, sorted(metrics)


def test_released_evaluation_writes_ced_per_subset(data_root):
    FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).save_pretrained("weights")
    cli = main(["test", "--config", "eval_released_300w", *TINY_MODEL, "--model.init_weights", "weights"])
    metrics = cli.trainer.callback_metrics
    for subset in ("common", "challenge", "full"):
        for metric in ("nme", "fr", "auc"):
            assert f"test/{subset}/landmarks/{metric}" in metrics
    curves = sorted(p.name for p in Path(cli.trainer.log_dir, "ced").glob("*.csv"))
    assert curves == ["challenge.csv", "common.csv", "full.csv"]


#: the configs' 16-mixed has no CPU autocast; the nearest that runs on a CPU: bf16-mixed
CPU_PRECISION = dict.fromkeys(("study_300w_wing", "study_300w_star", "study_300w_released"), "bf16-mixed")


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    """data/300W with every folder of the download at its real size (the study's 7,674 images need them all)."""
    from tests.w300_files import write_300w

    root = tmp_path_factory.mktemp("study")
    write_300w(root / "data" / "300W")
    return root


def _limits(train: int) -> list[str]:
    limits = ["--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2"]
    return ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", str(train), *limits]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["study_300w_wing", "study_300w_star"])
def test_study_recipes_train_on_the_mirrored_split(name, study_root, monkeypatch):
    monkeypatch.chdir(study_root)
    precision = ["--trainer.precision", CPU_PRECISION[name]]
    cli = main(["fit", "--config", name, *TINY_MODEL, *precision, "--model.backbone_pretrained", "false", *_limits(3)])
    datamodule, trainer = cli.datamodule, cli.trainer
    assert {stage: len(next(iter(datamodule.datasets[stage].values()))) for stage in ("train", "val", "test")} == {
        "train": 6000,
        "val": 666,
        "test": 1008,
    }
    assert trainer.global_step == 3 and trainer.precision == CPU_PRECISION[name]
    best = trainer.checkpoint_callback  # chose by the validation NME (on the 666)
    assert best.monitor == "val/landmarks/nme" and torch.isfinite(best.best_model_score)
    assert torch.isfinite(trainer.callback_metrics["test/landmarks/nme"])  # on the 1,008
    assert cli.model.hparams.lr == 1e-4 and list(cli.model.hparams.milestones) == [6, 10]


def test_study_released_scores_the_same_test_images(study_root, monkeypatch):
    monkeypatch.chdir(study_root)
    FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).save_pretrained("weights")
    precision = ["--trainer.precision", CPU_PRECISION["study_300w_released"]]
    limit = ["--trainer.limit_test_batches", "2"]
    cli = main(
        ["test", "--config", "study_300w_released", *TINY_MODEL, *precision, *limit, "--model.init_weights", "weights"]
    )
    assert len(cli.datamodule.datasets["test"]["w300_study"]) == 1008
    assert torch.isfinite(cli.trainer.callback_metrics["test/landmarks/nme"])
