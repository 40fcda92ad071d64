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
        elif spec["class_path"].endswith("RandomSplit"):  # a part of one seeded split that the test part is not
            assert args["part"] == "val", (path.name, name)
            others = [s["init_args"] for stage in ("train", "test") for s in (data.get(stage) or {}).values()]
            assert {o["part"] for o in others} == {"train", "test"}, (path.name, name)
            for key in ("dataset", "sizes", "seed", "keep_mirrors_together"):
                assert all(o.get(key) == args.get(key) for o in others), (path.name, name, key)
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


def _header(path: Path) -> str:
    """The config's leading comment block, one line."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _specs(data: dict, stage: str) -> list[dict]:
    return list((data.get(stage) or {}).values())


def _check_split(config: dict, match) -> None:
    sizes = dict(zip(("train", "val", "test"), (int(_number(g)) for g in match.groups()), strict=True))
    data = config["data"]
    stages = [stage for stage in ("train", "val", "test") if data.get(stage)]
    assert stages
    for stage in stages:
        for spec in _specs(data, stage):
            assert spec["class_path"].endswith("RandomSplit"), stage
            assert spec["init_args"]["sizes"] == sizes and spec["init_args"]["part"] == stage
    pools = [spec["init_args"]["dataset"] for stage in stages for spec in _specs(data, stage)]
    seeds = {spec["init_args"]["seed"] for stage in stages for spec in _specs(data, stage)}
    assert all(pool == pools[0] for pool in pools) and len(seeds) == 1  # one pool, one seed: disjoint parts


def _check_held_out(config: dict, match) -> None:
    held = [
        s for stage in ("train", "val") for s in _specs(config["data"], stage) if s["class_path"].endswith("HeldOut")
    ]
    assert held and all(s["init_args"]["fraction"] == _number(match[1]) / 100 for s in held)


def _crop_sizes(config: dict) -> set[int]:
    data = config["data"]
    crops = [data["crop"], *(data.get("crops") or {}).values()]
    return {c["init_args"]["size"] for c in crops if c}


#: header phrase -> what the config's values must then be (trainer, model, data sections as written)
CLAIMS = {
    r"\b(\d+) epochs": lambda c, m: c["trainer"]["max_epochs"] == int(m[1]),
    r"\bbatch (\d+)": lambda c, m: c["data"]["batch_size"] == int(m[1]),
    r"\bat epochs (\d+) and (\d+)": lambda c, m: c["model"]["milestones"] == [int(m[1]), int(m[2])],
    r"\blr (\d[\d.e-]*\d)": lambda c, m: c["model"]["lr"] == _number(m[1]),
    r"\bweight decay (\d[\d.e-]*\d)": lambda c, m: c["model"]["weight_decay"] == _number(m[1]),
    r"\bprecision ([\w-]+)": lambda c, m: c["trainer"].get("precision", "32-true") == m[1],
    r"\b(\d+) GPUs": lambda c, m: c["trainer"]["devices"] == int(m[1]),
    r"\b(\d+) px": lambda c, m: c["model"].get("image_size", 224) == int(m[1]) and _crop_sizes(c) == {int(m[1])},
    r"([\d,]+) train / ([\d,]+) validation / ([\d,]+) test": lambda c, m: _check_split(c, m) is None,
    r"\bseeded (\d+)% held out": lambda c, m: _check_held_out(c, m) is None,
    r"\bXavier-uniform": lambda c, m: c["model"]["scratch_init"] == "xavier_uniform",
    r"torchvision's ImageNet-1k swin_b weights": lambda c, m: (
        c["model"]["backbone"] == "swin_base_patch4_window7_224"
        and c["model"]["backbone_pretrained"] == "torchvision:IMAGENET1K_V1"
    ),
    r"backbone timm's (\w+) weights": lambda c, m: (
        c["model"]["backbone"] == m[1] and c["model"]["backbone_pretrained"] is True
    ),
}
#: the training recipes must state these in their header, so that the claims cannot silently go
RECIPES = {p.stem for p in CONFIGS if p.stem.startswith(("study_300w_wing", "study_300w_star", "landmarks_", "paper_"))}
REQUIRED = (r"\b(\d+) epochs", r"\bbatch (\d+)", r"\bat epochs (\d+) and (\d+)", r"\bprecision ([\w-]+)")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_header_claims_match_the_values(path):
    import re

    header, config = _header(path), yaml.safe_load(path.read_text())
    found = {pattern: list(re.finditer(pattern, header)) for pattern in CLAIMS}
    for pattern, matches in found.items():
        for match in matches:
            assert CLAIMS[pattern](config, match), f"{path.name}: header says {match[0]!r}, the values differ"
    if path.stem in RECIPES:
        missing = [pattern for pattern in REQUIRED if not found[pattern]]
        assert not missing, f"{path.name}: the header does not state {missing}"


def test_header_claims_catch_a_changed_value(tmp_path):
    """The check is live: a study config with another epoch count, split or precision fails it."""
    source = next(p for p in CONFIGS if p.stem == "study_300w_wing").read_text()
    for old, new in (
        ("max_epochs: 12", "max_epochs: 60"),
        (
            "val: 666, test: 1008}\n        seed: 0\n        keep_mirrors_together: false\n  test",
            "val: 665, test: 1009}\n        seed: 0\n        keep_mirrors_together: false\n  test",
        ),
        ("precision: 16-mixed", "precision: 32-true"),
        ("milestones: [6, 10]", "milestones: [6, 9]"),
    ):
        assert old in source
        changed = tmp_path / "study_300w_wing.yaml"
        changed.write_text(source.replace(old, new, 1))
        with pytest.raises(AssertionError):
            test_header_claims_match_the_values(changed)
