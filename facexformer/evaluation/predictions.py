"""``BenchmarkPredictions``: every test face's predictions in original-image pixels, as ``predictions.jsonl``.

One line per face, in subset order then in the reader's order: ``subset``, ``image`` (the file the face's image
was read from, relative to the benchmark's root where it lies under it: ``image_file``), ``index`` (the face's
position in its subset, which is the order of its annotation file), and each task's output as ``facexformer
infer`` writes it (``Task.to_json`` of ``Task.to_photo``: landmarks in photo pixels, pose in degrees, parsing as
run-length code, ...), so any number of the table can be recomputed outside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist

from facexformer.geometry.crop import CropWindow
from facexformer.io.atomic import write_atomically


class BenchmarkPredictions(L.Callback):
    """Collect the test predictions of every process; the first writes ``path`` (atomically) at the end.

    ``subsets``: the test loaders' names in loader order; ``root``: the folder ``image`` is made relative to.
    """

    def __init__(self, path: str | Path, subsets: list[str], root: str | Path):
        self.path, self.subsets, self.root = Path(path), list(subsets), Path(root).resolve()
        self.records: list[tuple[int, int, dict[str, Any]]] = []
        self._batches: dict[int, list[list[int]]] = {}  # this process's dataset indices per loader and batch

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not outputs or batch["image"].shape[0] == 0:
            return
        if dataloader_idx not in self._batches:
            loaders = trainer.test_dataloaders
            loader = loaders[dataloader_idx] if isinstance(loaders, list) else loaders
            self._batches[dataloader_idx] = list(loader.batch_sampler)
        indices = self._batches[dataloader_idx][batch_idx]
        settings = pl_module.crop_settings
        crops = [
            CropWindow(tuple(box.tolist()), tuple(size.tolist()), tuple(int(v) for v in region.tolist()), settings)
            for box, size, region in zip(batch["box"], batch["image_size"], batch["crop"], strict=True)
        ]
        faces: dict[int, dict[str, Any]] = {}
        for name, (mask, output) in outputs.items():
            rows = mask.nonzero().flatten().tolist()
            task = pl_module.task(name)
            for row, value in zip(rows, task.to_photo(output, [crops[r] for r in rows]), strict=True):
                faces.setdefault(row, {}).update(task.to_json(value))
        for row, fields in sorted(faces.items()):
            record = {"subset": self.subsets[dataloader_idx], "image": image_file(batch["source"][row], self.root)}
            record["index"] = indices[row]
            self.records.append((dataloader_idx, indices[row], {**record, **fields}))

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        records = self.records
        if dist.is_available() and dist.is_initialized():
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, records)
            records = [r for part in gathered for r in part]
        self.records, self._batches = [], {}
        if not trainer.is_global_zero:
            return
        lines = "".join(json.dumps(record, default=_plain) + "\n" for *_, record in sorted(records, key=_order))
        write_atomically(self.path, lambda tmp: tmp.write_text(lines), overwrite=True)


#: where a reader's ``source`` may end its file's path: ``<image> (<annotation file> line N)``, ``<file>[i]``,
#: ``<file> index i`` (``<annotation file>:<line>`` names no image, and is left whole)
_PATH_ENDS = re.compile(r" \(|\[| index ")


def image_file(source: str, root: Path) -> str:
    """The file named at the start of a reader's ``source`` (the longest leading part naming an existing file:
    the image, or for images stored inside one file such as COFW's ``.mat`` that file), relative to ``root``
    (POSIX) where it lies under it; ``source`` itself when no leading part names a file."""
    cuts = [source, *(source[: match.start()] for match in _PATH_ENDS.finditer(source))]
    found = next((Path(cut) for cut in sorted(cuts, key=len, reverse=True) if cut and Path(cut).is_file()), None)
    if found is None:
        return source
    try:
        return found.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # not under the root
        return str(found)


def _order(record: tuple[int, int, dict[str, Any]]) -> tuple[int, int]:
    return record[0], record[1]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value.tolist() if hasattr(value, "tolist") else str(value)
