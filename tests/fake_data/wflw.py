"""WFLW as downloaded: ``WFLW_images/<event>/<file>.jpg`` and the 207-field annotation lines of the test split."""

from pathlib import Path

from tests.fake_data.faces import face_points, photo

ANNOTATIONS = "WFLW_annotations/list_98pt_rect_attr_train_test"
#: the six flags (pose, expression, illumination, makeup, occlusion, blur) of each face written; no face is
#: flagged expression, illumination or makeup, so those subsets are empty
FLAGS = ((1, 0, 0, 0, 0, 0), (0, 0, 0, 0, 1, 1), (0, 0, 0, 0, 0, 1))


def write(root: Path, flags=FLAGS, seed: int = 0) -> Path:
    """Write one 64x60 photo holding every face, and one annotation line per entry of ``flags``."""
    image = "1--Handshaking/a.jpg"
    photo(root / "WFLW_images" / image, 64, 60, seed)
    lines = []
    for i, face_flags in enumerate(flags):
        points = face_points(98, (30 + i, 28), 30, seed + i)
        coords = [f"{v:.4f}" for v in points.flatten()]
        lines.append(" ".join([*coords, "14", "12", "46", "44", *map(str, face_flags), image]))
    (root / ANNOTATIONS).mkdir(parents=True, exist_ok=True)
    (root / ANNOTATIONS / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    return root
