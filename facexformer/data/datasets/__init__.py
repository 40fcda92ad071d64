"""Datasets in their original on-disk formats; each returns the sample contract of ``base.py``."""

from facexformer.data.datasets.aflw import AFLW19
from facexformer.data.datasets.base import DatasetFormatError, DatasetImageError, FaceDataset
from facexformer.data.datasets.celeba import CelebA
from facexformer.data.datasets.celebamask_hq import CelebAMaskHQ
from facexformer.data.datasets.cofw import COFW
from facexformer.data.datasets.expression import RAFDB, AffectNet
from facexformer.data.datasets.fairface import FairFace
from facexformer.data.datasets.headpose import AFLW2000, BIWI, W300LP
from facexformer.data.datasets.lapa import LaPa
from facexformer.data.datasets.recordio import InsightFaceRecordIO
from facexformer.data.datasets.utkface import UTKFace
from facexformer.data.datasets.verification_bin import VerificationPairs
from facexformer.data.datasets.w300 import W300
from facexformer.data.datasets.wflw import WFLW

__all__ = [
    "AFLW19",
    "AFLW2000",
    "BIWI",
    "COFW",
    "RAFDB",
    "W300",
    "W300LP",
    "WFLW",
    "AffectNet",
    "CelebA",
    "CelebAMaskHQ",
    "DatasetFormatError",
    "DatasetImageError",
    "FaceDataset",
    "FairFace",
    "InsightFaceRecordIO",
    "LaPa",
    "UTKFace",
    "VerificationPairs",
]
