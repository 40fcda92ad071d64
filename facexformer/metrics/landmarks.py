"""Landmark metrics: normalised mean error (NME), failure rate, CED curve and its area, as STAR reports them.

References: ZhenglinZhou/STAR @ 9b12574 ``lib/metric/nme.py`` and ``lib/metric/fr_and_auc.py``;
HRNet @ f776dbe ``lib/core/evaluation.py``; mmpose @ 759b39c ``keypoint_nme`` (AFLW box size).

Per image i: NME_i = mean_k ||p_k - g_k||_2 / D_i, with D_i measured on the ground truth; the NME reported
is the mean of NME_i over images (STAR and HRNet; mmpose averages over points, the same number for full
annotations). Values are fractions (0.0402, not 4.02). Normalisations (``D_i``):

- ``inter_ocular``: distance between two points, default the outer eye corners (68: 36/45, 98: 60/72,
  29: 8/9).
- ``inter_pupil``: distance between two pupil centres, each the mean of a point group (68: mean of 36-41
  and of 42-47; 98: 96/97; 29: 16/17). STAR's default for COFW is inter-pupil.
- ``bbox``: face size sqrt(w * h) of the box (x0, y0, x1, y1) passed to ``update``; for AFLW-19 (square
  boxes) this is HRNet's csv ``box_size`` and mmpose's longer box side. Without a box: the ground-truth
  landmark extent (tight box of the target points).
- ``diagonal``: sqrt(w² + h²) of the same box (or extent).
- ``none``: D_i = 1, the mean point error in input units.

``distance`` (B,) passed to ``update`` overrides D_i for the rows where it is finite: a dataset's own
normaliser, such as AFLW-19's csv ``box_size`` (HRNet, mmpose); NaN rows use the normalisation above.

``indices`` overrides the two points (or point groups) for ``inter_ocular`` / ``inter_pupil``: a pair whose
sides are an int or a sequence of ints (each side is averaged).

CED, failure rate and AUC follow STAR's ``FR_AUC.test``: the grid is
``numpy.arange(0, threshold + step, step)`` (at threshold 0.05 floating point gives 502 samples ending at
0.0501, reproduced on purpose); CED(x) is the fraction of images with NME <= x; FR = 1 - CED(last x), so
an NME strictly above the threshold fails; AUC is Simpson's rule (``scipy.integrate.simpson``) over the
grid divided by the threshold. With an odd sample count (thresholds 0.08, 0.10) every scipy agrees; with
an even one (0.05) scipy < 1.11 and >= 1.11 differ in the 5th decimal. Nothing is rounded here (STAR
rounds FR to 4 and AUC to 6 decimals when printing).

All metrics share one state (per-image NMEs, float64, concatenated across processes) and one ``update``, so
a ``MetricCollection(compute_groups=True)`` updates them once. No update -> NaN. A NaN NME counts as a
failure at every threshold (FR counts it, the CED and AUC never credit it) and makes NME NaN;
``NonFinitePredictions`` counts those images. Target points that are not finite are missing: left out of the
image's mean error. An image whose ground truth gives no positive normalising distance (zero inter-ocular
distance, missing normalising points, no annotated point) is skipped and counted by ``DegenerateTargets``,
never an error in the middle of a fit. ``CED`` returns a curve: log it as a table or plot it, not with
``log_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.integrate import simpson
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from facexformer.geometry.landmark_schemes import SCHEMES
from facexformer.metrics.float64_states import Float64States

NORMALIZATIONS = ("inter_ocular", "inter_pupil", "bbox", "diagonal", "none")
IndexSide = int | Sequence[int]
Groups = tuple[tuple[int, ...], tuple[int, ...]]


def _as_group(side: IndexSide, num_landmarks: int) -> tuple[int, ...]:
    values = np.asarray(side).reshape(-1)
    group = tuple(int(i) for i in values)
    in_range = bool(group) and all(0 <= i < num_landmarks for i in group)
    if not np.issubdtype(values.dtype, np.integer) or not in_range:
        raise ValueError(f"NME indices {side!r} must be a non-empty set of integers in [0, {num_landmarks})")
    return group


def resolve_groups(
    normalization: str, num_landmarks: int, indices: tuple[IndexSide, IndexSide] | None = None
) -> Groups | None:
    """The two point groups whose mean positions give the normalising distance (None for box-based ones).

    Defaults come from ``facexformer.geometry.landmark_schemes`` for 68, 98, 29 and 19 points; other counts need
    ``indices`` for ``inter_ocular`` / ``inter_pupil``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"NME normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if normalization in ("bbox", "diagonal", "none"):
        if indices is not None:
            raise ValueError(f"NME normalization {normalization!r} takes no indices, got {indices!r}")
        return None
    if indices is not None:
        if len(indices) != 2:
            raise ValueError(f"NME indices must be a pair (left, right), got {indices!r}")
        return _as_group(indices[0], num_landmarks), _as_group(indices[1], num_landmarks)
    scheme = SCHEMES.get(num_landmarks)
    default = None
    if scheme is not None:
        default = scheme.ocular if normalization == "inter_ocular" else scheme.pupils
    if default is None:
        raise ValueError(
            f"no default {normalization} points for {num_landmarks} landmarks; pass indices=(left, right) "
            f"or use normalization='bbox'"
        )
    return _as_group(default[0], num_landmarks), _as_group(default[1], num_landmarks)


