"""300W as downloaded from iBUG: ``<folder>/<stem>.{jpg,png}`` with a ``.pts`` file of 68 1-based points."""

from pathlib import Path

from tests.fake_data.faces import face_points, photo

#: faces written per folder: common = helen/testset + lfpw/testset, challenge = ibug
FOLDERS = {"helen/testset": 2, "lfpw/testset": 1, "ibug": 1}


def write(root: Path, folders: dict[str, int] = FOLDERS, seed: int = 0) -> Path:
    """Write ``folders`` ({folder: faces}) of 60x50 photos with one 68-point face each under ``root``."""
    for k, (folder, count) in enumerate(folders.items()):
        for i in range(count):
            stem = f"face_{k}_{i}"
            photo(root / folder / f"{stem}.{'png' if 'lfpw' in folder else 'jpg'}", 60, 50, seed + 10 * k + i)
            points = face_points(68, (30 + i, 24), 30, seed + 10 * k + i) + 1.0  # .pts files are 1-based
            lines = "\n".join(f"{x:.3f} {y:.3f}" for x, y in points)
            (root / folder / f"{stem}.pts").write_text(f"version: 1\nn_points:  68\n{{\n{lines}\n}}\n")
    return root
