"""A new task is one new class: defined here, in a file of its own, with no edit anywhere else."""

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer import FaceXFormer
from facexformer.model.heads import TokenHead
from facexformer.tasks import TASKS, Task


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
