import pytest
import torch

from facexformer.geometry import euler_to_matrix
from facexformer.tasks import HeadPose

TARGET = torch.tensor([[10.0, -20.0, 5.0], [-35.0, 60.0, -12.0], [0.0, 85.0, 170.0]])


def other_branch(degrees: torch.Tensor) -> torch.Tensor:
    """The same rotations as other Euler triples: (pitch + 180, 180 - yaw, roll + 180), pitch then + 360."""
    pitch, yaw, roll = degrees.unbind(-1)
    return torch.stack([pitch + 180.0 + 360.0, 180.0 - yaw, roll + 180.0], dim=-1)


def test_branch_flipped_prediction_has_zero_loss_and_zero_mae():
    task = HeadPose()
    flipped = other_branch(TARGET)
    torch.testing.assert_close(euler_to_matrix(flipped.double()), euler_to_matrix(TARGET.double()))
    output = torch.deg2rad(flipped)
    batch = {"headpose": TARGET}
    assert task.loss(task.build_loss(), output, batch).item() < 1e-3  # the clamp's eps floor, radians
    metrics = task.build_metrics()
    task.update_metrics(metrics, output, batch)
    result = metrics.compute()
    assert result["mae"].item() == pytest.approx(0.0, abs=1e-4)


def test_canonical_outputs_decode_unchanged():
    task = HeadPose()
    output = torch.deg2rad(TARGET)
    torch.testing.assert_close(task.decode(output), TARGET, atol=1e-5, rtol=0)


def test_rotation_head_decodes_to_the_same_angles():
    task = HeadPose(head="rotation")
    torch.testing.assert_close(task.decode(euler_to_matrix(TARGET)), TARGET, atol=1e-4, rtol=0)
