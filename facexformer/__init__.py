"""facexformer: FaceXFormer with training code, data loaders and metrics for every face task.

``FaceXFormer`` is imported on first use, so that ``facexformer --help`` and the light commands do not pay for
Lightning and torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facexformer.module import FaceXFormer

__version__ = "0.1.0"

__all__ = ["FaceXFormer", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "FaceXFormer":
        from facexformer.module import FaceXFormer

        return FaceXFormer
    raise AttributeError(f"module 'facexformer' has no attribute {name!r}")
