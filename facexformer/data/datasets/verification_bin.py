"""InsightFace verification benchmarks (LFW, CFP-FP, AgeDB-30, CALFW, CPLFW) stored as ``<name>.bin``.

A ``.bin`` is a pickle of ``(list of encoded images, list of issame flags)`` with the images in consecutive
pairs: images 2i and 2i+1 form pair i (InsightFace ``eval/verification.py``; ``TASKS.md`` §8). Pickles can run
code, so the file is read with a restricted unpickler that builds only bytes, lists, tuples and bools (plus
the latin-1 ``_codecs.encode`` call through which Python 3 pickles bytes at protocol 2); anything else is
refused with ``DatasetFormatError``.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from facexformer.data.datasets.base import DatasetFormatError, require_path
from facexformer.data.datasets.recordio import decode_image

_ALLOWED_BUILTINS = {"bytes": bytes, "bytearray": bytearray, "list": list, "tuple": tuple, "bool": bool}


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """The only ``_codecs.encode`` use a bytes pickle needs: ``encode(str, 'latin1')``."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"only _codecs.encode(str, 'latin1') is allowed, not {encoding!r}")
    return text.encode("latin1")


class _PairsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _ALLOWED_BUILTINS:
            return _ALLOWED_BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a verification .bin holds only bytes, lists, tuples, bools"
        )


def load_verification_bin(path: Path) -> tuple[list[bytes], list[bool]]:
    """Read a ``.bin`` safely; returns (2N encoded images, N issame flags) after checking their types."""
    try:
        with open(path, "rb") as file:
            content = _PairsUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, LookupError, ValueError, TypeError, AttributeError) as err:
        raise DatasetFormatError(f"{path}: not a safe InsightFace verification pickle ({err})") from err
    if not isinstance(content, tuple | list) or len(content) != 2:
        raise DatasetFormatError(f"{path}: expected a pickled (images, issame) pair, got {type(content)}")
    images, issame = content
    if not isinstance(images, list) or not all(isinstance(image, bytes | bytearray) for image in images):
        raise DatasetFormatError(f"{path}: the first element must be a list of encoded images (bytes)")
    if not isinstance(issame, list) or not all(isinstance(flag, bool) for flag in issame):
        raise DatasetFormatError(f"{path}: the second element must be a list of bools (issame)")
    if len(images) != 2 * len(issame):
        raise DatasetFormatError(f"{path}: {len(images)} images for {len(issame)} pairs (need 2 per pair)")
    return [bytes(image) for image in images], issame


class VerificationPairs(Dataset):
    """Image pairs of one verification benchmark.

    Item i: ``image1``, ``image2`` uint8 (3, H, W) RGB (112x112 aligned crops), ``issame`` bool scalar tensor,
    ``index`` int64 scalar (the pair's position, for ``VerificationAccuracy``'s fold order), ``source``.
    ``transform`` (optional) is applied to the item dict.
    """

    def __init__(self, path: str | Path, transform: Callable[[dict], dict] | None = None):
        self.path = require_path(Path(path).expanduser(), "VerificationPairs", "<name>.bin (InsightFace)")
        self.images, self.issame = load_verification_bin(self.path)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.issame)

    def __getitem__(self, index: int) -> dict:
        source = f"{self.path}#pair {index}"
        item = {
            "image1": decode_image(self.images[2 * index], f"{source} image 1"),
            "image2": decode_image(self.images[2 * index + 1], f"{source} image 2"),
            "issame": torch.tensor(self.issame[index]),
            "index": torch.tensor(index, dtype=torch.int64),
            "source": source,
        }
        return self.transform(item) if self.transform is not None else item