def _box_sides(target: Tensor, box: Tensor | None) -> tuple[Tensor, Tensor]:
    """Width and height (B,) of ``box`` (B, 4) (x0, y0, x1, y1), or of the landmark extent if it is None."""
    if box is None:
        valid = torch.isfinite(target).all(dim=-1, keepdim=True)
        low = torch.where(valid, target, torch.inf).amin(dim=1)
        high = torch.where(valid, target, -torch.inf).amax(dim=1)
        return high[:, 0] - low[:, 0], high[:, 1] - low[:, 1]
    if box.ndim != 2 or box.shape != (target.shape[0], 4):
        raise ValueError(f"NME box must be (B, 4) (x0, y0, x1, y1), B = {target.shape[0]}; got {tuple(box.shape)}")
    box = box.to(device=target.device, dtype=target.dtype)
    return box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]


def _override(scale: Tensor, distance: Tensor) -> Tensor:
    """``scale`` (B,) with the finite entries of ``distance`` (B,) in their place."""
    distance = distance.to(device=scale.device, dtype=scale.dtype).reshape(-1)
    if distance.shape != scale.shape:
        raise ValueError(f"NME distance must be (B,) with B = {scale.shape[0]}, got {tuple(distance.shape)}")
    return torch.where(distance.isfinite(), distance, scale)


