"""``facexformer infer``: run a trained model over image files and folders, write JSON and overlay pictures.

For each image ``NAME.ext`` it writes ``OUT/NAME.json`` (``{"source", "image_size": [W, H], "checkpoint",
"tasks", "faces": [FacePrediction.to_dict(), ...]}``, see ``facexformer.predict``) and, unless
``--no-overlay``, ``OUT/NAME.overlay.png``. Both are written atomically; the JSON is written last, so an
image counts as done exactly when its JSON exists. Done images are skipped with a message (a re-run resumes
an interrupted one); ``--overwrite`` redoes them. Folders are scanned for image files (``--recursive`` for
sub-folders); two inputs with the same ``NAME`` are refused before anything runs. An unreadable image is
reported on stderr (naming the file) and the run carries on; the exit code is 1 when any image failed, 2 when
the checkpoint cannot be loaded, else 0. Photos are decoded, searched for faces and cropped in ``--workers``
processes while the network runs, and results are written on a background thread (``facexformer.pipeline``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from facexformer.checkpoints import write_atomically, write_json
from facexformer.pipeline import BackgroundWriter, pipelined_predict
from facexformer.predict import FacePrediction
from facexformer.visualize import draw_overlay

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facexformer infer",
        description="Predict face tasks for images; write one JSON (and one overlay PNG) per image.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGES_OR_DIRS", help="image files and/or folders")
    parser.add_argument(
        "--checkpoint", required=True, help="save_pretrained folder, .ckpt, released model.pt or Hub id"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--tasks", nargs="+", default=None, help="task names (default: all the model's)")
    parser.add_argument("--overwrite", action="store_true", help="redo images whose JSON already exists")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per forward pass (default 16)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default)")
    parser.add_argument("--no-overlay", action="store_true", help="do not write overlay PNGs")
    parser.add_argument("--detector", default="auto", choices=("auto", "haar", "none"),
                        help="face finder; 'none' = the whole image is the face (default auto)")
    parser.add_argument("--margin", type=float, default=0.25, help="box growth per side (default 0.25)")
    parser.add_argument("--recursive", action="store_true", help="also scan sub-folders")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes decoding, detecting and cropping photos while the network runs (default 2)")
    return parser


def collect_images(inputs: Sequence[str], recursive: bool = False) -> list[Path]:
    """Files as given plus each folder's image files (sorted); a missing path raises FileNotFoundError."""
    found: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.iterdir()
            found += sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def _check_unique_names(paths: Sequence[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen and seen[path.stem] != path:
            raise ValueError(f"{seen[path.stem]} and {path} would both write {path.stem}.json; rename one")
        seen[path.stem] = path


def pick_device(name: str) -> torch.device:
    """``"auto"``: CUDA if available, else MPS, else CPU; otherwise ``torch.device(name)``."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``facexformer infer``; returns the exit code (0 ok, 1 some image failed, 2 no model)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers < 0:
        parser.error(f"--workers must be 0 or more, got {args.workers}")
    try:
        paths = collect_images(args.inputs, args.recursive)
        _check_unique_names(paths)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    tasks = [t for text in args.tasks for t in text.split(",") if t] if args.tasks else None
    try:
        from facexformer.module import FaceXFormer

        model = FaceXFormer.from_pretrained(args.checkpoint).to(pick_device(args.device)).eval()
        for name in tasks or ():
            model.task(name)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        print(f"error: cannot load model from {args.checkpoint}: {err}", file=sys.stderr)
        return 2
    run = infer_files(
        model, paths, args.out, tasks, args.batch_size, args.margin, args.detector, args.workers,
        overlay=not args.no_overlay, overwrite=args.overwrite, checkpoint=str(args.checkpoint),
    )
    print(f"{run.written} written, {run.skipped} skipped, {len(run.failed)} failed", file=sys.stderr)
    return 1 if run.failed else 0


def infer_files(
    model: Any,
    paths: Sequence[Path],
    out: Path,
    tasks: Sequence[str] | None = None,
    batch_size: int = 16,
    margin: float = 0.25,
    detector: str = "auto",
    workers: int = 2,
    overlay: bool = True,
    overwrite: bool = False,
    checkpoint: str = "",
) -> InferRun:
    """Predict every photo of ``paths`` and write ``out/NAME.json`` (and ``NAME.overlay.png`` with ``overlay``).

    Photos whose JSON exists are skipped unless ``overwrite``. Returns the run with its counters
    (``written``, ``skipped``, ``failed`` paths); problems are reported on stderr.
    """
    run = InferRun(model, Path(out), list(tasks) if tasks else None, overlay, overwrite, checkpoint)
    todo = [path for path in paths if not run.skip(Path(path))]
    bar = tqdm(total=len(todo), unit="image", file=sys.stderr, disable=True if len(todo) < 2 else None)
    writer = BackgroundWriter()
    for result in pipelined_predict(model, todo, run.tasks, batch_size, margin, detector, workers):
        for note in result.notes:
            run.say(f"note: {note}")
        if result.error is not None:
            run.fail(Path(result.path), result.error)
        else:
            writer.submit(run.write, Path(result.path), result.image, result.faces)
        bar.update(1)
    writer.close()
    bar.close()
    return run


class InferRun:
    """State of one ``infer`` run: the model, where and what it writes, and its counters."""

    def __init__(
        self, model: Any, out: Path, tasks: list[str] | None, overlay: bool, overwrite: bool, checkpoint: str
    ):
        self.model, self.out, self.tasks = model, out, tasks
        self.overlay, self.overwrite, self.checkpoint = overlay, overwrite, checkpoint
        self.written, self.skipped, self.failed = 0, 0, []

    def say(self, message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    def skip(self, path: Path) -> bool:
        """Whether ``path`` is already done (its JSON exists) and is not to be redone; says so."""
        target = self.out / f"{path.stem}.json"
        if target.exists() and not self.overwrite:
            self.say(f"skip {path}: {target} exists (pass --overwrite to redo it)")
            self.skipped += 1
            return True
        return False

    def write(self, path: Path, image: np.ndarray, faces: list[FacePrediction]) -> None:
        out = self.out
        for face in faces:
            face.image_index = 0
        if self.overlay:
            picture = draw_overlay(image, faces)

            def save(tmp: Path) -> None:
                picture.save(tmp, format="PNG")

            write_atomically(out / f"{path.stem}.overlay.png", save, overwrite=True)
        record = {
            "source": str(path),
            "image_size": [int(image.shape[1]), int(image.shape[0])],
            "checkpoint": self.checkpoint,
            "tasks": self.tasks or [t.name for t in self.model.tasks],
            "faces": [face.to_dict() for face in faces],
        }
        write_json(out / f"{path.stem}.json", record, overwrite=True)
        self.written += 1

    def fail(self, path: Path, err: Exception | str) -> None:
        self.say(f"error: {path}: {err}")
        self.failed.append(path)
