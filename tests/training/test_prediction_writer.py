import json

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.inference.predict import FacePrediction
from facexformer.module import FaceXFormer
from facexformer.training.prediction_writer import FacePredictionWriter

INFER_KEYS = {"source", "image_size", "checkpoint", "tasks", "faces"}  # what `facexformer infer` writes


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    kwargs = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}
    return FaceXFormer(tasks=["landmarks", "headpose", "parsing", "gender"], **kwargs).eval()


@pytest.fixture(scope="module")
def faces():
    return SyntheticFaces(5, size=96, seed=4)


def run_predict(model, faces, writer, root, logger=False):
    dm = MultiTaskDataModule(predict={"faces": faces}, batch_size=2, crop=CropFace(size=64, margin=0.25))
    trainer = L.Trainer(
        accelerator="cpu",
        logger=logger,
        callbacks=[writer],
        default_root_dir=root,
        use_distributed_sampler=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.predict(model, datamodule=dm, return_predictions=False)
    return writer.folder


def test_writes_one_json_per_face_equal_to_predict_in_original_pixels(model, faces, tmp_path):
    folder = run_predict(model, faces, FacePredictionWriter(str(tmp_path / "out")), tmp_path)
    files = sorted(folder.glob("*.json"))
    assert [f.name for f in files] == [f"{i:06d}-SyntheticFaces_seed_4.json" for i in range(5)]
    for index, path in enumerate(files):
        record = json.loads(path.read_text())
        assert set(record) == INFER_KEYS and record["image_size"] == [96, 96]
        assert record["tasks"] == ["landmarks", "headpose", "parsing", "gender"]
        (written,) = [FacePrediction.from_dict(face) for face in record["faces"]]
        sample = faces[index]
        image = sample["image"].permute(1, 2, 0).numpy()
        (expected,) = model.predict(image, boxes=sample["box"].numpy(), margin=0.25)
        assert written.crop == expected.crop and written.source == sample["source"]
        np.testing.assert_allclose(written.landmarks, expected.landmarks, atol=1e-3)
        assert written.parsing.shape == (96, 96) and (written.parsing != expected.parsing).mean() < 1e-3
        assert written.headpose == pytest.approx(expected.headpose, abs=1e-3)
        assert written.gender.probs == pytest.approx(expected.gender.probs, abs=1e-4)


def test_a_named_folder_with_predictions_is_refused_before_predicting(model, faces, tmp_path):
    run_predict(model, faces, FacePredictionWriter(str(tmp_path / "out")), tmp_path)
    with pytest.raises(FileExistsError, match="already holds prediction files"):
        run_predict(model, faces, FacePredictionWriter(str(tmp_path / "out")), tmp_path)
    folder = run_predict(model, faces, FacePredictionWriter(str(tmp_path / "out"), overwrite=True), tmp_path)
    assert len(list(folder.glob("*.json"))) == 5


def test_default_folders_are_the_runs_own(model, faces, tmp_path):
    first = run_predict(model, faces, FacePredictionWriter(), tmp_path)
    second = run_predict(model, faces, FacePredictionWriter(), tmp_path)
    assert (first, second) == (tmp_path / "predictions", tmp_path / "predictions_1")
    logged = run_predict(model, faces, FacePredictionWriter(), tmp_path, CSVLogger(tmp_path, name="csv"))
    assert logged == tmp_path / "csv" / "version_0" / "predictions"
    assert all(len(list(f.glob("*.json"))) == 5 for f in (first, second, logged))
