"""Data: raw-format datasets, synthetic faces, the face crop, balanced multi-task batches, augmentation."""

from facexformer.data.augment import FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule, SelectTasks
from facexformer.data.sampler import BalancedTaskSampler
from facexformer.data.synthetic import SyntheticFaces

__all__ = [
    "BalancedTaskSampler", "CropFace", "FaceAugment", "MultiTaskDataModule", "SelectTasks", "SyntheticFaces",
    "collate_multitask",
]
