"""A whole 300W download's file list, generated: every folder of the iBUG layout with the real counts (3,837
faces in train + full), each face a ``.pts`` file (68 points of the mean face, jittered per file) beside one
small image (hard links to a single PNG, so a full-size tree is written in about a second)."""

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facexformer.data.datasets.w300 import SPLIT_FOLDERS

#: faces per folder in the standard download (train 3,148 = 337 + 2,000 + 811; full 689 = 330 + 224 + 135)
FULL_COUNTS = {
    "afw": 337,
    "helen/trainset": 2000,
    "lfpw/trainset": 811,
    "helen/testset": 330,
    "lfpw/testset": 224,
    "ibug": 135,
}
MEAN_FACE = Path(__file__).resolve().parents[1] / "facexformer" / "assets" / "mean_face_68.txt"


def write_300w(root: Path, counts: dict[str, int] = FULL_COUNTS, size: int = 48, seed: int = 0) -> Path:
    """Write the 300W layout under ``root`` (``counts`` faces per folder); returns ``root``."""
    generator = torch.Generator().manual_seed(seed)
    face = torch.from_numpy(np.loadtxt(MEAN_FACE, dtype=np.float32)[:, :2])
    face = (face - face.mean(0)) / (face.max(0).values - face.min(0).values).max() * size * 0.6 + size / 2
    root.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "face.png")
    for folder, count in counts.items():
        directory = root / folder
        directory.mkdir(parents=True, exist_ok=True)
        suffix = ".png"
        for i in range(count):
            stem = f"{folder.split('/')[0]}_{i:04d}"
            points = face + torch.randn(68, 2, generator=generator) * 0.5 + 1  # 1-based, as the files are
            lines = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points.tolist())
            (directory / f"{stem}.pts").write_text(f"version: 1\nn_points:  68\n{{\n{lines}\n}}\n")
            os.link(root / "face.png", directory / f"{stem}{suffix}")
    return root


def study_pool_size(counts: dict[str, int] = FULL_COUNTS) -> int:
    """Faces in ``train+full`` for these counts."""
    return sum(counts[folder] for folder in SPLIT_FOLDERS["train+full"])
