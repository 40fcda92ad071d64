import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.recordio import RECORD_MAGIC, InsightFaceRecordIO, read_record, unpack_record

MAGIC_BYTES = struct.pack("<I", RECORD_MAGIC)


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (6, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")  # lossless, so pixels can be compared
    return buffer.getvalue()


def _image_record(label: float | list[float], image: bytes) -> bytes:
    """mxnet ``recordio.pack``: IfQQ header; an array label goes after it with flag = its length."""
    if isinstance(label, list):
        return struct.pack("<IfQQ", len(label), 0.0, 0, 0) + np.asarray(label, np.float32).tobytes() + image
    return struct.pack("<IfQQ", 0, label, 0, 0) + image


def _parts(data: bytes) -> bytes:
    """dmlc RecordIOWriter: split at 4-aligned magic numbers (dropped), flag the parts, pad to 4 bytes."""
    pieces, start = [], 0
    for position in range(0, len(data) // 4 * 4, 4):
        if data[position : position + 4] == MAGIC_BYTES:
            pieces.append(data[start:position])
            start = position + 4
    pieces.append(data[start:])
    out = b""
    for number, piece in enumerate(pieces):
        last, first = number == len(pieces) - 1, number == 0
        flag = 0 if len(pieces) == 1 else 1 if first else 3 if last else 2
        out += MAGIC_BYTES + struct.pack("<I", (flag << 29) | len(piece)) + piece
        if last:
            out += b"\0" * (-len(piece) % 4)
    return out


def _write_rec(root: Path, records: dict[int, bytes], split: str = "train") -> None:
    rec, lines = b"", []
    for key, data in records.items():
        lines.append(f"{key}\t{len(rec)}\n")
        rec += _parts(data)
    (root / f"{split}.rec").write_bytes(rec)
    (root / f"{split}.idx").write_text("".join(lines))


@pytest.fixture
def insightface_root(tmp_path: Path) -> Path:
    magic_as_float = float(np.frombuffer(MAGIC_BYTES, np.float32)[0])
    _write_rec(
        tmp_path,
        {
            0: _image_record([4.0, 6.0], b""),  # images 1..3, identity records 4..5 -> 2 identities
            1: _image_record(0.0, _png((255, 0, 0))),
            2: _image_record([1.0, magic_as_float], _png((0, 255, 0))),  # label holds the magic: split record
            3: _image_record(1.0, _png((0, 0, 255), size=(5, 3))),
            4: _image_record([1.0, 3.0], b""),
            5: _image_record([3.0, 4.0], b""),
        },
    )
    return tmp_path


def test_reads_images_and_identities(insightface_root):
    dataset = InsightFaceRecordIO(insightface_root)
    assert len(dataset) == 3 and dataset.num_identities == 2
    first, second, third = dataset[0], dataset[1], dataset[2]
    assert first["image"].dtype == torch.uint8 and first["image"].shape == (3, 4, 6)
    assert torch.equal(first["image"][:, 0, 0], torch.tensor([255, 0, 0], dtype=torch.uint8))
    assert torch.equal(second["image"][:, 0, 0], torch.tensor([0, 255, 0], dtype=torch.uint8))
    assert third["image"].shape == (3, 3, 5)
    assert [item["identity"].item() for item in (first, second, third)] == [0, 1, 1]
    assert first["tasks"] == ("recognition",) and first["identity"].dtype == torch.int64
    assert torch.equal(third["box"], torch.tensor([0.0, 0.0, 5.0, 3.0]))
    assert "record 3" in third["source"]


def test_a_record_split_at_the_magic_number_is_joined_back(insightface_root):
    raw = (insightface_root / "train.rec").read_bytes()
    assert raw.count(MAGIC_BYTES) == 7  # 6 records, one of them in two parts
    with open(insightface_root / "train.rec", "rb") as file:
        offset = int((insightface_root / "train.idx").read_text().splitlines()[2].split("\t")[1])
        record = unpack_record(read_record(file, offset, "test"), "test")
    assert record.flag == 2 and record.label[0] == 1.0
    assert record.label[1:].tobytes() == MAGIC_BYTES


def test_without_header_every_indexed_record_is_an_image(tmp_path):
    records = {7: _image_record(5.0, _png((9, 9, 9))), 8: _image_record(2.0, _png((1, 1, 1)))}
    _write_rec(tmp_path, records, "val")
    dataset = InsightFaceRecordIO(tmp_path, split="val")
    assert len(dataset) == 2 and dataset.num_identities is None
    assert [dataset[i]["identity"].item() for i in range(2)] == [5, 2]


def test_dataset_survives_pickling_for_workers(insightface_root):
    dataset = InsightFaceRecordIO(insightface_root)
    dataset[0]
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(clone[1]["image"], dataset[1]["image"])


def test_bad_files_raise_clear_errors(insightface_root, tmp_path):
    (insightface_root / "train.idx").write_text("0\t0\n1\tzero\n")
    with pytest.raises(DatasetFormatError, match=r"train\.idx: line 2"):
        InsightFaceRecordIO(insightface_root)
    (insightface_root / "train.idx").write_text("0\t4\n")
    with pytest.raises(DatasetFormatError, match="no record magic"):
        InsightFaceRecordIO(insightface_root)
    with pytest.raises(FileNotFoundError, match=r"test\.rec"):
        InsightFaceRecordIO(insightface_root, split="test")
    _write_rec(tmp_path, {0: _image_record(3.0, b"not an image")}, "bad")
    with pytest.raises(DatasetFormatError, match="cannot decode image"):
        InsightFaceRecordIO(tmp_path, split="bad")[0]
