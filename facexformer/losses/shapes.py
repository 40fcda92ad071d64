"""The one input check every landmark loss makes: output and target of one shape, of the expected layout."""

from __future__ import annotations

from torch import Tensor


def check_same_shape(name: str, output: Tensor, target: Tensor, layout: str) -> None:
    """Raise ``ValueError`` naming the loss ``name`` unless ``output`` and ``target`` have one shape that fits
    ``layout``: ``"(B, N, 2)"`` names exactly three dimensions, ``"(..., D)"`` one or more (sizes are not checked)."""
    dims = layout.strip("()").split(", ")
    fits = output.ndim >= len(dims) - 1 if dims[0] == "..." else output.ndim == len(dims)
    if output.shape != target.shape or not fits:
        raise ValueError(
            f"{name}: expects output and target of one shape {layout}, got {tuple(output.shape)} and "
            f"{tuple(target.shape)}"
        )
