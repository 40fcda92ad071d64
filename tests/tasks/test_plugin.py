"""A new task is one new class: defined here, in a file of its own, with no edit anywhere else.

``EyeColour`` shows the minimum (tokens, head, loss, metrics). ``EyeCentres`` is a task with image geometry
and every prediction edge: it maps its crop-frame points back to the photo (``to_photo``), writes its own JSON
form and reads it back (``to_json`` / ``from_json``), draws itself (``draw``) and its labels (``reference``).
It goes through training, save/load, ``predict``, ``facexformer infer``'s JSON and overlay, and the
validation image grid, without any edit outside this file.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer import FaceXFormer
from facexformer.apps.infer import infer_files
from facexformer.data.augment import FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace
from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.hf import HFDataset
from facexformer.data.synthetic import SyntheticFaces
from facexformer.geometry.crop import crop_faces
from facexformer.inference.predict import FacePrediction, predict
from facexformer.inference.visualize import draw_overlay
from facexformer.model.heads import TokenHead
from facexformer.tasks import TASKS, Label, Landmarks, Task
from facexformer.training.image_logging import grid_scale, overlay_grid

MAGENTA, ORANGE = (255, 0, 255), (255, 128, 0)


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


class EyeCentres(Task):
    """The two eye centres, label ``eye_centres`` (B, 2, 2) pixels of the crop; output (B, 2, 2) in [0, 1] of
    the crop's side. JSON: ``{"eye_centres": {"left": [x, y], "right": [x, y]}}``; drawn as magenta dots."""

    name = "eye_centres"
    label_keys = ("eye_centres",)
    keypoint_keys = ("eye_centres",)

    def build_head(self, dim):
        return TokenHead(dim, (2, 2))

    def build_loss(self):
        return nn.L1Loss()

    def loss(self, criterion, output, batch):
        return criterion(output, batch["eye_centres"] / batch["image"].shape[-1])

    def build_metrics(self):
        return MetricCollection({"error": MeanMetric()})

    def update_metrics(self, metrics, output, batch):
        metrics.update((self.decode(output.detach(), batch["image"].shape[-1]) - batch["eye_centres"]).abs().mean())

    def decode(self, output, size=224):
        return output.float() * size

    def to_photo(self, output, crops):
        points = self.decode(output, crops[0].size).cpu()
        return [crop.invert_points(p).numpy() for crop, p in zip(crops, points, strict=True)]

    @classmethod
    def to_json(cls, value):
        return {cls.name: {"left": [float(v) for v in value[0]], "right": [float(v) for v in value[1]]}}

    @classmethod
    def from_json(cls, record):
        sides = record[cls.name]
        return np.array([sides["left"], sides["right"]], dtype=np.float32)

    @classmethod
    def draw(cls, overlay, value, box, reference=False):
        overlay.points(value, ORANGE if reference else MAGENTA, radius=1)

    def reference(self, batch, index):
        return batch["eye_centres"][index].numpy() if "eye_centres" in batch else None


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model with ``EyeCentres`` beside gender, trained a few steps, saved and loaded again."""
    torch.manual_seed(0)
    kwargs = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}
    model = FaceXFormer(tasks=["gender", EyeCentres()], crop={"margin": 0.1, "interpolation": "bilinear"}, **kwargs)
    batch = {
        "image": torch.rand(4, 3, 64, 64),
        "gender": torch.tensor([0, 1, 1, 0]),
        "eye_centres": torch.tensor([[[20.0, 25.0], [44.0, 25.0]]]).repeat(4, 1, 1),
        "task_mask": {"gender": torch.ones(4, dtype=torch.bool), "eye_centres": torch.ones(4, dtype=torch.bool)},
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = model.train().training_step(batch, 0)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    folder = model.save_pretrained(tmp_path_factory.mktemp("plugin") / "model")
    reloaded = FaceXFormer.from_pretrained(folder).eval()
    assert isinstance(reloaded.task("eye_centres"), EyeCentres) and reloaded.crop_settings == model.crop_settings
    return reloaded


@pytest.fixture(scope="module")
def face():
    sample = SyntheticFaces(1, size=80, seed=7)[0]
    return sample["image"].permute(1, 2, 0).numpy().copy(), sample["box"].numpy()


def test_predict_maps_the_points_back_through_the_models_crop(trained, face):
    image, box = face
    (pred,) = predict(trained, image, boxes=box)
    pixels, (crop,) = crop_faces(Image.fromarray(image), [box], trained.crop_settings)
    assert pred.crop == crop.region
    with torch.no_grad():
        raw = trained(trained.normalize(pixels.float() / 255), ["eye_centres"])["eye_centres"]
    expected = crop.invert_points(raw[0].float() * 64).numpy()
    np.testing.assert_allclose(pred.outputs["eye_centres"], expected, atol=1e-4)
    canvas = np.full((120, 150, 3), 90, dtype=np.uint8)
    canvas[25:105, 40:120] = image
    (shifted,) = predict(trained, canvas, boxes=box + [40, 25, 40, 25])
    np.testing.assert_allclose(shifted.outputs["eye_centres"], expected + [40, 25], atol=1e-3)


def test_infer_json_and_overlay(trained, face, tmp_path):
    image, box = face
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    run = infer_files(trained, [path], tmp_path / "out", detector="none", workers=0)
    assert run.written == 1 and not run.failed
    record = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert record["tasks"] == ["gender", "eye_centres"]
    (written,) = record["faces"]
    assert set(written["eye_centres"]) == {"left", "right"}
    back = FacePrediction.from_dict(written)
    (pred,) = predict(trained, image, detector="none")
    assert isinstance(back.outputs["eye_centres"], np.ndarray)
    np.testing.assert_allclose(back.outputs["eye_centres"], pred.outputs["eye_centres"], atol=1e-5)
    assert back.gender == pred.gender
    assert json.loads(json.dumps(back.to_dict())) == written
    with Image.open(tmp_path / "out" / "photo.overlay.png") as overlay:
        assert (np.asarray(overlay.convert("RGB")) == MAGENTA).all(-1).any()


def test_the_overlay_draws_a_prediction_read_back_from_json():
    points = np.array([[12.0, 15.0], [28.0, 15.0]])
    face = FacePrediction((5, 5, 35, 35), (0, 0, 40, 40), outputs={"eye_centres": points})
    back = FacePrediction.from_dict(json.loads(json.dumps(face.to_dict())))
    picture = np.asarray(draw_overlay(np.zeros((40, 40, 3), np.uint8), back))
    assert tuple(picture[15, 12]) == MAGENTA and tuple(picture[15, 28]) == MAGENTA
    assert tuple(picture[30, 20]) == (0, 0, 0)


def test_the_validation_grid_draws_predictions_and_labels(trained):
    batch = {"image": torch.rand(2, 3, 64, 64), "eye_centres": torch.tensor([[[10.0, 50.0], [50.0, 50.0]]] * 2)}
    grid = overlay_grid(trained, batch, num_images=2, alpha=0.5)
    k = grid_scale(64)  # each crop enlarged k times; pixel centres stay on their pixels
    first = grid[:, 2 : 2 + 64 * k, 2 : 2 + 64 * k].permute(1, 2, 0).numpy()
    at = lambda v: round((v + 0.5) * k - 0.5)  # noqa: E731
    assert tuple(first[at(50), at(10)]) == ORANGE and tuple(first[at(50), at(50)]) == ORANGE
    assert (first == MAGENTA).all(-1).any()


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


def test_a_prediction_gives_any_task_output_by_name():
    face = FacePrediction((0, 0, 10, 10), (0, 0, 10, 10), outputs={"eye_colour": "green", "landmarks": None})
    assert face["eye_colour"] == face.get("eye_colour") == face.eye_colour == "green" and "eye_colour" in face
    assert face.headpose is None and face.get("headpose", "none") == "none"  # registered, did not run
    with pytest.raises(KeyError, match="no output of task 'headpose'.*'eye_colour'"):
        face["headpose"]
    with pytest.raises(AttributeError, match="no registered task"):
        face.not_a_task  # noqa: B018


def test_the_non_finite_loss_check_excuses_keypoint_labels_of_any_task(task_registry):
    """NaN rows of keypoint labels mark missing points (any task's, not only ``landmarks``); NaN elsewhere is
    named as the cause."""
    from facexformer.training.nonfinite_loss import StopOnNonFiniteLoss

    class Pupils(Task):
        name = "test_pupils"
        labels = (Label("test_pupil_points", "keypoints", (2, 2)), Label("test_pupil_size", "scalar"))

    class Module:
        def task(self, name):
            return {"test_pupils": Pupils}[name]

    points = torch.zeros(3, 2, 2)
    points[0, 1] = float("nan")  # sample 0: one missing point, legal
    size = torch.tensor([1.0, float("nan"), 2.0])  # sample 1: a broken label
    batch = {
        "source": ["a", "b", "c"],
        "task_mask": {"test_pupils": torch.tensor([True, True, True])},
        "test_pupil_points": points,
        "test_pupil_size": size,
    }
    check = StopOnNonFiniteLoss()
    check.on_train_batch_start(None, Module(), batch, 0)
    assert check._non_finite_label_sources("test_pupils") == ["b"]
