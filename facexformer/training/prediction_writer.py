"""``FacePredictionWriter``: ``facexformer predict`` writes one JSON per predicted face crop, as ``infer`` does.

Each sample of the data module's ``predict`` datasets becomes ``<dirpath>/<index>-<name>.json`` (``index``: the
sample's position in the predict set, six digits; ``name``: the file stem of its ``source``), holding
``{"source", "image_size": [W, H], "checkpoint", "tasks", "faces": [FacePrediction.to_dict()]}``, the schema
of ``facexformer infer`` (``facexformer.apps.infer``): coordinates in the original image's pixels, mapped back
through the crop the data module applied (``data.crop``). Files are written atomically.

``dirpath`` defaults to ``predictions`` in the run's own folder (``facexformer.training.run_files.run_directory``;
``predictions_1``, ``_2``, ... when an earlier run left that folder non-empty). A ``dirpath`` you name must not
hold JSON files already unless ``overwrite`` is true: the run stops at its start, before predicting anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from facexformer.geometry.crop import CropSettings, CropWindow
from facexformer.inference.predict import faces_from_outputs
from facexformer.io.atomic import write_json
from facexformer.training.run_files import free_folder, run_directory


class FacePredictionWriter(BasePredictionWriter):
    """Write each prediction batch as JSON files, one per sample (see the module docstring).

    Args:
        dirpath: output folder; None: ``predictions`` inside the run's own folder.
        overwrite: replace JSON files already in ``dirpath``.
    """

    def __init__(self, dirpath: str | None = None, overwrite: bool = False):
        super().__init__(write_interval="batch")
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.overwrite = overwrite
        self.folder = Path(dirpath or "predictions")  # set at the start of each predict run
        self.written = 0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.written = 0
        if self.dirpath is not None:
            if not self.overwrite and self.dirpath.is_dir() and any(self.dirpath.glob("*.json")):
                raise FileExistsError(
                    f"FacePredictionWriter: {self.dirpath} already holds prediction files; choose another dirpath "
                    "or set overwrite: true"
                )
            self.folder = self.dirpath
        else:
            chosen = str(free_folder(run_directory(trainer) / "predictions")) if trainer.is_global_zero else ""
            self.folder = Path(trainer.strategy.broadcast(chosen))

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        images = batch["image"]
        count, size = images.shape[0], int(images.shape[-1])
        regions = batch["crop"].tolist() if "crop" in batch else [[0, 0, images.shape[-1], images.shape[-2]]] * count
        image_sizes = batch["image_size"].tolist() if "image_size" in batch else [r[2:] for r in regions]
        boxes = batch["box"].tolist() if "box" in batch else [[r[0], r[1], r[0] + r[2], r[1] + r[3]] for r in regions]
        settings = CropSettings(size)  # mapping back needs the region and the size only
        crops = [
            CropWindow(tuple(map(float, box)), tuple(map(int, wh)), tuple(map(int, region)), settings)
            for box, wh, region in zip(boxes, image_sizes, regions, strict=True)
        ]
        outputs = prediction["outputs"]
        tasks = [pl_module.task(name) for name in outputs]
        sources = [str(s) for s in batch["source"]]
        faces = faces_from_outputs(tasks, outputs, crops, sources)
        indices = list(batch_indices) if batch_indices is not None else [batch_idx * count + i for i in range(count)]
        checkpoint = str(trainer.ckpt_path) if trainer.ckpt_path else None
        for index, face, source, image_size in zip(indices, faces, sources, image_sizes, strict=True):
            face.image_index = 0
            record = {
                "source": source,
                "image_size": [int(v) for v in image_size],
                "checkpoint": checkpoint,
                "tasks": [t.name for t in tasks],
                "faces": [face.to_dict()],
            }
            path = self.folder / f"{index:06d}-{_file_stem(source)}.json"
            write_json(path, record, overwrite=self.overwrite, indent=None)
            self.written += 1

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = int(trainer.strategy.reduce(torch.tensor(float(self.written)), reduce_op="sum"))  # all processes
        if trainer.is_global_zero:
            print(f"FacePredictionWriter: {total} prediction files in {self.folder.absolute()}")


def _file_stem(source: str) -> str:
    """A short file-name-safe label for ``source`` (the stem of its leading path, odd characters replaced)."""
    stem = Path(re.split(r"[ :\[]", source.strip(), maxsplit=1)[0]).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60].strip("._") or "sample"
