"""torchmetrics metrics of the face tasks: landmark NME / failure rate / AUC / CED, pose, parsing, age,
visibility and face verification."""

from facexformer.metrics.age import AgeMAE
from facexformer.metrics.float64_states import Float64States
from facexformer.metrics.landmarks import (
    AUC,
    CED,
    NME,
    DegenerateTargets,
    FailureRate,
    NonFinitePredictions,
    ced_auc,
    ced_curve,
    failure_rate,
    nme_per_image,
)
from facexformer.metrics.parsing import ParsingF1
from facexformer.metrics.pose import PoseMAE
from facexformer.metrics.verification import VerificationAccuracy, kfold_accuracy
from facexformer.metrics.visibility import RecallAtPrecision

__all__ = [
    "AUC",
    "CED",
    "NME",
    "AgeMAE",
    "DegenerateTargets",
    "FailureRate",
    "Float64States",
    "NonFinitePredictions",
    "ParsingF1",
    "PoseMAE",
    "RecallAtPrecision",
    "VerificationAccuracy",
    "ced_auc",
    "ced_curve",
    "failure_rate",
    "kfold_accuracy",
    "nme_per_image",
]
