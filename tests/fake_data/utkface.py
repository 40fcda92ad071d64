"""UTKFace as downloaded (``<age>_<gender>_<race>_<date>.jpg.chip.jpg``) with CORAL's ``utk_test.csv``."""

from pathlib import Path

from tests.fake_data.faces import photo

#: chips written; the CORAL test file lists the first three (ages 21-60, written as age - 21)
NAMES = (
    "25_1_3_20170104223505487.jpg.chip.jpg",
    "45_0_0_20170117190757797.jpg.chip.jpg",
    "33_0_2_20170109013804013.jpg.chip.jpg",
    "70_0_4_20170109013804014.jpg.chip.jpg",
)


def write(root: Path, names=NAMES, seed: int = 0) -> Path:
    for i, name in enumerate(names):
        photo(root / "UTKFace" / name, 40, 40, seed + i)
    rows = [f"{i},{name},{int(name.split('_')[0]) - 21}" for i, name in enumerate(names[:3])]
    (root / "utk_test.csv").write_text(",file,age\n" + "\n".join(rows) + "\n")
    (root / "utk_train.csv").write_text(",file,age\n")
    return root
