"""Landmark metrics are computed in original-image pixels with each dataset's normaliser, so the number does not
depend on the crop the model saw (issue 11 items 1-2)."""

import csv
import shutil

import numpy as np
import pytest
import torch

from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace, crop_points
from facexformer.data.datasets.aflw import AFLW19
from facexformer.data.datasets.cofw import COFW
from facexformer.data.datasets.w300 import W300
from facexformer.tasks.landmarks import Landmarks, pixels_to_normalized

CROPS = {
    "released (non-square)": {"size": 64},
    "square": {"size": 64, "square": True},
    "clipped": {"size": 48, "margin": 1.5},
    "unclipped square, bilinear": {"size": 96, "square": True, "clip": False, "interpolation": "bilinear"},
}


def _offsets(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Deterministic prediction errors (original pixels): a few pixels, in every direction."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3.0


def _score(task: Landmarks, samples: list[dict], predictions: torch.Tensor, crop: dict) -> dict[str, float]:
    """Crop ``samples``, map original-frame ``predictions`` (B, N, 2) into each crop as the network's raw output
    and return the task's metrics."""
    batch = collate_multitask([CropFace(**crop)(sample) for sample in samples])
    size = batch["image"].shape[-1]
    output = pixels_to_normalized(crop_points(predictions, batch["crop"].double(), size), size)
    metrics = task.build_metrics()
    task.update_metrics(metrics, output, batch)
    return {name: float(value) for name, value in metrics.compute().items()}


@pytest.mark.parametrize("num_points", [68, 29])
def test_nme_does_not_depend_on_the_crop(shared_dir, tmp_path, num_points):
    samples = _load(shared_dir, tmp_path, num_points)
    target = torch.stack([s["landmarks"] for s in samples]).double()
    predictions = target + _offsets(target.shape, seed=num_points)
    task = Landmarks(num_points=num_points, threshold=0.1)
    scores = {name: _score(task, samples, predictions, crop) for name, crop in CROPS.items()}
    expected = _hand_nme(predictions, target, task)
    for name, score in scores.items():
        assert abs(score["nme"] - expected) < 1e-6, (name, scores, expected)


def _load(shared_dir, tmp_path, num_points: int) -> list[dict]:
    """The real 300W (two faces) or COFW test samples, in original pixels."""
    root = shared_dir / "reference/landmarks/samples"
    if num_points == 68:
        for folder, stem in (("01_Indoor", "indoor_020"), ("02_Outdoor", "indoor_029")):
            (tmp_path / "300W" / folder).mkdir(parents=True)
            for suffix in (".png", ".pts"):
                shutil.copy(root / "300w/01_Indoor" / f"{stem}{suffix}", tmp_path / "300W" / folder)
        dataset = W300(tmp_path, "test")
    else:
        dataset = COFW(root / "cofw", "test")
    return [dataset[i] for i in range(len(dataset))]


def _hand_nme(predictions: torch.Tensor, target: torch.Tensor, task: Landmarks) -> float:
    """Inter-ocular NME in original pixels, written out: outer eye corners 36/45 (68) or 8/9 (29)."""
    left, right = (36, 45) if task.num_points == 68 else (8, 9)
    errors = []
    for p, g in zip(predictions.numpy(), target.numpy(), strict=True):
        errors.append(np.linalg.norm(p - g, axis=1).mean() / np.linalg.norm(g[left] - g[right]))
    return float(np.mean(errors))


def test_aflw_nme_is_normalised_by_the_csv_box_size(shared_dir):
    root = shared_dir / "reference/landmarks/samples/aflw"
    dataset = AFLW19(root, "test")
    samples = [dataset[i] for i in range(len(dataset))]
    target = torch.stack([s["landmarks"] for s in samples]).double()
    predictions = target + _offsets(target.shape, seed=19)
    task = Landmarks(num_points=19)
    with (root / "face_landmarks_aflw_test.csv").open() as handle:
        rows = list(csv.reader(handle))[1:]
    expected = []
    for row, p in zip(rows, predictions.numpy(), strict=True):
        g = np.asarray([float(v) for v in row[5:]]).reshape(19, 2)
        expected.append(np.linalg.norm(p - g, axis=1).mean() / float(row[2]))
    for name, crop in CROPS.items():
        assert _score(task, samples, predictions, crop)["nme"] == pytest.approx(np.mean(expected), abs=1e-6), name


def test_normalization_option_and_its_errors(shared_dir):
    samples = COFW(shared_dir / "reference/landmarks/samples/cofw", "test")
    samples = [samples[i] for i in range(len(samples))]
    target = torch.stack([s["landmarks"] for s in samples]).double()
    predictions = target + _offsets(target.shape, seed=3)
    task = Landmarks(num_points=29, normalization="inter_pupil")
    assert Landmarks(**task.to_config()["init_args"]).normalization == "inter_pupil"
    pupils = np.linalg.norm((target[:, 16] - target[:, 17]).numpy(), axis=1)
    expected = np.mean(np.linalg.norm((predictions - target).numpy(), axis=2).mean(axis=1) / pupils)
    for name, crop in CROPS.items():
        assert _score(task, samples, predictions, crop)["nme"] == pytest.approx(expected, abs=1e-6), name
    assert Landmarks(num_points=19).normalization == "bbox" and Landmarks().normalization == "inter_ocular"
    with pytest.raises(ValueError, match="landmarks: NME normalization"):
        Landmarks(normalization="eyes")
    with pytest.raises(ValueError, match="no default inter_pupil"):
        Landmarks(num_points=19, normalization="inter_pupil")
