"""Losses of the face tasks: landmark regression and heatmaps, head pose, parsing, age, identity."""

from facexformer.losses.age import AgeLoss
from facexformer.losses.arcface import ArcFaceLoss
from facexformer.losses.awing import AdaptiveWingLoss
from facexformer.losses.dice import DiceCELoss, DiceLoss
from facexformer.losses.geodesic import GeodesicLoss, geodesic_distance
from facexformer.losses.masked import CoordinateL1Loss, HeatmapMSELoss
from facexformer.losses.star import STARLoss
from facexformer.losses.wing import SmoothL1Loss, WingLoss

__all__ = [
    "AdaptiveWingLoss",
    "AgeLoss",
    "ArcFaceLoss",
    "CoordinateL1Loss",
    "DiceCELoss",
    "DiceLoss",
    "GeodesicLoss",
    "HeatmapMSELoss",
    "STARLoss",
    "SmoothL1Loss",
    "WingLoss",
    "geodesic_distance",
]
