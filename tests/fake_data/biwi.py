"""BIWI as FSA-Net distributes it: ``BIWI_noTrack.npz`` with face crops and [yaw, pitch, roll] degrees."""

from pathlib import Path

import numpy as np


def write(root: Path, count: int = 3, seed: int = 0) -> Path:
    """Write ``count`` 40x40 RGB face crops and their poses (degrees, yaw-pitch-roll order)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (count, 40, 40, 3), dtype=np.uint8)
    poses = rng.uniform(-60, 60, (count, 3))
    np.savez(root / "BIWI_noTrack.npz", image=images, pose=poses)
    return root
