"""RAF-DB basic as downloaded: ``basic/EmoLabel/list_patition_label.txt`` and ``basic/Image/aligned``."""

from pathlib import Path

from tests.fake_data.faces import photo

#: (image name, RAF-DB label 1-7) of the test faces written, and one training face
LINES = (("train_00001.jpg", 3), ("test_0001.jpg", 4), ("test_0002.jpg", 7), ("test_0003.jpg", 1))


def write(root: Path, lines=LINES, seed: int = 0) -> Path:
    """Write a 40x40 aligned photo per line and the label file."""
    for i, (name, _) in enumerate(lines):
        photo(root / "basic/Image/aligned" / f"{name.rsplit('.', 1)[0]}_aligned.jpg", 40, 40, seed + i)
    labels = "\n".join(f"{name} {label}" for name, label in lines)
    (root / "basic/EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "basic/EmoLabel/list_patition_label.txt").write_text(labels + "\n")
    return root
