"""Heads whose raw outputs become rotations in SO(3): the maps from 6 or 9 numbers, and the 9-token head.

The paper's head-pose head emits 9 tokens (one per matrix element) without saying how they become a rotation
(``TASKS.md`` §3.4 ⚠). ``rotation_from_9d`` projects them onto SO(3) with an SVD (the nearest rotation in the
Frobenius norm); ``rotation_from_6d`` is 6DRepNet's Gram–Schmidt map, for heads with 6 outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facexformer.model.heads import Float32TokenHead


def rotation_from_6d(x: Tensor) -> Tensor:
    """(..., 6) outputs -> (..., 3, 3) rotations: columns = Gram–Schmidt of the two 3-vectors (6DRepNet)."""
    if x.shape[-1] != 6:
        raise ValueError(f"rotation_from_6d: expected (..., 6) inputs, got shape {tuple(x.shape)}")
    first = F.normalize(x[..., 0:3], dim=-1)
    third = F.normalize(torch.linalg.cross(first, x[..., 3:6], dim=-1), dim=-1)
    second = torch.linalg.cross(third, first, dim=-1)
    return torch.stack([first, second, third], dim=-1)


def rotation_from_9d(x: Tensor) -> Tensor:
    """(..., 9) row-major or (..., 3, 3) outputs -> the nearest rotation (..., 3, 3), det +1, via SVD.

    R = U · diag(1, 1, det(U Vᵀ)) · Vᵀ for M = U S Vᵀ. Differentiable; the gradient is undefined where two
    singular values of M coincide (measure zero for a network's raw output).
    """
    if x.shape[-1] == 9:
        matrix = x.reshape(*x.shape[:-1], 3, 3)
    elif x.ndim >= 2 and x.shape[-2:] == (3, 3):
        matrix = x
    else:
        raise ValueError(f"rotation_from_9d: expected (..., 9) or (..., 3, 3), got shape {tuple(x.shape)}")
    u, _, vh = torch.linalg.svd(matrix)
    sign = torch.linalg.det(u @ vh)
    ones = torch.ones_like(sign)
    correction = torch.diag_embed(torch.stack([ones, ones, sign], dim=-1))
    return u @ correction @ vh


class RotationHead(nn.Module):
    """Nine tokens -> one number each -> the nearest rotation matrix.

    forward(tokens (B, 9, dim), image unused) -> (B, 3, 3) float32 rotations (``rotation_from_9d``).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.head = Float32TokenHead(dim, (9,), num_tokens=9)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return rotation_from_9d(self.head(tokens).float())
