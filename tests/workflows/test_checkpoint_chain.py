"""A user's day with the files the CLI writes: ``fit`` -> its checkpoint -> ``test``, ``predict``,
``from_pretrained``, ``infer`` on real photos, ``export`` (ONNX, TorchScript), and a ``save_pretrained`` folder
through the same steps. Every command is the installed ``facexformer`` script in a subprocess."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from facexformer import FaceXFormer
from facexformer.apps.export import ExportWrapper
from facexformer.inference.predict import FacePrediction
from tests.workflows.steps import TINY_QUICKSTART, newest_log_dir, rerun_reproduces, run_step

PHOTOS = Path(__file__).resolve().parents[1] / "fixtures/shared/reference/landmarks/samples/300w/01_Indoor"
INFER_KEYS = {"source", "image_size", "checkpoint", "tasks", "faces"}


def test_fit_leaves_a_checkpoint_curves_pictures_and_the_next_step(fitted):
    assert fitted.checkpoint.is_file()
    assert f"Checkpoint: {fitted.checkpoint}" in fitted.stdout
    assert f"facexformer infer path/to/photo.jpg --checkpoint {fitted.checkpoint} --out predictions" in fitted.stdout
    assert fitted.stdout.rstrip().endswith("--out predictions")  # the last thing on the screen
    assert (fitted.log_dir / "ced" / "test.csv").is_file()
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(fitted.log_dir))
    events.Reload()
    assert {"val/overlays", "val/ced", "test/ced/test"} <= set(events.Tags()["images"])
    scalars = set(events.Tags()["scalars"])
    for task in ("landmarks/nme", "headpose/mae", "gender/accuracy", "parsing/f1", "expression/accuracy"):
        assert {f"val/{task}", f"test/{task}"} <= scalars


def test_from_pretrained_loads_the_cli_checkpoint(fitted):
    model = FaceXFormer.from_pretrained(fitted.checkpoint)
    saved = torch.load(fitted.checkpoint, map_location="cpu", weights_only=True)
    assert "_instantiator" in saved["hyper_parameters"]  # what LightningCLI stores, and used to break loading
    assert "_instantiator" not in model.hparams and not model.training
    own = model.state_dict()
    assert own.keys() == saved["state_dict"].keys()
    assert all(torch.equal(own[k], v) for k, v in saved["state_dict"].items())


def test_test_with_the_checkpoint_reproduces_the_test_after_fit(fitted):
    pytest.importorskip("tensorboard")
    rerun_reproduces(fitted, "test")


def test_predict_writes_one_json_per_face(fitted):
    done = run_step(
        "predict --ckpt_path last.ckpt (4 faces)",
        ["predict", *TINY_QUICKSTART, "--ckpt_path", str(fitted.checkpoint)],
        fitted.cwd,
    )
    folder = newest_log_dir(fitted.cwd) / "predictions"
    assert f"4 prediction files in {folder}" in done.stdout
    files = sorted(folder.glob("*.json"))
    assert len(files) == 4
    for path in files:
        record = json.loads(path.read_text())
        assert set(record) == INFER_KEYS and record["checkpoint"] == str(fitted.checkpoint)
        (face,) = [FacePrediction.from_dict(f) for f in record["faces"]]
        assert face.landmarks.shape == (68, 2) and np.isfinite(face.landmarks).all()
        assert face.parsing.shape == tuple(record["image_size"][::-1]) and face.expression is not None


def infer_on_photos(source: Path, cwd: Path, out: str) -> dict[str, dict]:
    """``facexformer infer`` on the two 300W photos with the model in ``source``: {photo stem: its JSON}."""
    run_step(
        f"infer 2 photos --checkpoint {source.name}",
        ["infer", str(PHOTOS), "--checkpoint", str(source), "--out", out],
        cwd,
    )
    photos = sorted(PHOTOS.glob("*.png"))
    assert len(photos) == 2
    records = {}
    for photo in photos:
        assert (cwd / out / f"{photo.stem}.overlay.png").is_file()
        records[photo.stem] = json.loads((cwd / out / f"{photo.stem}.json").read_text())
    return records


@pytest.fixture(scope="module")
def inferred(fitted) -> dict[str, dict]:
    return infer_on_photos(fitted.checkpoint, fitted.cwd, "photos_ckpt")


def test_infer_on_real_photos_with_the_checkpoint(inferred):
    for name, record in inferred.items():
        assert set(record) == INFER_KEYS and record["faces"], name
        width, height = record["image_size"]
        for face in map(FacePrediction.from_dict, record["faces"]):
            left, top, crop_w, crop_h = face.crop
            assert face.landmarks.shape == (68, 2)
            assert (face.landmarks >= (left - 1, top - 1)).all()
            assert (face.landmarks <= (left + crop_w, top + crop_h)).all()
            assert left >= 0 and top >= 0 and left + crop_w <= width and top + crop_h <= height


def exported_outputs(path: Path, images: torch.Tensor) -> list[np.ndarray]:
    if path.suffix == ".onnx":
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"images": images.numpy()})
    module = torch.jit.load(str(path))
    with torch.no_grad():
        return [t.numpy() for t in module(images)]


def export_and_compare(source: Path, cwd: Path) -> None:
    """``export`` both formats from ``source``; outputs equal PyTorch's within 1e-4 on a batch of 3."""
    model = FaceXFormer.from_pretrained(source)
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = [t.numpy() for t in ExportWrapper(model, model.task_names)(images)]
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        if fmt == "onnx":
            pytest.importorskip("onnx")
            pytest.importorskip("onnxscript")
        out = cwd / f"{source.stem}{suffix}"
        run_step(
            f"export --format {fmt} --checkpoint {source.name}",
            ["export", "--checkpoint", str(source), "--format", fmt, "--out", str(out)],
            cwd,
        )
        got = exported_outputs(out, images)
        assert len(got) == len(expected) == len(model.task_names)
        for name, a, b in zip(model.task_names, got, expected, strict=True):
            assert a.shape == b.shape, name
            assert float(np.abs(a - b).max()) <= 1e-4, (fmt, name)


