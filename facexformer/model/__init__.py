"""The network as plain ``nn.Module``s: timm backbone, multi-scale fusion, two-way decoder, task heads."""

from facexformer.model.backbone import Backbone, TimmBackbone
from facexformer.model.decoder import TwoWayDecoder
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.network import FaceXFormerNet

__all__ = [
    "Backbone",
    "FaceXFormerNet",
    "MultiScaleFusion",
    "TimmBackbone",
    "TwoWayDecoder",
]
