"""Head-pose geometry: Euler angles <-> rotation matrices in the 300W-LP / AFLW2000 convention.

Convention (6DRepNet ``utils.get_R``; see ``docs/tasks.md``): angles (pitch, yaw, roll),
R = Rz(roll) · Ry(yaw) · Rx(pitch) with right-handed elementary rotations.
"""

from __future__ import annotations

import torch


def euler_to_matrix(angles: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    """(..., 3) angles (pitch, yaw, roll) -> (..., 3, 3) rotation matrices R = Rz(roll) Ry(yaw) Rx(pitch)."""
    if angles.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) angles (pitch, yaw, roll), got shape {tuple(angles.shape)}")
    rad = torch.deg2rad(angles) if degrees else angles
    cp, cy, cr = rad.cos().unbind(-1)
    sp, sy, sr = rad.sin().unbind(-1)
    rows = [
        cr * cy,
        cr * sy * sp - sr * cp,
        cr * sy * cp + sr * sp,
        sr * cy,
        sr * sy * sp + cr * cp,
        sr * sy * cp - cr * sp,
        -sy,
        cy * sp,
        cy * cp,
    ]
    return torch.stack(rows, dim=-1).reshape(*angles.shape[:-1], 3, 3)


def matrix_to_euler(matrix: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) angles (pitch, yaw, roll); inverse of ``euler_to_matrix``.

    Near the singularity (|yaw| = 90°) roll is set to 0 and pitch absorbs the remaining rotation.
    """
    r = matrix
    cos_yaw = torch.sqrt(r[..., 0, 0] ** 2 + r[..., 1, 0] ** 2)
    singular = cos_yaw < 1e-6
    yaw = torch.atan2(-r[..., 2, 0], cos_yaw)
    pitch = torch.where(singular, torch.atan2(-r[..., 1, 2], r[..., 1, 1]), torch.atan2(r[..., 2, 1], r[..., 2, 2]))
    roll = torch.where(singular, torch.zeros_like(yaw), torch.atan2(r[..., 1, 0], r[..., 0, 0]))
    angles = torch.stack([pitch, yaw, roll], dim=-1)
    return torch.rad2deg(angles) if degrees else angles


def flip_euler(angles: torch.Tensor) -> torch.Tensor:
    """Angles (..., 3) (pitch, yaw, roll) of the horizontally mirrored face: (pitch, -yaw, -roll)."""
    return angles * angles.new_tensor([1.0, -1.0, -1.0])
