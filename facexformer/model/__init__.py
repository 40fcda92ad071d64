"""The network as plain ``nn.Module``s: timm backbone, multi-scale fusion, two-way decoder, task heads."""

from facexformer.model.backbone import Backbone, TimmBackbone
from facexformer.model.decoder import TwoWayDecoder
from facexformer.model.fusion import MultiScaleFusion
from facexformer.model.network import FaceXFormerNet
from facexformer.model.onednn_linear import OneDnnLinear, use_onednn_linears

__all__ = [
    "Backbone",
    "FaceXFormerNet",
    "MultiScaleFusion",
    "OneDnnLinear",
    "TimmBackbone",
    "TwoWayDecoder",
    "use_onednn_linears",
]
