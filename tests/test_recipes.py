"""The shipped recipes validate on held-out training data and crop each dataset the way its protocol does."""

import importlib
from pathlib import Path

import pytest
import torch
import yaml

import facexformer

CONFIGS = sorted((Path(facexformer.__file__).parent / "configs").glob("*.yaml"))
TEST_SPLITS = {"test", "full", "common", "challenge", "frontal"}


def _build(spec: dict):
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**spec.get("init_args", {}))


def _data(path: Path) -> dict:
    return yaml.safe_load(path.read_text()).get("data", {})


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_validation_never_uses_a_test_split(path):
    data = _data(path)
    for name, spec in (data.get("val") or {}).items():
        args = spec.get("init_args", {})
        if spec["class_path"].endswith("HeldOut"):
            assert args["part"] == "held_out", (path.name, name)
            inner = args["dataset"]["init_args"]
            twin = [s for s in data["train"].values() if s.get("init_args", {}).get("dataset") == args["dataset"]]
            assert inner["split"] == "train" and len(twin) == 1, (path.name, name)
            train_args = twin[0]["init_args"]
            assert train_args["part"] == "train", (path.name, name)
            for key in ("fraction", "seed", "group_pattern"):
                assert train_args.get(key) == args.get(key), (path.name, name, key)
        else:
            assert args.get("split") not in TEST_SPLITS, (path.name, name, args.get("split"))


def test_paper_recipe_head_pose_crop_is_6drepnet_evaluation_crop():
    crops = _data(Path(facexformer.__file__).parent / "configs" / "paper_multitask.yaml")["crops"]
    crop = _build(crops["w300lp_held_out"])
    image = torch.zeros(3, 400, 400, dtype=torch.uint8)
    # 6DRepNet on the pt2d box (100, 100, 200, 200), k = 0.2, each line using the already moved edges:
    # x_min 60, y_min 60, x_max 200 + 0.4 * 140 = 256, y_max 200 + 0.12 * 140 = 216.8; Resize(256) scales the
    # shorter side (156.8) and CenterCrop(224) keeps a centred square of 224 / 256 * 156.8 = 137.2 original
    # pixels about (158, 138.4): edges 89.4, 69.8, 226.6, 207.0.
    region = crop.crop_for({"image": image, "box": torch.tensor([100.0, 100.0, 200.0, 200.0])}).region
    assert region == (89, 69, 137, 138)
    biwi = _build(crops["biwi"])
    assert biwi.channels == "bgr" and biwi.box_source == "image"
    assert biwi.crop_for({"image": torch.zeros(3, 64, 64, dtype=torch.uint8), "box": torch.zeros(4)}).region == (
        4,
        4,
        56,
        56,
    )  # 224 / 256 of the 64-px FSA-Net crop, centred
    assert _build(crops["celebamask_hq"]).box_source == "image"


def _checkpoint_specs(path: Path) -> list[dict]:
    callbacks = yaml.safe_load(path.read_text()).get("trainer", {}).get("callbacks", [])
    return [c for c in callbacks if isinstance(c, dict) and c["class_path"].endswith("Checkpoint")]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_killed_run_leaves_last_ckpt_after_its_first_epoch(path, tmp_path):
    """``--ckpt_path last`` resumes an interrupted run: the shipped checkpoint callback writes ``last.ckpt`` at
    the end of every epoch, not only when training ends (Lightning writes it only with a top-k save)."""
    from lightning import Trainer
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.cli import instantiate_class
    from lightning.pytorch.demos.boring_classes import BoringModel

    seen = []

    class Look(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            seen.append((trainer.current_epoch, (tmp_path / "ckpt" / "last.ckpt").is_file()))

    for spec in _checkpoint_specs(path):
        seen.clear()
        # the toy model logs no metric: a monitored callback keeps its top-k rule, ranked by recency here
        args = {**spec["init_args"], "dirpath": tmp_path / "ckpt", "monitor": None, "mode": "min"}
        checkpoint = instantiate_class((), {"class_path": spec["class_path"], "init_args": args})
        trainer = Trainer(
            max_epochs=2,
            limit_train_batches=2,
            limit_val_batches=1,
            logger=False,
            callbacks=[checkpoint, Look()],
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
        )
        trainer.fit(BoringModel())
        assert seen == [(0, False), (1, True)], path.name
