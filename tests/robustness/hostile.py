"""Builders for the hostile-input suite: small datasets in each reader's real layout, and ways to break files.

Landmark readers are built from the real samples (``tests/fixtures/shared/reference/landmarks/samples``);
LaPa, UTKFace, FairFace and RAF-DB, which have no stored sample, from ``SyntheticFaces`` in their layouts.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facexformer.data.datasets import AFLW19, RAFDB, W300, WFLW, FaceDataset, FairFace, LaPa, UTKFace
from facexformer.data.synthetic import SyntheticFaces
from facexformer.io.image import decode_image

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures/shared/reference/landmarks/samples"


@dataclass
class Built:
    """A dataset folder: how to open it, and the image file each sample reads (in sample order)."""

    root: Path
    open: Callable[..., FaceDataset]
    images: list[Path]
    annotation: Path | None = None


def build_w300(root: Path) -> Built:
    folder = root / "ibug"
    shutil.copytree(SAMPLES / "300w/01_Indoor", folder)
    stems = sorted(p.stem for p in folder.glob("*.pts"))
    return Built(
        root,
        lambda **kw: W300(root, "challenge", **kw),
        [folder / f"{s}.png" for s in stems],
        folder / f"{stems[0]}.pts",
    )


def build_wflw(root: Path) -> Built:
    shutil.copytree(SAMPLES / "wflw", root)
    annotation = root / "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt"
    names = [line.split()[-1] for line in annotation.read_text().splitlines() if line.strip()]
    return Built(root, lambda **kw: WFLW(root, "test", **kw), [root / "WFLW_images" / n for n in names], annotation)


def build_aflw(root: Path) -> Built:
    shutil.copytree(SAMPLES / "aflw", root)
    annotation = root / "face_landmarks_aflw_test.csv"
    names = [line.split(",")[0] for line in annotation.read_text().splitlines()[1:] if line.strip()]
    return Built(root, lambda **kw: AFLW19(root, "test", **kw), [root / n for n in names], annotation)


def _faces(count: int = 3) -> list[dict]:
    faces = SyntheticFaces(count, 64, seed=3, tasks=["parsing", "age", "gender", "race"])
    return [faces[i] for i in range(count)]


def build_lapa(root: Path) -> Built:
    folder = root / "train"
    for sub in ("images", "labels", "landmarks"):
        (folder / sub).mkdir(parents=True)
    images = []
    for index, face in enumerate(_faces()):
        name = f"face_{index}"
        Image.fromarray(face["image"].permute(1, 2, 0).numpy()).save(folder / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(face["parsing"].numpy().astype(np.uint8), mode="L").save(folder / "labels" / f"{name}.png")
        points = np.stack([np.linspace(5, 58, 106), np.linspace(8, 55, 106)], axis=1)
        text = "106\n" + "".join(f"{x:.2f} {y:.2f}\n" for x, y in points)
        (folder / "landmarks" / f"{name}.txt").write_text(text)
        images.append(folder / "images" / f"{name}.jpg")
    return Built(root, lambda **kw: LaPa(root, "train", **kw), images, folder / "landmarks/face_0.txt")


def build_utkface(root: Path) -> Built:
    root.mkdir(parents=True)
    images = []
    for index, face in enumerate(_faces()):
        age, gender, race = int(face["age"]), int(face["gender"]), min(int(face["race"]), 4)
        path = root / f"{max(age, 1)}_{gender}_{race}_2017011{index}000000000.jpg.chip.jpg"
        Image.fromarray(face["image"].permute(1, 2, 0).numpy()).save(path, quality=95)
        images.append(path)
    return Built(root, lambda **kw: UTKFace(root, "all", **kw), sorted(images))


def _save(face: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(face["image"].permute(1, 2, 0).numpy()).save(path, format="JPEG", quality=95)
    return path


def build_fairface(root: Path) -> Built:
    images = [_save(face, root / f"train/{index + 1}.jpg") for index, face in enumerate(_faces())]
    rows = [
        f"train/{index + 1}.jpg,{age},{sex},{race},True"
        for index, (age, sex, race) in enumerate(
            [("20-29", "Male", "White"), ("3-9", "Female", "East Asian"), ("more than 70", "Male", "Black")]
        )
    ]
    annotation = root / "fairface_label_train.csv"
    annotation.write_text("file,age,gender,race,service_test\n" + "\n".join(rows) + "\n")
    return Built(root, lambda **kw: FairFace(root, "train", **kw), images, annotation)


def build_rafdb(root: Path) -> Built:
    folder = root / "basic"
    images = [
        _save(face, folder / f"Image/aligned/train_{index + 1:05d}_aligned.jpg") for index, face in enumerate(_faces())
    ]
    annotation = folder / "EmoLabel/list_patition_label.txt"
    annotation.parent.mkdir(parents=True)
    annotation.write_text("".join(f"train_{index + 1:05d}.jpg {index + 1}\n" for index in range(len(images))))
    return Built(root, lambda **kw: RAFDB(root, "train", **kw), images, annotation)


READERS: dict[str, Callable[[Path], Built]] = {
    "300W": build_w300,
    "WFLW": build_wflw,
    "AFLW19": build_aflw,
    "LaPa": build_lapa,
    "UTKFace": build_utkface,
    "FairFace": build_fairface,
    "RAF-DB": build_rafdb,
}


# ----------------------------------------------------------------------------------------- broken images
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def wrong_type(path: Path) -> None:
    path.write_bytes(b"%PDF-1.4\n% not an image at all\n" * 20)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def decompression_bomb(path: Path) -> None:
    """A valid PNG header announcing 40000 x 40000 1-bit pixels (1.6 Gpx, over PIL's limit) and no data."""
    header = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)
    body = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


