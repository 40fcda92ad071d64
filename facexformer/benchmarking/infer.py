"""End-to-end ``infer`` throughput (photo files to JSON and overlays) against the network alone."""

from __future__ import annotations

import copy
import json
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from facexformer.apps.infer import collect_images, infer_files
from facexformer.benchmarking.hardware import describe_hardware
from facexformer.benchmarking.inference import Precision
from facexformer.benchmarking.rounds import paired_speed_ratios, print_table, timed_rounds
from facexformer.inference.optimize import optimize_for_inference
from facexformer.module import FaceXFormer


def repeated_photos(photos: Sequence[Path], copies: int, folder: Path) -> list[Path]:
    """Links ``copy{k}_{stem}{suffix}`` in ``folder`` to each photo, ``copies`` times (unique JSON names)."""
    links = []
    for k in range(copies):
        for index, photo in enumerate(photos):
            link = folder / f"copy{k}_{index}_{photo.stem}{photo.suffix}"
            os.symlink(Path(photo).resolve(), link)
            links.append(link)
    return links


def infer_throughput(
    model: FaceXFormer,
    photos: Sequence[str | Path],
    copies: int = 4,
    batch_size: int = 8,
    workers: Sequence[int] = (2, 0),
    precision: str = "fp32",
    overlay: bool = True,
    detector: str = "auto",
    repeats: int = 3,
) -> list[tuple[str, float, float]]:
    """Faces/s of ``infer`` on the photos (files and folders, searched recursively) repeated ``copies`` times,
    per DataLoader worker count, and of the network alone (``optimize_for_inference``'s, as ``infer`` runs it)
    on as many faces at the same batch size; prints the hardware and a table; returns rows (case, faces/s,
    speed relative to the network alone).
    """
    paths = collect_images([str(p) for p in photos], recursive=True)
    if not paths:
        raise ValueError(f"no photos found in {list(photos)}")
    parsed = Precision.parse(precision)
    if parsed.autocast is not None:
        raise ValueError(f"infer runs models cast with .to(dtype); use fp32, bf16 or fp16, not {precision}")
    model = (copy.deepcopy(model) if parsed.weights != torch.float32 else model).to(parsed.weights).eval()
    device = next(model.parameters()).device
    print(describe_hardware(device).line())
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "photos", Path(tmp) / "out"
        folder.mkdir()
        links = repeated_photos(paths, copies, folder)
        first = infer_files(model, links, out, batch_size=batch_size, detector=detector, workers=0, overlay=overlay)
        faces = sum(len(_read_faces(out / f"{p.stem}.json")) for p in links)
        size = int(model.hparams.image_size)
        images = torch.randn(batch_size, 3, size, size, device=device)
        batches = [images[: min(batch_size, faces - start)] for start in range(0, faces, batch_size)]

        fast = optimize_for_inference(model.net)

        def network() -> None:
            with torch.inference_mode():
                for batch in batches:
                    fast(batch)

        cases = {"network alone": network}
        for count in workers:

            def run(count: int = count) -> None:
                infer_files(
                    model,
                    links,
                    out,
                    batch_size=batch_size,
                    detector=detector,
                    workers=count,
                    overlay=overlay,
                    overwrite=True,
                )

            cases[f"infer, {count} workers"] = run
        print(f"{len(links)} photos ({len(paths)} distinct x {copies}), {faces} faces, {len(first.failed)} failed")
        times = timed_rounds(cases, repeats, warmup=0)
    ratios = paired_speed_ratios(times, "network alone")
    rows = [(name, faces / statistics.median(t), ratios[name]) for name, t in times.items()]
    what = "JSON + overlays" if overlay else "JSON"
    print_table(
        f"infer end to end ({what}), batch {batch_size}, {precision}, {device} (ratio: to the network alone)",
        rows,
        "faces/s",
    )
    return rows


def _read_faces(path: Path) -> list:
    return json.loads(path.read_text())["faces"]
