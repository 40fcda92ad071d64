import codecs
import io
import os
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image

from facexformer.data.datasets.base import DatasetFormatError
from facexformer.data.datasets.verification_bin import VerificationPairs, load_verification_bin


def _jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value, value, value)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


def _write(path: Path, content, protocol: int) -> Path:
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4])  # 2: bytes go through _codecs.encode, as in older .bin files
def test_reads_pairs_in_order(tmp_path, protocol):
    images = [_jpeg(v) for v in (10, 60, 120, 200)]
    path = _write(tmp_path / "lfw.bin", (images, [True, False]), protocol)
    pairs = VerificationPairs(path)
    assert len(pairs) == 2
    second = pairs[1]
    assert second["image1"].shape == (3, 8, 8) and second["image1"].dtype == torch.uint8
    assert abs(int(second["image1"][0, 4, 4]) - 120) <= 2 and abs(int(second["image2"][0, 4, 4]) - 200) <= 2
    assert second["issame"].item() is False and pairs[0]["issame"].item() is True
    assert second["index"].item() == 1 and "pair 1" in second["source"]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    path = _write(tmp_path / "evil.bin", ([_jpeg(1), _jpeg(2)], [_Exploit()]), 2)
    with pytest.raises(DatasetFormatError, match="refusing to load (posix|os|nt).system"):
        load_verification_bin(path)


class _Rot13:
    def __reduce__(self):
        return (codecs.encode, ("ab", "rot13"))


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    path = _write(tmp_path / "codec.bin", ([_Rot13(), _jpeg(2)], [True]), 2)
    assert b"_codecs" in path.read_bytes()
    with pytest.raises(DatasetFormatError, match="latin1"):
        load_verification_bin(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (([b"a", b"b", b"c"], [True]), "3 images for 1 pairs"),
        (([b"a", b"b"], [1]), "list of bools"),
        (([b"a", "b"], [True]), "list of encoded images"),
        ({"images": []}, "pickled"),
    ],
)
def test_malformed_content_raises(tmp_path, content, message):
    with pytest.raises(DatasetFormatError, match=message):
        load_verification_bin(_write(tmp_path / "bad.bin", content, 2))


def test_truncated_file_raises(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(pickle.dumps(([_jpeg(1), _jpeg(2)], [True]), protocol=4)[:40])
    with pytest.raises(DatasetFormatError, match="not a safe InsightFace verification pickle"):
        load_verification_bin(path)