BROKEN: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "zero-byte": empty,
    "wrong-type": wrong_type,
    "decompression-bomb": decompression_bomb,
}


# ------------------------------------------------------------------------- valid images in other encodings
def _rgb(path: Path) -> np.ndarray:
    return decode_image(path)


def as_16bit_grey(path: Path) -> np.ndarray:
    """Rewrite as a 16-bit grey PNG; the expected decode is the 8-bit grey image."""
    grey = np.asarray(Image.fromarray(_rgb(path)).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(path, format="PNG")
    return np.repeat(grey[..., None], 3, axis=-1)


def as_cmyk(path: Path) -> np.ndarray:
    rgb = _rgb(path)
    Image.fromarray(rgb).convert("CMYK").save(path, format="JPEG", quality=98)
    return rgb


def as_palette(path: Path) -> np.ndarray:
    image = Image.fromarray(_rgb(path)).quantize(64)
    image.save(path, format="PNG")
    return np.asarray(image.convert("RGB"))


def as_grey(path: Path) -> np.ndarray:
    grey = Image.fromarray(_rgb(path)).convert("L")
    grey.save(path, format="PNG")
    return np.repeat(np.asarray(grey)[..., None], 3, axis=-1)


def as_rgba(path: Path) -> np.ndarray:
    rgb = _rgb(path)
    alpha = np.full(rgb.shape[:2] + (1,), 128, dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1), mode="RGBA").save(path, format="PNG")
    return rgb


#: encoding -> (rewrite the file, returning the expected RGB; tolerance in grey levels of the mean difference)
RECODED: dict[str, tuple[Callable[[Path], np.ndarray], float]] = {
    "16-bit": (as_16bit_grey, 0.0),
    "cmyk": (as_cmyk, 6.0),
    "palette": (as_palette, 0.0),
    "grayscale": (as_grey, 0.0),
    "rgba": (as_rgba, 0.0),
}


# ------------------------------------------------------------------------------------------------ checks
def assert_clear(error: BaseException, *needles: str) -> None:
    """A clear error: its message names every needle (file, problem), no foreign exception chained to it."""
    message = str(error)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    assert cause is None, f"chained {type(cause).__name__}: {cause}"
