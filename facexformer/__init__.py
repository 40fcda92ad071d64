"""facexformer: FaceXFormer with training code, data loaders and metrics for every face task."""

from facexformer.module import FaceXFormer

__version__ = "0.1.0"

__all__ = ["FaceXFormer", "__version__"]
