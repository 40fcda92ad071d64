"""A new task is one new class: defined here, in a file of its own, with no edit anywhere else."""

import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer import FaceXFormer
from facexformer.data.augment import FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace
from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.hf import HFDataset
from facexformer.model.heads import TokenHead
from facexformer.tasks import TASKS, Label, Landmarks, Task


class EyeColour(Task):
    """A made-up task with two tokens and 4 classes."""

    name = "eye_colour"
    label_keys = ("eye_colour",)

    @property
    def num_tokens(self) -> int:
        return 2

    def build_head(self, dim):
        return TokenHead(dim, (4,), num_tokens=2)

    def build_loss(self):
        return nn.CrossEntropyLoss()

    def loss(self, criterion, output, batch):
        return criterion(output, batch["eye_colour"])

    def build_metrics(self):
        return MetricCollection({"accuracy": MulticlassAccuracy(4)})


def test_new_task_plugs_in(tmp_path, tiny_kwargs):
    assert TASKS["eye_colour"] is EyeColour
    model = FaceXFormer(tasks=["landmarks", EyeColour()], **tiny_kwargs)
    assert model.net.tokens["eye_colour"].num_embeddings == 2
    with torch.no_grad():
        out = model.eval()(torch.randn(3, 3, 64, 64))
    assert out["eye_colour"].shape == (3, 4) and out["landmarks"].shape == (3, 68, 2)

    batch = {
        "image": torch.rand(4, 3, 64, 64),
        "landmarks": torch.rand(4, 68, 2) * 63,
        "eye_colour": torch.tensor([0, 1, -1, 3]),
        "task_mask": {"landmarks": torch.tensor([1, 1, 1, 0]).bool(), "eye_colour": torch.tensor([1, 1, 0, 1]).bool()},
    }
    loss = model.train().training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.net.heads["eye_colour"].mlp.layers[0].weight.grad.abs().sum() > 0

    model.save_pretrained(tmp_path / "m")
    reloaded = FaceXFormer.from_pretrained(tmp_path / "m")
    assert isinstance(reloaded.task("eye_colour"), EyeColour)


def test_landmark_count_is_a_parameter(tiny_kwargs):
    for n in (98, 29, 19, 5):
        model = FaceXFormer(tasks=[{"class_path": "landmarks", "init_args": {"num_points": n}}], **tiny_kwargs)
        with torch.no_grad():
            assert model.eval()(torch.randn(1, 3, 64, 64))["landmarks"].shape == (1, n, 2)


class Gaze(Task):
    """A made-up task with a keypoint label (the two pupils, pixels) and a vector label (gaze yaw, pitch in
    degrees), declared once here: the HF adapter, the crop, collate and the augmentation read nothing else."""

    name = "gaze"
    labels = (Label("pupils", "keypoints", (2, 2)), Label("gaze", "vector", (2,)))

    def build_head(self, dim):
        return TokenHead(dim, (2,))

    def build_loss(self):
        return nn.MSELoss()

    def loss(self, criterion, output, batch):
        return criterion(output, batch["gaze"])

    def build_metrics(self):
        return MetricCollection({"mse": MeanSquaredError()})

    def flip(self, batch, flipped, width):
        batch["pupils"][flipped] = batch["pupils"][flipped].flip(1)  # the image-left pupil stays first
        batch["gaze"][flipped] = batch["gaze"][flipped] * torch.tensor([-1.0, 1.0])


def test_new_task_labels_go_through_the_hf_adapter_crop_collate_and_augmentation(tiny_kwargs):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 100, 3), dtype=np.uint8)
    landmarks = rng.uniform(20, 70, (68, 2))
    pupils = landmarks[[36, 45]]  # the outer eye corners stand in for the pupils: same points, two tasks
    table = datasets.Dataset.from_dict(
        {
            "image": [image, image],
            "landmarks": [landmarks.tolist()] * 2,
            "pupils": [pupils.tolist()] * 2,
            "gaze": [[10.0, -5.0], [0.0, 3.0]],
            "box": [[15.0, 12.0, 80.0, 75.0]] * 2,
        }
    )
    crop = CropFace(size=64)
    both = HFDataset(table, ["landmarks", "gaze"], transform=crop)[0]
    assert both["pupils"].dtype == torch.float32 and both["gaze"].tolist() == [10.0, -5.0]
    torch.testing.assert_close(both["pupils"], both["landmarks"][[36, 45]])  # cropped exactly like landmarks
    assert not torch.allclose(both["pupils"], torch.from_numpy(pupils).float())
    with pytest.raises(DatasetFormatError, match=r"row 0: column 'pupils'.*\(2, 2\) float32 keypoints, got \(3, 2\)"):
        HFDataset(table.map(lambda row: {"pupils": landmarks[:3].tolist()}), "gaze")

    batch = collate_multitask([both, HFDataset(table, "landmarks", transform=crop)[1]])
    assert batch["task_mask"]["gaze"].tolist() == [True, False]
    assert batch["pupils"][1].isnan().all() and batch["gaze"][1].isnan().all()  # filled where missing

    batch["image"] = batch["image"].float() / 255
    before = batch["pupils"].clone()
    options = {"gamma": 0.0, "blur": 0.0, "grayscale": 0.0, "erase": 0.0}
    FaceAugment([Landmarks(), Gaze()], flip=1.0, affine=1.0, rotate=30.0, **options)(batch, seed=0)
    assert batch["gaze"][0].tolist() == [-10.0, -5.0]  # mirrored yaw
    torch.testing.assert_close(batch["pupils"][0], batch["landmarks"][0][[36, 45]])  # mirrored and warped alike
    assert (batch["pupils"][0] - before[0]).abs().max() > 1

    model = FaceXFormer(tasks=["landmarks", Gaze()], **tiny_kwargs)
    loss = model.train().training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and model.net.heads["gaze"].mlp.layers[0].weight.grad.abs().sum() > 0
