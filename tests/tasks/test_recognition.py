import pytest
import torch

from facexformer.losses.arcface import ArcFaceLoss
from facexformer.module import FaceXFormer
from facexformer.tasks.base import TASKS, task_from_config
from facexformer.tasks.recognition import Recognition


def _recognition_batch(images: torch.Tensor, identities: torch.Tensor) -> dict:
    return {
        "image": images,
        "identity": identities,
        "task_mask": {"recognition": identities >= 0},
    }


def test_plugs_into_the_model_and_trains_the_centres(tmp_path, tiny_kwargs):
    torch.manual_seed(0)
    model = FaceXFormer(tasks=["landmarks", Recognition(num_identities=10)], **tiny_kwargs)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, 64, 64))
    assert out["recognition"].shape == (2, 512) and out["landmarks"].shape == (2, 68, 2)

    batch = {
        "image": torch.rand(4, 3, 64, 64),
        "landmarks": torch.rand(4, 68, 2) * 63,
        "identity": torch.tensor([3, -1, 7, 3]),
        "task_mask": {
            "landmarks": torch.tensor([True, True, False, False]),
            "recognition": torch.tensor([True, False, True, True]),
        },
    }
    loss = model.train().training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    centres = model.criteria["recognition"].weight
    assert centres.shape == (10, 512) and centres.grad is not None and centres.grad.abs().sum() > 0
    assert model.net.heads["recognition"].mlp.layers[0].weight.grad.abs().sum() > 0
    accuracy = model.train_metrics["recognition"].compute()["train/recognition/identity_accuracy"]
    assert 0.0 <= float(accuracy) <= 1.0

    model.save_pretrained(tmp_path / "m")
    reloaded = FaceXFormer.from_pretrained(tmp_path / "m").task("recognition")
    assert isinstance(reloaded, Recognition) and reloaded.num_identities == 10 and reloaded.embedding_dim == 512


def test_training_on_four_identities_lowers_the_loss(tiny_kwargs):
    torch.manual_seed(0)
    task = Recognition(num_identities=4, embedding_dim=32)
    model = FaceXFormer(tasks=[task], **tiny_kwargs).train()
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    batch = _recognition_batch(images, torch.arange(4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(20):
        loss = model.training_step(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def _task_with_centres(centres: torch.Tensor) -> tuple[Recognition, ArcFaceLoss]:
    task = Recognition(num_identities=centres.shape[0], embedding_dim=centres.shape[1])
    criterion = task.build_loss()
    with torch.no_grad():
        criterion.weight.copy_(centres)
    return task, criterion


def test_identity_accuracy_is_nearest_centre_by_cosine():
    task, criterion = _task_with_centres(torch.eye(4) * torch.tensor([[1.0], [0.1], [3.0], [0.5]]))
    metrics = task.build_metrics()
    # scaled copies of the centre directions: cosine ignores length
    output = torch.eye(4)[[0, 1, 3, 3]] * torch.tensor([[5.0], [0.2], [1.0], [9.0]])
    task.update_metrics(metrics, output, {"identity": torch.tensor([0, 1, 2, 3])}, criterion)
    assert task.nearest_identity(output, criterion).tolist() == [0, 1, 3, 3]
    assert float(metrics.compute()["identity_accuracy"]) == pytest.approx(3 / 4)


def test_trivial_output_is_the_majority_identity_centre():
    centres = torch.randn(5, 8, generator=torch.Generator().manual_seed(2))
    task, criterion = _task_with_centres(centres)
    constant = task.trivial_output({"identity": torch.tensor([2, 2, 1, 0, 2, 4])}, criterion)
    assert constant.shape == (1, 8) and torch.equal(constant[0], centres[2])
    metrics = task.build_metrics()
    test_identities = torch.tensor([2, 1, 1, 2, 3, 2, 0, 4])
    task.update_metrics(metrics, constant.expand(8, -1), {"identity": test_identities}, criterion)
    assert float(metrics.compute()["identity_accuracy"]) == pytest.approx(3 / 8)


def test_loss_is_arcface_and_stays_float32_under_autocast():
    torch.manual_seed(1)
    task = Recognition(num_identities=6, embedding_dim=16)
    criterion = task.build_loss()
    output = torch.randn(5, 16)
    batch = {"identity": torch.tensor([0, 5, 2, 2, 1])}
    reference = ArcFaceLoss(16, 6)
    reference.load_state_dict(criterion.state_dict())
    expected = reference(output, batch["identity"])
    assert torch.allclose(task.loss(criterion, output, batch), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lowered = reference(output, batch["identity"])
        kept = task.loss(criterion, output.bfloat16(), batch)
    assert kept.dtype == torch.float32
    # the check can fail: plain ArcFace under autocast (bf16 matmul, s = 64) is visibly off
    assert not torch.allclose(lowered.float(), expected, atol=1e-3)
    assert torch.allclose(kept, reference(output.bfloat16().float(), batch["identity"]), atol=1e-5)


def test_decode_flip_and_config():
    task = task_from_config({"class_path": "recognition", "init_args": {"num_identities": 7, "embedding_dim": 4}})
    assert TASKS["recognition"] is Recognition and isinstance(task, Recognition)
    assert task.to_config()["init_args"] == {
        "weight": 1.0,
        "num_identities": 7,
        "embedding_dim": 4,
        "scale": 64.0,
        "margin": 0.5,
        "sample_rate": 1.0,
    }
    decoded = task.decode(torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))
    assert torch.allclose(decoded, torch.tensor([[0.6, 0.8, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
    batch = {"identity": torch.tensor([4, 1])}
    task.flip(batch, torch.tensor([True, False]), 64)
    assert batch["identity"].tolist() == [4, 1]
    assert task.build_head(8)(torch.randn(2, 1, 8)).shape == (2, 4)


def test_bad_arguments_and_labels_raise():
    with pytest.raises(ValueError, match="at least 2 identities"):
        Recognition(num_identities=1)
    with pytest.raises(ValueError, match="embedding_dim"):
        Recognition(num_identities=3, embedding_dim=0)
    task = Recognition(num_identities=3, embedding_dim=4)
    with pytest.raises(TypeError, match="build_loss"):
        task.trivial_output({"identity": torch.tensor([0])}, criterion=None)
    criterion = task.build_loss()
    assert not any(isinstance(v, torch.nn.Module) for v in vars(task).values())
    with pytest.raises(ValueError, match=r"identities must lie in \[0, 2\]"):
        task.loss(criterion, torch.randn(2, 4), {"identity": torch.tensor([0, 3])})
