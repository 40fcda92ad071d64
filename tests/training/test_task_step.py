"""One step of a multi-task model: evaluation losses averaged per epoch, outputs handed out, empty batches."""

import torch

from facexformer import FaceXFormer
from facexformer.data import SyntheticFaces, collate_multitask
from facexformer.training.task_step import task_step


def float_batch(count: int) -> dict:
    faces = SyntheticFaces(count, 64, seed=0, tasks=["landmarks"])
    batch = collate_multitask([faces[i] for i in range(count)])
    batch["image"] = batch["image"].float() / 255
    return batch


def test_an_evaluation_step_averages_its_losses_and_hands_out_the_outputs(tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).eval()
    batch, outputs = float_batch(3), {}
    with torch.no_grad():
        total = task_step(model, batch, "test", outputs=outputs)
        expected = model(model.normalize(batch["image"]), ["landmarks"])["landmarks"]
    assert list(outputs) == ["landmarks"]  # no gender labels: no gender output
    mask, landmarks = outputs["landmarks"]
    assert mask.tolist() == [True] * 3
    torch.testing.assert_close(landmarks, expected)
    means = model.stage_metrics.loss_means("test")
    torch.testing.assert_close(means["total"].compute(), total)
    torch.testing.assert_close(means["tasks"]["landmarks"].compute(), total)  # the only task, weight 1
    assert model.stage_metrics.faces == {"test": {"landmarks": 3}}


def test_a_process_without_a_batch_steps_with_an_empty_one(tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks"], **tiny_kwargs)
    batch = float_batch(2)
    empty = {**batch, "image": batch["image"][:0]}
    total = task_step(model, empty, "val")
    assert total.shape == () and total.dtype == torch.float32 and total.item() == 0.0
    assert model.stage_metrics.loss_means("val")["total"].update_count == 0
