"""Photos from files to predictions with the network kept busy: decoding, face detection and cropping run in
DataLoader worker processes while the main process runs the network; a thread maps each batch's outputs back
to photo pixels while the next batch runs, and a writer thread saves the results.

The workers and both threads run at a lower scheduling priority (niceness +10) than the network: on a machine
whose cores are all busy, they take the time the network leaves, rather than preempting it. Where they fall
behind, the network waits for them and they get the cores.

``pipelined_predict`` yields, per photo, the same ``FacePrediction`` objects ``facexformer.inference.predict.predict``
returns for the same photos and batch size: faces are batched across photos in the same order.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from facexformer.data.worker_lifetime import end_with_parent
from facexformer.geometry.crop import CropSettings, Margin
from facexformer.inference.detect import Detector, find_faces, resolve_detector
from facexformer.inference.optimize import optimize_for_inference
from facexformer.inference.predict import (
    FacePrediction,
    _Face,
    crop_photo,
    crop_settings,
    faces_in_photos,
    forward_faces,
    to_rgb_array,
)

BACKGROUND_NICENESS = 10


@dataclass
class PreparedPhoto:
    """One photo after the CPU stages: ``image`` (H, W, 3) uint8 RGB and its face crops, or ``error``."""

    index: int
    path: str
    image: np.ndarray | None = None
    faces: list[_Face] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class PhotoResult:
    """One photo's outcome: its predictions (image-relative ``image_index`` 0), or ``error``."""

    path: str
    image: np.ndarray | None
    faces: list[FacePrediction]
    notes: list[str]
    error: str | None = None


class PreparedPhotos(Dataset):
    """Item i: photo ``paths[i]`` decoded (EXIF-rotated RGB), its faces found by ``detector`` and cropped with
    ``crop`` (see ``facexformer.inference.predict``). Errors are returned, not raised, so one bad file does not
    stop a DataLoader; the detector is built in each worker process on first use."""

    def __init__(self, paths: Sequence[str | Path], crop: CropSettings, detector: str | Detector | None = "auto"):
        self.paths = [str(p) for p in paths]
        self.crop, self.detector = crop, detector
        self._find: Detector | None = None
        self._resolved = False

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> PreparedPhoto:
        path = self.paths[index]
        photo = PreparedPhoto(index, path)
        try:
            if not self._resolved:
                self._find, self._resolved = resolve_detector(self.detector), True
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                photo.image = to_rgb_array(path)
                requested = self.detector not in (None, "none")
                boxes = find_faces(photo.image, self._find, path, detector_requested=requested)
            photo.notes = [str(w.message) for w in caught]
            photo.faces = crop_photo(photo.image, boxes, index, self.crop)
        except (ValueError, OSError) as err:
            photo.image, photo.error = None, str(err)
        return photo


def _single(item: PreparedPhoto) -> PreparedPhoto:
    return item


def prepared_photos(
    paths: Sequence[str | Path],
    crop: CropSettings,
    detector: str | Detector | None = "auto",
    workers: int = 2,
    prefetch: int = 4,
) -> Iterator[PreparedPhoto]:
    """``PreparedPhotos`` in order, from ``workers`` processes (0: in this process), ``prefetch`` photos each
    ahead of the consumer."""
    dataset = PreparedPhotos(paths, crop, detector)
    if workers == 0:
        yield from (dataset[i] for i in range(len(dataset)))
        return
    loader = DataLoader(
        dataset,
        batch_size=None,
        collate_fn=_single,
        num_workers=workers,
        prefetch_factor=prefetch,
        worker_init_fn=functools.partial(_background_worker, parent_pid=os.getpid()),
    )
    yield from loader


def _background_worker(worker_id: int, parent_pid: int) -> None:
    end_with_parent(parent_pid)  # a killed infer leaves no worker behind
    torch.set_num_threads(1)  # the workers decode and detect; the cores' threads belong to the network
    if hasattr(os, "nice"):
        os.nice(BACKGROUND_NICENESS)


def _lower_thread_priority() -> None:
    """Raise the calling thread's niceness by 10, up to 19 (Linux, where niceness is per thread; elsewhere
    nothing)."""
    if sys.platform == "linux":
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness + BACKGROUND_NICENESS, 19))


def pipelined_predict(
    model: Any,
    paths: Sequence[str | Path],
    tasks: Sequence[str] | None = None,
    batch_size: int = 16,
    margin: Margin | None = None,
    detector: str | Detector | None = "auto",
    workers: int = 2,
    crop: CropSettings | None = None,
) -> Iterator[PhotoResult]:
    """Predictions for every photo in ``paths``, yielded in order as soon as all of its faces have run.

    Faces are batched across photos, ``batch_size`` per forward pass, exactly as ``predict`` batches them, and
    cropped as ``predict`` crops them (``crop``, ``margin``: see ``facexformer.inference.predict.crop_settings``).
    """
    task_objects = [model.task(n) for n in (tasks if tasks is not None else model.task_names)]
    settings = crop_settings(model, margin, crop=crop)
    sources = [str(p) for p in paths]
    waiting: list[PreparedPhoto] = []  # photos in order whose faces have not all run yet
    done: dict[int, list[FacePrediction]] = {}
    errors: dict[int, str] = {}
    queue: list[_Face] = []
    mapping: list[tuple[list[_Face], Future]] = []  # batches being mapped back to photo pixels, oldest first
    mapper = ThreadPoolExecutor(1, "facexformer-to-photo", initializer=_lower_thread_priority)
    network = optimize_for_inference(model.net)

    def run(chunk: list[_Face]) -> None:
        try:
            outputs = forward_faces(model, chunk, task_objects, network)
        except RuntimeError as err:
            for face in chunk:
                errors[face.image_index] = f"the network failed on a batch with this photo: {err}"
            return
        mapping.append((chunk, mapper.submit(faces_in_photos, task_objects, outputs, chunk, sources)))

    def finished(wait: bool) -> Iterator[PhotoResult]:
        while mapping and (wait or mapping[0][1].done()):
            chunk, future = mapping.pop(0)
            for face, pred in zip(chunk, future.result(), strict=True):
                done.setdefault(face.image_index, []).append(pred)
        while waiting and (waiting[0].error is not None or _all_run(waiting[0], errors, queue, mapping)):
            photo = waiting.pop(0)
            error = photo.error or errors.get(photo.index)
            faces = [] if error else done.pop(photo.index, [])
            for face in faces:
                face.image_index = 0
            yield PhotoResult(photo.path, photo.image, faces, photo.notes, error)

    try:
        for photo in prepared_photos(paths, settings, detector, workers):
            waiting.append(photo)
            queue += photo.faces
            while len(queue) >= batch_size:
                run(queue[:batch_size])
                del queue[:batch_size]
            yield from finished(wait=False)
        if queue:
            run(list(queue))  # the mapping thread keeps the list it is given
            queue.clear()
        yield from finished(wait=True)
    finally:
        mapper.shutdown(wait=True, cancel_futures=True)


def _all_run(photo: PreparedPhoto, errors: dict, queue: list[_Face], mapping: list[tuple[list[_Face], Future]]) -> bool:
    if photo.index in errors:
        return True
    unfinished = queue + [face for chunk, _ in mapping for face in chunk]
    return not any(face.image_index == photo.index for face in unfinished)


class BackgroundWriter:
    """Runs ``write`` calls on one thread, so saving never holds up the network; ``close`` waits for all and
    re-raises the first error."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, "facexformer-writer", initializer=_lower_thread_priority)
        self._pending: list[Future] = []

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._pool.submit(write, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for future in self._pending:
            future.result()
