"""Dice loss for face parsing, and the paper's segmentation loss L_seg = mean(Dice, cross-entropy).

Dice follows the sibling SegFace code (``loss/dice_loss.py``; see ``TASKS.md`` §2.4): softmax over classes,
one-hot targets, and for each class c over the whole batch
d_c = 1 - (2 Σ p·t + smooth) / (Σ p² + Σ t² + smooth); the loss is the mean of d_c over all classes,
background included. No class weights: the paper cites Generalised Dice, the sibling code does not weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_parsing_inputs(logits: Tensor, target: Tensor, ignore_index: int | None, name: str) -> Tensor:
    """Validate (B, C, H, W) logits against (B, H, W) labels; return the (B, H, W) mask of scored pixels."""
    if logits.ndim != 4:
        raise ValueError(f"{name}: logits must be (B, C, H, W), got shape {tuple(logits.shape)}")
    b, c, h, w = logits.shape
    if target.shape != (b, h, w):
        raise ValueError(f"{name}: target must be (B, H, W) = {(b, h, w)}, got shape {tuple(target.shape)}")
    if target.dtype.is_floating_point:
        raise ValueError(f"{name}: target must hold integer class labels, got dtype {target.dtype}")
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    labels = target[valid]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c):
        raise ValueError(
            f"{name}: target labels must lie in [0, {c - 1}] (or equal ignore_index={ignore_index}), "
            f"found values in [{int(labels.min())}, {int(labels.max())}]"
        )
    return valid


class DiceLoss(nn.Module):
    """Multi-class soft Dice loss on (B, C, H, W) logits and (B, H, W) int64 labels -> scalar.

    Pixels whose label equals ``ignore_index`` count neither in predictions nor in targets.
    """

    def __init__(self, smooth: float = 1e-5, ignore_index: int | None = None):
        super().__init__()
        self.smooth = smooth
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        valid = _check_parsing_inputs(logits, target, self.ignore_index, type(self).__name__)
        num_classes = logits.shape[1]
        weight = valid.unsqueeze(1).to(logits.dtype)
        probs = logits.softmax(dim=1) * weight
        labels = torch.where(valid, target, torch.zeros_like(target))
        one_hot = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).to(logits.dtype) * weight
        dims = (0, 2, 3)
        intersection = (probs * one_hot).sum(dims)
        denominator = (probs * probs).sum(dims) + (one_hot * one_hot).sum(dims)
        dice = (2 * intersection + self.smooth) / (denominator + self.smooth)
        return (1 - dice).mean()


class DiceCELoss(nn.Module):
    """L_seg = (Dice + cross-entropy) / 2 on (B, C, H, W) logits and (B, H, W) int64 labels -> scalar."""

    def __init__(self, smooth: float = 1e-5, ignore_index: int | None = None):
        super().__init__()
        self.dice = DiceLoss(smooth=smooth, ignore_index=ignore_index)
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        dice = self.dice(logits, target)
        ignore = self.ignore_index if self.ignore_index is not None else -100
        ce = F.cross_entropy(logits, target, ignore_index=ignore)
        return 0.5 * (dice + ce)
