"""InsightFace face-recognition training sets (MS1MV3 ``train.rec``/``train.idx``) read without mxnet.

Format facts (dmlc-core ``recordio.h``, mxnet ``recordio.py``, InsightFace arcface_torch ``dataset.py``):

- ``<split>.idx``: one ``key<TAB>byte offset`` line per record.
- ``<split>.rec``: each record is one or more parts ``uint32 magic 0xced7230a | uint32 lrecord | data | pad``
  (little-endian). lrecord's low 29 bits are the data length, its top 3 bits a continuation flag:
  0 = whole record, 1 = first part, 2 = middle part, 3 = last part. The writer splits a record wherever the
  magic number occurs (4-byte aligned) in its data and drops it there, so the reader puts it back between
  parts. Each part is zero-padded to a multiple of 4 bytes.
- A record's data starts with the 24-byte image-record header ``IfQQ`` = (flag uint32, label float32,
  id uint64, id2 uint64). When flag > 0 the label is instead the ``flag`` float32 values that follow; the rest
  is the encoded image (JPEG).
- Record 0 of an InsightFace set is a header whose label (a, b) says that images are the records 1..a-1
  and records a..b-1 describe identities, so there are b - a identities. Without it (flag 0) every record
  listed in the ``.idx`` is an image. An image's identity is its scalar label, or the first value of its
  label array.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import torch

from facexformer.data.datasets.base import (
    DatasetFormatError,
    DatasetImageError,
    FaceDataset,
    Sample,
    Transform,
    whole_image_box,
)
from facexformer.io.image import ImageDecodeError, read_image

RECORD_MAGIC = 0xCED7230A
_PART_HEADER = struct.Struct("<II")
_IMAGE_HEADER = struct.Struct("<IfQQ")
_LENGTH_BITS = 29

LAYOUT = """<root>/
  <split>.rec   MXNet RecordIO records (record 0: header; then JPEG images with identity labels)
  <split>.idx   one 'key<TAB>byte offset' line per record"""


class ImageRecord(NamedTuple):
    """One unpacked record: header fields, label values (float32 array) and the payload after them."""

    flag: int
    label: np.ndarray
    id: int
    id2: int
    payload: bytes


def read_index(path: Path) -> dict[int, int]:
    """Parse a ``.idx`` file into {record key: byte offset}; a bad line raises naming its number."""
    offsets: dict[int, int] = {}
    with open(path, encoding="ascii", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                if len(fields) != 2:
                    raise ValueError(f"expected 2 fields 'key<TAB>offset', got {len(fields)}")
                offsets[int(fields[0])] = int(fields[1])
            except ValueError as err:
                raise DatasetFormatError(f"{path}: line {number}: {err}") from err
    return offsets


def read_record(file: BinaryIO, offset: int, where: str) -> bytes:
    """The data of the record starting at byte ``offset``, with split parts joined back."""
    file.seek(offset)
    parts: list[bytes] = []
    while True:
        head = file.read(_PART_HEADER.size)
        if len(head) != _PART_HEADER.size:
            raise DatasetFormatError(f"{where}: file ends inside a record header at byte {file.tell()}")
        magic, lrecord = _PART_HEADER.unpack(head)
        if magic != RECORD_MAGIC:
            raise DatasetFormatError(f"{where}: no record magic at byte {file.tell() - 8} (0x{magic:08x})")
        flag, length = lrecord >> _LENGTH_BITS, lrecord & ((1 << _LENGTH_BITS) - 1)
        data = file.read((length + 3) // 4 * 4)[:length]
        if len(data) != length:
            raise DatasetFormatError(f"{where}: file ends inside a record ({len(data)} of {length} bytes)")
        parts.append(data)
        if flag in (0, 3):
            return struct.pack("<I", RECORD_MAGIC).join(parts)
        if flag not in (1, 2):
            raise DatasetFormatError(f"{where}: unknown continuation flag {flag}")


def unpack_record(data: bytes, where: str) -> ImageRecord:
    """Split record data into its ``IfQQ`` header, label values and payload."""
    if len(data) < _IMAGE_HEADER.size:
        raise DatasetFormatError(f"{where}: record has {len(data)} bytes, shorter than its 24-byte header")
    flag, label, record_id, id2 = _IMAGE_HEADER.unpack_from(data)
    start = _IMAGE_HEADER.size
    if flag == 0:
        return ImageRecord(flag, np.array([label], dtype=np.float32), record_id, id2, data[start:])
    end = start + 4 * flag
    if len(data) < end:
        raise DatasetFormatError(f"{where}: header announces {flag} label values but the record is too short")
    labels = np.frombuffer(data[start:end], dtype=np.float32).copy()
    return ImageRecord(flag, labels, record_id, id2, data[end:])


def decode_image(data: bytes, where: str) -> torch.Tensor:
    """Encoded image bytes -> uint8 RGB tensor (3, H, W) (``facexformer.io.image``); bad bytes raise
    ``DatasetImageError`` naming ``where``."""
    try:
        return read_image(data, name=where)
    except ImageDecodeError as err:
        message = str(err)
    raise DatasetImageError(message)


class InsightFaceRecordIO(FaceDataset):
    """Face-recognition images with identity labels from an InsightFace ``.rec``/``.idx`` pair.

    Items follow the sample contract: ``image`` (3, H, W) uint8 (112x112 aligned crops in MS1MV3), ``box`` =
    the whole image, ``tasks`` = ("recognition",), ``identity`` int64 scalar, ``source`` = file#record.
    ``num_identities`` comes from the header record (None when the file has none). ``records`` holds the
    ``.rec`` keys of the images. With ``skip_invalid=True`` a record whose image does not decode is replaced
    and counted (``FaceDataset``).
    """

    name = "InsightFaceRecordIO"
    layout = LAYOUT

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.rec_path = self.require(self.root / f"{split}.rec")
        idx_path = self.require(self.root / f"{split}.idx")
        self.offsets = read_index(idx_path)
        self._file: BinaryIO | None = None
        self._file_pid = -1
        self.num_identities: int | None = None
        header = self._unpack(0) if 0 in self.offsets else None
        if header is not None and header.flag > 0:
            if header.label.size < 2:
                raise DatasetFormatError(f"{self.rec_path}#0: header record needs 2 label values (a, b)")
            first_identity, end = int(header.label[0]), int(header.label[1])
            self.records = list(range(1, first_identity))
            self.num_identities = end - first_identity
            missing = [key for key in (self.records[:1] + self.records[-1:]) if key not in self.offsets]
            if missing:
                raise DatasetFormatError(
                    f"{idx_path}: header promises images 1..{first_identity - 1}, "
                    f"but record {missing[0]} is not indexed"
                )
        else:
            self.records = list(self.offsets)

    def _handle(self) -> BinaryIO:
        """The open ``.rec`` file of this process (reopened after a DataLoader worker fork)."""
        if self._file is None or self._file_pid != os.getpid():
            self._file = open(self.rec_path, "rb")  # noqa: SIM115 - kept open across reads, closed in __del__
            self._file_pid = os.getpid()
        return self._file

    def _unpack(self, key: int) -> ImageRecord:
        where = f"{self.rec_path}#record {key}"
        return unpack_record(read_record(self._handle(), self.offsets[key], where), where)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_file_pid"] = None, -1
        return state

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None and self._file_pid == os.getpid():
            self._file.close()

    def load(self, index: int) -> Sample:
        key = self.records[index]
        record = self._unpack(key)
        source = f"{self.rec_path}#record {key}"
        image = decode_image(record.payload, source)
        return {
            "image": image,
            "box": whole_image_box(image),
            "tasks": ("recognition",),
            "identity": torch.tensor(int(record.label[0]), dtype=torch.int64),
            "source": source,
        }
