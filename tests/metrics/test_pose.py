import math

import pytest
import torch

from facexformer.geometry import euler_to_matrix
from facexformer.metrics.pose import PoseMAE


def test_pose_mae_per_angle_and_mean():
    metric = PoseMAE()
    metric.update(torch.tensor([[10.0, 20.0, -5.0]]), torch.tensor([[12.0, 10.0, -5.0]]))
    metric.update(torch.tensor([[0.0, -30.0, 4.0]]), torch.tensor([[-4.0, -30.0, 0.0]]))
    result = metric.compute()
    assert result["mae_pitch"].item() == pytest.approx(3.0)  # (2 + 4) / 2
    assert result["mae_yaw"].item() == pytest.approx(5.0)  # (10 + 0) / 2
    assert result["mae_roll"].item() == pytest.approx(2.0)  # (0 + 4) / 2
    assert result["mae"].item() == pytest.approx(10 / 3)


def test_rotation_matrices_are_converted_to_angles():
    preds = torch.tensor([[10.0, 20.0, -5.0], [0.0, -30.0, 4.0]], dtype=torch.float64)
    target = torch.tensor([[12.0, 10.0, -5.0], [-4.0, -30.0, 0.0]], dtype=torch.float64)
    from_angles, from_matrices = PoseMAE(), PoseMAE()
    from_angles.update(preds, target)
    from_matrices.update(euler_to_matrix(preds), euler_to_matrix(target))
    for key, value in from_angles.compute().items():
        assert from_matrices.compute()[key].item() == pytest.approx(value.item(), abs=1e-9)


def test_wrap_aware_difference():
    preds, target = torch.tensor([[179.0, -170.0, 0.0]]), torch.tensor([[-179.0, 170.0, 0.0]])
    plain, wrapped = PoseMAE(), PoseMAE(rule="wrap")
    plain.update(preds, target)
    wrapped.update(preds, target)
    assert plain.compute()["mae_pitch"].item() == pytest.approx(358.0)
    assert wrapped.compute()["mae_pitch"].item() == pytest.approx(2.0)
    assert wrapped.compute()["mae_yaw"].item() == pytest.approx(20.0)


def test_empty_state_is_nan_and_bad_shapes_raise():
    assert all(math.isnan(value.item()) for value in PoseMAE().compute().values())
    with pytest.raises(ValueError, match=r"\(B, 3\) degrees"):
        PoseMAE().update(torch.zeros(2, 2), torch.zeros(2, 2))


def test_6drepnet_rule_forgives_a_half_turn_and_the_plain_rule_does_not():
    # 6DRepNet test.py: min over d, d +- 360, d +- 180
    target = torch.tensor([[10.0, 20.0, 30.0], [0.0, 0.0, 0.0]])
    preds = torch.tensor([[190.0, 21.0, 30.0], [-178.0, 2.0, 359.0]])
    plain, repnet = PoseMAE(), PoseMAE(rule="6drepnet")
    plain.update(preds, target)
    repnet.update(preds, target)
    assert plain.compute()["mae_pitch"].item() == pytest.approx((180 + 178) / 2)
    assert repnet.compute()["mae_pitch"].item() == pytest.approx((0 + 2) / 2)
    assert repnet.compute()["mae_roll"].item() == pytest.approx((0 + 1) / 2)
    assert repnet.compute()["mae_yaw"].item() == pytest.approx((1 + 2) / 2)


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="rule"):
        PoseMAE(rule="circle")
