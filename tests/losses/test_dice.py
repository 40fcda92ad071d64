import pytest
import torch
import torch.nn.functional as F

from facexformer.losses.dice import DiceCELoss, DiceLoss


def _direct_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """Loop over classes and pixels exactly as the formula reads."""
    probs = logits.softmax(dim=1)
    terms = []
    for c in range(logits.shape[1]):
        p = probs[:, c].flatten()
        t = (target == c).flatten().double()
        dice = (2 * (p * t).sum() + smooth) / ((p**2).sum() + (t**2).sum() + smooth)
        terms.append(1 - dice)
    return torch.stack(terms).mean()


def test_dice_matches_direct_formula():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 5, 6))
    assert torch.allclose(DiceLoss()(logits, target), _direct_dice(logits, target))


def test_dice_perfect_prediction_is_near_zero_and_counts_absent_classes():
    target = torch.tensor([[[0, 1], [1, 0]]])
    logits = F.one_hot(target, 3).permute(0, 3, 1, 2).double() * 50
    # classes 0 and 1 are perfect; class 2 is absent and not predicted: (0 + s) / (0 + s) = 1 -> 0 loss
    assert DiceLoss()(logits, target).item() < 1e-6
    wrong = F.one_hot(1 - target, 3).permute(0, 3, 1, 2).double() * 50
    # classes 0 and 1 fully wrong -> d = 1 each; class 2 -> 0; mean = 2/3
    assert DiceLoss()(wrong, target).item() == pytest.approx(2 / 3, abs=1e-5)


def test_dice_ignore_index_equals_dropping_the_pixels():
    torch.manual_seed(1)
    logits = torch.randn(1, 3, 1, 6, dtype=torch.float64)
    target = torch.tensor([[[0, 1, 255, 2, 255, 1]]])
    keep = target[0, 0] != 255
    expected = _direct_dice(logits[..., keep], target[..., keep])
    assert torch.allclose(DiceLoss(ignore_index=255)(logits, target), expected)


def test_dice_ce_is_the_mean_of_both_and_ignores_pixels():
    torch.manual_seed(2)
    logits = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    target = torch.randint(0, 3, (2, 4, 4))
    target[0, 0, 0] = 255
    ce = F.cross_entropy(logits, target, ignore_index=255)
    expected = 0.5 * (DiceLoss(ignore_index=255)(logits, target) + ce)
    assert torch.allclose(DiceCELoss(ignore_index=255)(logits, target), expected)


def test_dice_gradcheck():
    torch.manual_seed(3)
    logits = torch.randn(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (1, 2, 3))
    assert torch.autograd.gradcheck(lambda x: DiceCELoss()(x, target), (logits,))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (torch.full((1, 2, 2), 3), r"\[0, 2\]"),
        (torch.zeros(1, 2, 3, dtype=torch.long), r"\(B, H, W\)"),
        (torch.zeros(1, 2, 2), "integer"),
    ],
)
def test_dice_rejects_bad_targets(target, message):
    with pytest.raises(ValueError, match=message):
        DiceLoss()(torch.zeros(1, 3, 2, 2), target)
