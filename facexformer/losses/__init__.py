"""Losses of the face tasks: landmark regression and heatmaps, head pose, parsing, age, identity."""

from facexformer.losses.age import AgeLoss
from facexformer.losses.arcface import ArcFaceLoss
from facexformer.losses.awing import AdaptiveWingLoss
from facexformer.losses.dice import DiceCELoss, DiceLoss
from facexformer.losses.geodesic import GeodesicLoss, geodesic_distance
from facexformer.losses.star import STARLoss
from facexformer.losses.wing import SmoothL1Loss, WingLoss

__all__ = [
    "AdaptiveWingLoss", "AgeLoss", "ArcFaceLoss", "DiceCELoss", "DiceLoss", "GeodesicLoss", "STARLoss",
    "SmoothL1Loss", "WingLoss", "geodesic_distance",
]
