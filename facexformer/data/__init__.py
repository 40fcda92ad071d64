"""Data: raw-format datasets, synthetic faces, the face crop, balanced multi-task batches, augmentation."""

from facexformer.data.augment import AugmentOptions, FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import EvaluationBatches, MultiTaskDataModule, SelectTasks
from facexformer.data.hf import HFDataset
from facexformer.data.sampler import BalancedTaskSampler, ShardSampler
from facexformer.data.splits import HeldOut, RandomSplit, random_split_with_mirrors
from facexformer.data.synthetic import SyntheticFaces

__all__ = [
    "AugmentOptions",
    "BalancedTaskSampler",
    "CropFace",
    "EvaluationBatches",
    "FaceAugment",
    "HFDataset",
    "HeldOut",
    "MultiTaskDataModule",
    "RandomSplit",
    "SelectTasks",
    "ShardSampler",
    "SyntheticFaces",
    "collate_multitask",
    "random_split_with_mirrors",
]
