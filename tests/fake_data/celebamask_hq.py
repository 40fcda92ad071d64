"""CelebAMask-HQ as downloaded: ``CelebA-HQ-img/<k>.jpg``, ``CelebAMask-HQ-mask-anno/<k // 2000>/<k:05d>_<part>.png``
(binary part masks at half the image's side, as the real 512 masks of 1024 images) and
``CelebA-HQ-to-CelebA-mapping.txt``."""

from pathlib import Path

import numpy as np
from PIL import Image

from tests.fake_data.faces import photo

#: original CelebA index of each image written: one training face, then three test faces (>= 182638)
ORIG = (10, 182638, 190000, 202598)
#: parts drawn as random rectangles, painted by the reader in its own order (hat: a part without a LaPa class)
PARTS = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip", "hair", "hat")


def write(root: Path, orig=ORIG, side: int = 96, seed: int = 0) -> Path:
    """A ``side``² photo per entry of ``orig`` with a (``side`` / 2)² binary mask per part in ``PARTS``."""
    rng = np.random.default_rng(seed)
    half = side // 2
    rows = ["idx orig_idx orig_file"]
    for k, original in enumerate(orig):
        photo(root / "CelebA-HQ-img" / f"{k}.jpg", side, side, seed + k)
        rows.append(f"{k} {original} {original + 1:06d}.jpg")
        folder = root / "CelebAMask-HQ-mask-anno" / str(k // 2000)
        folder.mkdir(parents=True, exist_ok=True)
        for part in PARTS:
            mask = np.zeros((half, half), np.uint8)
            top, left = rng.integers(0, half - 4, 2)
            height, width = rng.integers(4, half // 2, 2)
            mask[top : top + height, left : left + width] = 255
            Image.fromarray(np.stack([mask] * 3, axis=-1)).save(folder / f"{k:05d}_{part}.png")
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(rows) + "\n")
    return root