def errors_and_scales(
    preds: Tensor,
    target: Tensor,
    normalization: str = "inter_ocular",
    indices: tuple[IndexSide, IndexSide] | None = None,
    box: Tensor | None = None,
    distance: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-image mean point error and normalising distance, both (B,) float64 (before the division);
    ``distance`` (B,) pixels replaces the computed normalising distance where it is finite.

    Target points that are not finite (missing) are left out of the mean; a prediction that is not finite at
    an annotated point makes the image's error NaN. The distance is NaN or <= 0 when the ground truth cannot
    give one (missing normalising points, zero inter-ocular distance, no annotated point).
    """
    if preds.shape != target.shape or preds.ndim != 3 or preds.shape[-1] != 2:
        raise ValueError(
            f"NME expects preds and target of equal shape (B, N, 2), got {tuple(preds.shape)} and {tuple(target.shape)}"
        )
    groups = resolve_groups(normalization, target.shape[1], indices)
    preds, target = preds.to(torch.float64), target.to(torch.float64)
    annotated = torch.isfinite(target).all(dim=-1)
    offsets = torch.linalg.vector_norm(preds - torch.where(annotated[..., None], target, 0.0), dim=-1)
    count = annotated.sum(dim=-1)
    point_error = torch.where(annotated, offsets, 0.0).sum(dim=-1) / count.clamp_min(1)
    if groups is not None:
        left, right = (target[:, list(group)].mean(dim=1) for group in groups)
        scale = torch.linalg.vector_norm(left - right, dim=-1)
    elif normalization == "none":
        scale = torch.ones_like(point_error)
    else:
        width, height = _box_sides(target, box)
        scale = (width * height).sqrt() if normalization == "bbox" else torch.hypot(width, height)
    if distance is not None:
        scale = _override(scale, distance)
    scale = torch.where(count > 0, scale, torch.nan)
    return point_error, scale


def nme_per_image(
    preds: Tensor,
    target: Tensor,
    normalization: str = "inter_ocular",
    indices: tuple[IndexSide, IndexSide] | None = None,
    box: Tensor | None = None,
    distance: Tensor | None = None,
) -> Tensor:
    """Per-image NME (B,) float64 for ``preds`` and ``target`` (B, N, 2) pixels; ``box`` (B, 4) pixels;
    ``distance`` (B,) pixels: per-image normalising distances that replace the normalisation where finite.

    See the module docstring for the normalisations and ``errors_and_scales`` for missing points. A
    normalising distance that is not positive (degenerate ground truth) raises ``ValueError``; the metrics
    skip and count such images instead.
    """
    point_error, scale = errors_and_scales(preds, target, normalization, indices, box, distance)
    bad = ~(scale > 0)
    if bad.any():
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(f"NME ({normalization}): normalising distance is not positive for batch rows {rows}")
    return point_error / scale


def ced_curve(errors: Tensor, threshold: float, step: float = 1e-4) -> tuple[Tensor, Tensor]:
    """STAR's cumulative error distribution of per-image ``errors`` (M,).

    Returns ``x`` = ``numpy.arange(0, threshold + step, step)`` and ``y`` (same length) = fraction of images
    with error <= x (a NaN error counts as infinite: a failure at every x), both float64 on ``errors``'
    device; ``y`` is NaN when ``errors`` is empty.
    """
    if threshold <= 0 or step <= 0:
        raise ValueError(f"CED threshold and step must be positive, got {threshold} and {step}")
    grid = torch.from_numpy(np.arange(0.0, threshold + step, step)).to(errors.device)
    errors = errors.detach().to(torch.float64).flatten()
    errors = torch.where(torch.isnan(errors), torch.inf, errors)  # a NaN error fails at every threshold
    if errors.numel() == 0:
        return grid, torch.full_like(grid, float("nan"))
    counts = torch.searchsorted(errors.sort().values, grid, right=True)
    return grid, counts.to(torch.float64) / errors.numel()


def failure_rate(errors: Tensor, threshold: float, step: float = 1e-4) -> Tensor:
    """Fraction of ``errors`` (M,) above the last CED grid point (``threshold`` up to rounding); float64."""
    _, fraction = ced_curve(errors, threshold, step)
    return 1.0 - fraction[-1]


def ced_auc(errors: Tensor, threshold: float, step: float = 1e-4) -> Tensor:
    """Area under the CED of ``errors`` (M,) up to ``threshold`` (Simpson's rule) / ``threshold``."""
    grid, fraction = ced_curve(errors, threshold, step)
    area = simpson(fraction.cpu().numpy(), x=grid.cpu().numpy()) / threshold
    return torch.tensor(float(area), dtype=torch.float64, device=errors.device)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ModuleNotFoundError(
            "plot() needs matplotlib, which is not installed: pip install matplotlib (or facexformer[plot])"
        ) from err


class _LandmarkErrors(Float64States):
    """Collects per-image NMEs; subclasses differ only in ``compute``."""

    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        normalization: str = "inter_ocular",
        num_landmarks: int = 68,
        indices: tuple[IndexSide, IndexSide] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        resolve_groups(normalization, num_landmarks, indices)
        self.normalization = normalization
        self.num_landmarks = num_landmarks
        self.indices = indices
        self.add_state("errors", default=[], dist_reduce_fx="cat")
        self.add_state("degenerate", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, box: Tensor | None = None, distance: Tensor | None = None) -> None:
        """Add a batch: ``preds``, ``target`` (B, N, 2) pixels; ``box`` (B, 4) (x0, y0, x1, y1) or None;
        ``distance`` (B,) per-image normalising distances in pixels (NaN: use the normalisation) or None."""
        if target.ndim != 3 or target.shape[1] != self.num_landmarks:
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_landmarks} landmarks, got target {tuple(target.shape)}"
            )
        point_error, scale = errors_and_scales(preds, target, self.normalization, self.indices, box, distance)
        usable = scale > 0
        self.degenerate += (~usable).sum().to(self.degenerate.dtype)
        self.errors.append(point_error[usable] / scale[usable])

    def per_image(self) -> Tensor:
        """All per-image NMEs seen so far (M,) float64, in update order (after a sync: all processes')."""
        errors = self.errors
        if isinstance(errors, Tensor):
            return errors
        if not errors:
            return torch.empty(0, dtype=torch.float64, device=self.device)
        return dim_zero_cat(errors)

    def gathered_per_image(self) -> Tensor:
        """``per_image()`` of every process (M,) float64: gathered under DDP, where every process must call it;
        the metric's own state is left as it was."""
        with self.sync_context():
            return self.per_image()

    def plot(self, val: Any = None, ax: Any = None) -> Any:
        """Plot ``val`` (default ``compute()``) via torchmetrics (needs matplotlib) -> (fig, ax)."""
        _require_matplotlib()
        return self._plot(val, ax)


