"""``facexformer evaluate`` on the parsing benchmarks (CelebAMask-HQ, LaPa) from generated data in their download
layout, against F1 computed here: each face cropped by hand (the model's crop: box, 25% margin, clipped, edges
floored, bicubic image, nearest label), the model's map of that crop from ``model.predict``, pixel counts pooled
over the test set."""

import math

import numpy as np
import pytest
from PIL import Image

from facexformer.tasks.parsing import CLASS_NAMES
from tests.evaluation.test_evaluate import run, saved_model
from tests.fake_data import celebamask_hq, lapa

#: the paper's classes: every LaPa class but the background
SCORED = CLASS_NAMES[1:]


def hand_crop(image: np.ndarray, labels: np.ndarray, box, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) image and (size, size) labels of the face ``box`` (x0, y0, x1, y1) with a 25% margin."""
    height, width = labels.shape
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    left, top = math.floor(max(0.0, x0 - w / 4)), math.floor(max(0.0, y0 - h / 4))
    right, bottom = math.floor(min(width, x1 + w / 4)), math.floor(min(height, y1 + h / 4))
    face = Image.fromarray(image[top:bottom, left:right]).resize((size, size), Image.BICUBIC)
    rows = top + ((np.arange(size) + 0.5) * (bottom - top) / size).astype(int)
    cols = left + ((np.arange(size) + 0.5) * (right - left) / size).astype(int)
    return np.asarray(face), labels[np.ix_(rows, cols)]


def pooled_f1(model, faces) -> dict[str, float]:
    """Per-class F1 (%) from pixel counts summed over ``faces`` ((image, labels, box) in original pixels)."""
    tp, predicted_count, true_count = np.zeros(11), np.zeros(11), np.zeros(11)
    size = model.crop_settings.size
    for image, labels, box in faces:
        face, target = hand_crop(image, labels, box, size)
        predicted = model.predict(face, boxes=np.array([[0, 0, size, size]]))[0].outputs["parsing"]
        for c in range(11):
            tp[c] += np.sum((predicted == c) & (target == c))
            predicted_count[c] += np.sum(predicted == c)
            true_count[c] += np.sum(target == c)
    return {name: 100 * 2 * tp[c] / (predicted_count[c] + true_count[c]) for c, name in enumerate(CLASS_NAMES)}


#: F1 points (%) the two computations may differ by: ``model.predict`` runs the optimised copy of the network
#: (``optimize_for_inference``), the evaluation the network as built; the untrained model's near-tied logits can
#: change the argmax of a few pixels between the two (a wrong crop moves F1 by a whole point)
PIXEL_FLIPS = 0.05


def check_rows(rows: dict, expected: dict[str, float], faces: int) -> None:
    for name in SCORED:
        row = rows[("test", f"F1_{name}")]
        assert row["value"] == pytest.approx(expected[name], abs=PIXEL_FLIPS), name
        assert (row["unit"], row["faces"], row["task"]) == ("%", faces, "parsing")
    assert ("test", "F1_background") not in rows
    mean = rows[("test", "mean F1")]
    assert mean["value"] == pytest.approx(np.mean([expected[n] for n in SCORED]), abs=PIXEL_FLIPS)
    assert mean["faces"] == faces


def test_celebamask_hq_f1_by_hand(tmp_path):
    from facexformer.data.datasets import CelebAMaskHQ

    root = celebamask_hq.write(tmp_path / "CelebAMask-HQ")
    model, checkpoint = saved_model(tmp_path / "model", ["parsing"])
    rows = run("celebamask_hq", root, checkpoint, tmp_path / "out", "--batch_size", "2")
    faces = []
    for sample in CelebAMaskHQ(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        faces.append((image, sample["parsing"].numpy(), (0, 0, image.shape[1], image.shape[0])))
    assert len(faces) == 3 and faces[0][0].shape == (96, 96, 3)
    check_rows(rows, pooled_f1(model, faces), 3)
    assert [p["value"] for p in rows[("test", "mean F1")]["published"]] == [91.01, 90.62]


def test_lapa_f1_by_hand_inside_the_landmark_box(tmp_path):
    root = lapa.write(tmp_path / "LaPa")
    model, checkpoint = saved_model(tmp_path / "model", ["parsing"])
    rows = run("lapa", root, checkpoint, tmp_path / "out", "--batch_size", "2")
    faces = []
    for name in sorted(p.stem for p in (root / "test" / "images").iterdir()):
        image = np.asarray(Image.open(root / "test" / "images" / f"{name}.jpg").convert("RGB"))
        labels = np.asarray(Image.open(root / "test" / "labels" / f"{name}.png")).astype(np.int64)
        tokens = (root / "test" / "landmarks" / f"{name}.txt").read_text().split()
        points = np.array(tokens[1:], dtype=np.float32).reshape(-1, 2)
        faces.append((image, labels, (*points.min(0), *points.max(0))))
    assert len(faces) == 3
    check_rows(rows, pooled_f1(model, faces), 3)
