"""FairFace as downloaded: ``fairface_label_val.csv`` (file,age,gender,race,service_test) and ``val/<n>.jpg``."""

from pathlib import Path

from tests.fake_data.faces import photo

#: (age group, gender, race) of the validation faces written
ROWS = (("20-29", "Male", "White"), ("3-9", "Female", "East Asian"), ("more than 70", "Female", "Indian"))


def write(root: Path, rows=ROWS, seed: int = 0) -> Path:
    lines = ["file,age,gender,race,service_test"]
    for i, (age, gender, race) in enumerate(rows):
        photo(root / "val" / f"{i + 1}.jpg", 40, 40, seed + i)
        lines.append(f"val/{i + 1}.jpg,{age},{gender},{race},True")
    (root / "fairface_label_val.csv").write_text("\n".join(lines) + "\n")
    (root / "fairface_label_train.csv").write_text(lines[0] + "\n")
    return root
