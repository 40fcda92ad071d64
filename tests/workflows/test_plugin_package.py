"""The example plugin package (``examples/plugin``), installed as the README's test command installs it, goes
through the command line with no extra flag: ``fit`` trains its task on the synthetic faces and reads its
dataset reader's files, ``test --ckpt_path``, ``infer`` and ``export`` open the checkpoint, and so does
``from_pretrained`` (``evaluate`` of a fit checkpoint: tests/workflows/test_checkpoint_chain.py)."""

from __future__ import annotations

import json
from pathlib import Path

import facexformer_smile  # noqa: F401 - the README's test command installs it (pip install -e examples/plugin)
import numpy as np
import pytest
from PIL import Image

from facexformer.data.synthetic import SyntheticFaces
from tests.cli_args import TINY_MODEL
from tests.workflows.steps import last_scalars, newest_log_dir, run_step


def smile_folder(root: Path) -> Path:
    """Four synthetic faces as PNG files and a ``val.csv`` with their smile labels, in ``SmileCSV``'s layout."""
    faces = SyntheticFaces(4, 64, seed=7, tasks=("expression",))
    rows = ["file,smiling"]
    for i in range(len(faces)):
        face = faces[i]
        Image.fromarray(face["image"].permute(1, 2, 0).numpy().astype(np.uint8)).save(root / f"face{i}.png")
        rows.append(f"face{i}.png,{int(face['expression'] == 1)}")
    (root / "val.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_the_example_plugin_goes_through_fit_infer_and_export(tmp_path):
    from facexformer import FaceXFormer
    from facexformer.tasks import TASKS

    assert TASKS["smiling"].__module__ == "facexformer_smile.smiling"  # found by its entry point
    smiles = smile_folder(tmp_path)
    data = {
        "batch_size": 4,
        "batches_per_epoch": 2,
        "train": {"synthetic": {"class_path": "facexformer.data.SyntheticFaces", "init_args": {"num_samples": 8}}},
        "val": {"smiles": {"class_path": "facexformer_smile.reader.SmileCSV", "init_args": {"root": str(smiles)}}},
    }
    data["train"]["synthetic"]["init_args"].update(size=64, seed=1)
    data["val"]["smiles"]["init_args"]["split"] = "val"
    data["test"] = data["val"]
    (tmp_path / "data.yaml").write_text(json.dumps(data))
    fit = [
        "fit",
        "--config",
        "quickstart",
        "--data",
        str(tmp_path / "data.yaml"),
        *TINY_MODEL,
        "--model.tasks",
        '["landmarks", "smiling"]',
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_val_batches",
        "1",
        "--data.num_workers",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--test_after_fit",
        "false",
    ]
    run_step("fit with the plugin's task and reader", fit, tmp_path)
    logged = last_scalars(newest_log_dir(tmp_path))
    assert "val/smiling/accuracy" in logged, sorted(logged)  # validated on the reader's files
    assert any(key.startswith("train/smiling/") for key in logged), sorted(logged)  # trained on synthetic faces
    (checkpoint,) = tmp_path.glob("runs/*/version_0/checkpoints/last.ckpt")
    test = ["test", *fit[1:], "--ckpt_path", str(checkpoint)]
    run_step("test --ckpt_path of the plugin's checkpoint", test, tmp_path)
    assert "test/smiling/accuracy" in last_scalars(newest_log_dir(tmp_path))

    out = tmp_path / "predictions"
    infer = ["infer", "--checkpoint", str(checkpoint), "--out", str(out), str(smiles / "face0.png")]
    run_step("infer with the plugin's task", [*infer, "--detector", "none", "--workers", "0"], tmp_path)
    record = json.loads((out / "face0.json").read_text())
    face = record["faces"][0]
    assert face["smiling"]["label"] in ("not smiling", "smiling") and len(face["landmarks"]) == 68

    export = ["export", "--checkpoint", str(checkpoint), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]
    run_step("export with the plugin's task", export, tmp_path)
    assert (tmp_path / "m.pt").stat().st_size > 0

    model = FaceXFormer.from_pretrained(checkpoint)
    assert model.task_names == ["landmarks", "smiling"]
