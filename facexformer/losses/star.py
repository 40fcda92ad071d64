"""STAR loss (Zhou et al., CVPR 2023): landmark error measured along each heatmap's principal axes.

Reference: ZhenglinZhou/STAR @ 9b12574 ``lib/loss/starLoss.py`` (v1) and ``lib/loss/starLoss_v2.py``
(v2; STAR's training config). Coordinates are STAR's normalised crop space: heatmap column j of a W-wide
map sits at 2j / (W - 1) - 1 ("align corners"), rows likewise; targets use the same space.

Per channel: the heatmap is normalised to a distribution, its soft-argmax mean mu and unbiased weighted
covariance Sigma are taken (``heatmap_mean_cov``), Sigma = V diag(lambda) V^T (lambda ascending) and the error
e = target - mu is projected on the eigenvectors.

- v1: whiten z_i = (e . v_i) / sqrt(lambda_i + 1e-5), distance of the 2-vector z (SmoothL1 on its norm),
  mean over B*N, plus w * mean(|lambda_0| + |lambda_1|).
- v2: per-axis distance first (SmoothL1 on |e . v_i|), then divided by sqrt(lambda_i + 1e-5), summed over the
  two axes, plus w * (|lambda_0| + |lambda_1|), mean over B*N.

Deliberate differences from the reference (none changes its numbers on CPU):

- Projection on the eigenvector **columns** v_i = V[:, i]. STAR indexes rows, which is the same only because
  CPU LAPACK returns symmetric 2x2 eigenvector matrices; columns are correct for any solver and make both
  versions independent of eigenvector signs.
- The eigen-decomposition always runs on CPU (as STAR does), whatever the heatmaps' device.
- Half-precision heatmaps are computed in float32 (``eigh`` has no half kernels); the loss is float32 then.
  No matmul is used, so autocast leaves the computation in the input precision.
- ``dist`` is "smoothl1" (STAR's, scale 0.01), "l1", "l2" (torch's element means) or, for v1 only, "wing".
  STAR's v2 cannot run with "wing" (TypeError); here that combination is refused at construction.

Points whose target is not finite (NaN: missing) are left out of both terms; the loss is the mean over the
annotated points (``facexformer.losses.masked``), STAR's mean over B*N when none is missing.

As in the reference, a channel with no mass or an isotropic peak has equal eigenvalues, where eigenvector
gradients are undefined.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facexformer.losses.masked import fill_missing, finite_points, masked_mean
from facexformer.losses.wing import smooth_l1_per_point, wing_per_point

_EPSILON = 1e-5
_MASS_FLOOR = 1e-6
_VERSIONS = ("v1", "v2")
_DISTANCES = ("smoothl1", "l1", "l2", "wing")


def _align_corners_grid(size: int, like: Tensor) -> Tensor:
    """Pixel positions 0..size-1 mapped to [-1, 1] (align corners), built in float32 as STAR does."""
    steps = torch.arange(size, dtype=torch.float32, device=like.device)
    return (steps / (size - 1) * 2.0 - 1.0).to(like.dtype)


def heatmap_mean_cov(heatmaps: Tensor, epsilon: float = _EPSILON) -> tuple[Tensor, Tensor]:
    """Soft-argmax mean and unbiased weighted covariance of each heatmap channel.

    ``heatmaps``: (B, N, H, W), non-negative. Returns ``mean`` (B, N, 2) as (x, y) and ``cov`` (B, N, 2, 2)
    (rows/columns in (x, y) order), both in STAR's normalised units (align-corners grid in [-1, 1]).
    Each channel is divided by max(its sum, 1e-6); cov = S / (V1 - V2 / V1) with V1 = sum(P) + epsilon and
    V2 = sum(P^2) + epsilon. Half precision is promoted to float32; only element-wise ops and sums are used,
    so autocast does not lower the precision.
    """
    if heatmaps.ndim != 4 or heatmaps.shape[-1] < 2 or heatmaps.shape[-2] < 2:
        raise ValueError(f"heatmap_mean_cov: expects heatmaps (B, N, H, W) with H, W >= 2, got {tuple(heatmaps.shape)}")
    if heatmaps.dtype in (torch.float16, torch.bfloat16):
        heatmaps = heatmaps.float()
    height, width = heatmaps.shape[-2:]
    mass = heatmaps.sum(dim=(-2, -1), keepdim=True).clamp_min(_MASS_FLOOR)
    prob = heatmaps / mass
    grid_x = _align_corners_grid(width, prob)
    grid_y = _align_corners_grid(height, prob)
    marginal_x = prob.sum(dim=-2)
    marginal_y = prob.sum(dim=-1)
    mean_x = (marginal_x * grid_x).sum(dim=-1)
    mean_y = (marginal_y * grid_y).sum(dim=-1)
    dev_x = grid_x - mean_x.unsqueeze(-1)
    dev_y = grid_y - mean_y.unsqueeze(-1)
    s_xx = (marginal_x * dev_x.pow(2)).sum(dim=-1)
    s_yy = (marginal_y * dev_y.pow(2)).sum(dim=-1)
    s_xy = ((prob * dev_y.unsqueeze(-1)).sum(dim=-2) * dev_x).sum(dim=-1)
    v1 = prob.sum(dim=(-2, -1)) + epsilon
    v2 = prob.pow(2).sum(dim=(-2, -1)) + epsilon
    scale = (v1 - v2 / v1).unsqueeze(-1).unsqueeze(-1)
    cov = torch.stack([torch.stack([s_xx, s_xy], dim=-1), torch.stack([s_xy, s_yy], dim=-1)], dim=-2) / scale
    return torch.stack([mean_x, mean_y], dim=-1), cov


def _eigh_on_cpu(cov: Tensor) -> tuple[Tensor, Tensor]:
    """Ascending eigenvalues (..., 2), column eigenvectors (..., 2, 2): solved on CPU, on cov's device."""
    values, vectors = torch.linalg.eigh(cov.cpu())
    return values.to(cov.device), vectors.to(cov.device)