class NME(_LandmarkErrors):
    """Mean normalised error over images (a fraction); NaN before any update."""

    higher_is_better = False
    plot_lower_bound = 0.0

    def compute(self) -> Tensor:
        errors = self.per_image()
        if errors.numel() == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=self.device)
        return errors.mean()


class NonFinitePredictions(_LandmarkErrors):
    """Number of images whose prediction is not finite (NaN or inf) at an annotated point (float64 count).

    Such an image's NME is NaN, so ``NME`` is NaN, ``FailureRate`` counts it as a failure and ``AUC`` gives
    it no credit; this metric says how many there were.
    """

    higher_is_better = None  # a diagnostic count, not a score to compare models by
    plot_lower_bound = 0.0

    def compute(self) -> Tensor:
        return (~torch.isfinite(self.per_image())).sum().to(torch.float64)


class DegenerateTargets(_LandmarkErrors):
    """Number of images skipped because their ground truth gives no normalising distance (zero inter-ocular
    distance, missing normalising points, no annotated point); float64 count."""

    higher_is_better = None
    plot_lower_bound = 0.0

    def compute(self) -> Tensor:
        return self.degenerate.clone()


class _Thresholded(_LandmarkErrors):
    """Scores of the CED up to ``threshold``: fractions of the images, in [0, 1]."""

    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, threshold: float = 0.1, step: float = 1e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if threshold <= 0 or step <= 0:
            name = type(self).__name__
            raise ValueError(f"{name}: threshold and step must be positive, got {threshold}, {step}")
        self.threshold = float(threshold)
        self.step = float(step)


class FailureRate(_Thresholded):
    """Fraction of images whose NME exceeds ``threshold`` (STAR's FR); NaN before any update."""

    higher_is_better = False

    def compute(self) -> Tensor:
        return failure_rate(self.per_image(), self.threshold, self.step)


class AUC(_Thresholded):
    """Area under the CED up to ``threshold``, divided by ``threshold`` (STAR's AUC); NaN before an update."""

    higher_is_better = True

    def compute(self) -> Tensor:
        return ced_auc(self.per_image(), self.threshold, self.step)


class CED(_Thresholded):
    """Cumulative error distribution: ``compute()`` -> (thresholds, fractions), both (K,) float64."""

    higher_is_better = None

    def compute(self) -> tuple[Tensor, Tensor]:
        return ced_curve(self.per_image(), self.threshold, self.step)

    def plot(self, val: tuple[Tensor, Tensor] | None = None, ax: Any = None) -> Any:
        """Draw the curve (``val`` or ``compute()``) on ``ax`` or a new figure; needs matplotlib."""
        _require_matplotlib()
        import matplotlib.pyplot as plt

        grid, fraction = self.compute() if val is None else val
        figure, ax = plt.subplots() if ax is None else (ax.get_figure(), ax)
        ax.plot(grid.cpu().numpy(), fraction.cpu().numpy())
        ax.set_xlim(0.0, self.threshold)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel(f"NME ({self.normalization})")
        ax.set_ylabel("fraction of images")
        return figure, ax