def test_export_the_checkpoint(fitted):
    export_and_compare(fitted.checkpoint, fitted.cwd)


def test_evaluate_the_checkpoint_on_a_benchmark(fitted):
    """``facexformer evaluate`` scores the ``.ckpt`` fit wrote on BIWI as downloaded (generated): one table,
    ``results.json`` with a row per angle and the faces scored."""
    import json

    from tests.fake_data import biwi

    biwi.write(fitted.cwd / "data/biwi")
    args = ["--benchmark", "biwi", "--root", "data/biwi", "--checkpoint", str(fitted.checkpoint), "--out", "scores"]
    done = run_step("evaluate the checkpoint on BIWI", ["evaluate", *args], fitted.cwd)
    assert done.stdout.count("| subset | task | metric |") == 1
    rows = json.loads((fitted.cwd / "scores/results.json").read_text())["rows"]
    assert {row["metric"] for row in rows} >= {"MAE_yaw", "MAE_pitch", "MAE_roll"}
    assert all(row["faces"] > 0 and row["unit"] == "°" for row in rows if row["metric"].startswith("MAE"))


@pytest.fixture(scope="module")
def pretrained_folder(fitted) -> Path:
    folder = fitted.cwd / "exported_model"
    FaceXFormer.from_pretrained(fitted.checkpoint).save_pretrained(folder)
    return folder


def test_a_save_pretrained_folder_goes_through_the_same_chain(fitted, pretrained_folder, inferred):
    model, reloaded = FaceXFormer.from_pretrained(fitted.checkpoint), FaceXFormer.from_pretrained(pretrained_folder)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values(), strict=True)
    )
    for name, record in infer_on_photos(pretrained_folder, fitted.cwd, "photos_folder").items():
        for a, b in zip(record["faces"], inferred[name]["faces"], strict=True):
            assert np.allclose(a["landmarks"], b["landmarks"], atol=1e-4) and a["parsing"] == b["parsing"]
            assert math.isclose(a["age_years"], b["age_years"], abs_tol=1e-4)


@pytest.mark.slow
def test_export_a_save_pretrained_folder(fitted, pretrained_folder):
    export_and_compare(pretrained_folder, fitted.cwd)