class STARLoss(nn.Module):
    """STAR loss on landmark heatmaps; see the module docstring for the maths and the differences.

    ``forward(heatmaps, targets)``: heatmaps (B, N, H, W) non-negative; targets (B, N, 2) (x, y) in STAR's
    normalised coordinates (align-corners grid of the heatmap). Returns a scalar.
    ``w`` weighs the eigenvalue term; ``dist`` picks the distance; ``version`` is "v1" or "v2".
    """

    def __init__(self, w: float = 1.0, dist: str = "smoothl1", version: str = "v2") -> None:
        super().__init__()
        if version not in _VERSIONS:
            raise ValueError(f"STARLoss: version must be one of {_VERSIONS}, got {version!r}")
        if dist not in _DISTANCES:
            raise ValueError(f"STARLoss: dist must be one of {_DISTANCES}, got {dist!r}")
        if version == "v2" and dist == "wing":
            raise ValueError("STARLoss: dist='wing' is only defined for version='v1' (STAR's v2 fails)")
        self.w = float(w)
        self.dist = dist
        self.version = version

    def forward(self, heatmaps: Tensor, targets: Tensor) -> Tensor:
        if heatmaps.ndim != 4 or targets.shape != (*heatmaps.shape[:2], 2):
            raise ValueError(
                f"STARLoss: expects heatmaps (B, N, H, W) and targets (B, N, 2), got {tuple(heatmaps.shape)} "
                f"and {tuple(targets.shape)}"
            )
        mean, cov = heatmap_mean_cov(heatmaps)
        values, vectors = _eigh_on_cpu(cov)
        valid = finite_points(targets)
        error = fill_missing(targets.to(mean.dtype), valid) - mean
        projected = (error.unsqueeze(-1) * vectors).sum(dim=-2)
        spread = (values + _EPSILON).sqrt()
        eigen_term = values.abs().sum(dim=-1)
        if self.version == "v1":
            per_point = self._vector_distance(projected / spread) + self.w * eigen_term
        else:
            per_point = (self._axis_distance(projected) / spread).sum(dim=-1) + self.w * eigen_term
        return masked_mean(per_point, valid)

    def _vector_distance(self, whitened: Tensor) -> Tensor:
        """v1: distance of each whitened (B, N, 2) vector from 0 -> (B, N)."""
        if self.dist == "smoothl1":
            return smooth_l1_per_point(whitened)
        if self.dist == "wing":
            return wing_per_point(whitened)
        if self.dist == "l1":
            return whitened.abs().mean(dim=-1)
        return whitened.pow(2).mean(dim=-1)

    def _axis_distance(self, projected: Tensor) -> Tensor:
        """v2: distance of each scalar projection (B, N, 2) from 0, element-wise."""
        if self.dist == "smoothl1":
            return smooth_l1_per_point(projected.unsqueeze(-1))
        if self.dist == "l1":
            return projected.abs()
        return projected.pow(2)

    def extra_repr(self) -> str:
        return f"w={self.w}, dist={self.dist!r}, version={self.version!r}"
