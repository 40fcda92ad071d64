"""Predict every task for the faces in photos; write an overlay picture and a JSON file per photo.

    python examples/predict_photo.py photo.jpg --checkpoint /path/to/ckpts/model.pt --out predictions/
    python examples/predict_photo.py                       # no photo, no checkpoint: a demonstration

Without ``--checkpoint`` a small untrained model is built (its predictions are noise: this only shows the
calls); without photos a synthetic face is rendered and used. ``--checkpoint`` takes what
``FaceXFormer.from_pretrained`` takes: a ``save_pretrained`` folder, a Lightning ``.ckpt``, the released
``model.pt`` or the Hub id ``kartiknarayan/facexformer`` (downloaded when the Hub is reachable).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from facexformer import FaceXFormer
from facexformer.data.synthetic import SyntheticFaces
from facexformer.inference.predict import FacePrediction, predict
from facexformer.inference.visualize import draw_overlay


def load_model(checkpoint: str | None) -> FaceXFormer:
    """The model of ``checkpoint``, or a small untrained one (64 px, tiny backbone) when it is None."""
    if checkpoint is not None:
        return FaceXFormer.from_pretrained(checkpoint)
    print("no --checkpoint: using a small untrained model, so the predictions are meaningless")
    return FaceXFormer(backbone="test_convnext", image_size=64, dim=64, decoder_mlp_dim=128).eval()


def demo_photo(folder: Path) -> tuple[Path, np.ndarray]:
    """Render a synthetic face, save it as ``folder/synthetic_face.png``; return the path and its face box."""
    face = SyntheticFaces(num_samples=1, size=192, seed=3)[0]
    path = folder / "synthetic_face.png"
    Image.fromarray(face["image"].permute(1, 2, 0).numpy()).save(path)
    return path, face["box"].numpy()


def describe(face: FacePrediction) -> str:
    """One line per face: box, head pose and class labels."""
    parts = [f"box {tuple(round(v) for v in face.box)}"]
    if face.headpose is not None:
        parts.append("pose " + ", ".join(f"{k} {v:+.1f}°" for k, v in face.headpose.items()))
    for name in ("age", "gender", "race", "expression"):
        value = getattr(face, name)
        if value is not None:
            parts.append(f"{name} {value.label} ({value.probs[value.label]:.2f})")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path, help="image files (default: a rendered face)")
    parser.add_argument("--checkpoint", default=None, help="weights to load (default: a small untrained model)")
    parser.add_argument("--out", type=Path, default=Path("predictions"), help="output folder")
    parser.add_argument("--tasks", nargs="+", default=None, help="task names (default: all the model's)")
    parser.add_argument(
        "--detector",
        default="mtcnn",
        choices=("mtcnn", "haar", "none", "auto"),
        help="face finder when no box is known (default mtcnn, as the released model)",
    )
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.checkpoint)
    photos, boxes = list(args.photos), None
    if not photos:
        path, box = demo_photo(args.out)
        photos, boxes = [path], [box]
    faces = predict(model, photos, tasks=args.tasks, boxes=boxes, detector=args.detector)
    written = []
    for index, photo in enumerate(photos):
        mine = [f for f in faces if f.image_index == index]
        for face in mine:
            print(f"{photo.name}: {describe(face)}")
        overlay = args.out / f"{photo.stem}.overlay.png"
        draw_overlay(photo, mine).save(overlay)
        record = args.out / f"{photo.stem}.json"
        record.write_text(json.dumps({"source": str(photo), "faces": [f.to_dict() for f in mine]}))
        written += [overlay, record]
    print(f"wrote {len(written)} files to {args.out}")
    return written


if __name__ == "__main__":
    main()
