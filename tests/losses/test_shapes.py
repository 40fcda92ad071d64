import pytest
import torch

from facexformer.losses.shapes import check_same_shape


def test_a_pair_of_one_shape_and_layout_passes():
    check_same_shape("L", torch.zeros(2, 5, 2), torch.zeros(2, 5, 2), "(B, N, 2)")
    check_same_shape("L", torch.zeros(3), torch.zeros(3), "(..., D)")
    check_same_shape("L", torch.zeros(2, 4, 5, 2), torch.zeros(2, 4, 5, 2), "(..., D)")


@pytest.mark.parametrize(
    ("output", "target", "layout"),
    [
        (torch.zeros(2, 5, 2), torch.zeros(2, 4, 2), "(B, N, 2)"),  # shapes differ
        (torch.zeros(2, 5, 2, 1), torch.zeros(2, 5, 2, 1), "(B, N, 2)"),  # one dimension too many
        (torch.zeros(()), torch.zeros(()), "(..., D)"),  # a scalar has no last dimension
    ],
)
def test_a_mismatch_names_the_loss_the_layout_and_both_shapes(output, target, layout):
    with pytest.raises(ValueError, match=rf"MyLoss: expects output and target of one shape \{layout[:-1]}\), got"):
        check_same_shape("MyLoss", output, target, layout)
