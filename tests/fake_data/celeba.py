"""CelebA as downloaded (aligned images): ``img_align_celeba``, ``list_attr_celeba.txt``,
``list_eval_partition.txt``."""

from pathlib import Path

import numpy as np

from facexformer.tasks.attributes import ATTRIBUTE_NAMES
from tests.fake_data.faces import photo

#: partition of each image written (2 = test): three test faces and one training face
PARTS = (0, 2, 2, 2)


def write(root: Path, parts=PARTS, seed: int = 0) -> Path:
    """One 44x54 aligned photo per entry of ``parts`` with random attributes (-1/1, spaced as the real file)."""
    rng = np.random.default_rng(seed)
    names = [f"{i + 1:06d}.jpg" for i in range(len(parts))]
    lines = []
    for i, name in enumerate(names):
        photo(root / "img_align_celeba" / name, 44, 54, seed + i)
        values = rng.choice([-1, 1], 40)
        lines.append(name + "".join(f" {v}" if v < 0 else f"  {v}" for v in values))
    header = [str(len(names)), " ".join(ATTRIBUTE_NAMES)]
    (root / "list_attr_celeba.txt").write_text("\n".join(header + lines) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, parts, strict=True)))
    return root
