"""Every reader x hostile annotations and folders: a clear error naming the file, a counted skip, or a faithful read.

Cases: byte-order marks and CRLF line ends, wrong point counts, NaN / inf coordinates, missing files, empty
splits, upper-case suffixes, unicode paths, truncated MATLAB files.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from facexformer.data.datasets import COFW, DatasetFormatError
from tests.robustness.hostile import READERS, SAMPLES, Built, assert_clear


def _rewrite(path: Path, change: Callable[[str], str]) -> None:
    path.write_bytes(change(path.read_text(encoding="utf-8")).encode("utf-8"))


def bom(built: Built) -> None:
    built.annotation.write_bytes(b"\xef\xbb\xbf" + built.annotation.read_bytes())


def crlf(built: Built) -> None:
    _rewrite(built.annotation, lambda text: text.replace("\r\n", "\n").replace("\n", "\r\n"))


def _replace_number(text: str, value: str) -> str:
    """Replace the first landmark x coordinate of the first record with ``value``."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        separator = "," if "," in line else " "
        fields = line.split(separator)
        numeric = [i for i, f in enumerate(fields) if f.strip().replace(".", "", 1).replace("-", "", 1).isdigit()]
        if len(numeric) >= 2 and not line.startswith(("version", "n_points", "106")):
            position = numeric[-2] if separator == "," else numeric[0]
            fields[position] = value + ("\n" if fields[position].endswith("\n") else "")
            lines[index] = separator.join(fields)
            return "".join(lines)
    raise AssertionError("no numeric line")


def nan_point(built: Built) -> None:
    _rewrite(built.annotation, lambda text: _replace_number(text, "nan"))


def inf_point(built: Built) -> None:
    _rewrite(built.annotation, lambda text: _replace_number(text, "inf"))


def wrong_count(built: Built) -> None:
    """One point too few in the first record (a field pair dropped, or the .pts header's count changed)."""
    suffix = built.annotation.suffix
    lines = built.annotation.read_text(encoding="utf-8").splitlines(keepends=True)
    if suffix == ".pts":
        lines[1] = "n_points: 67\n"
    elif lines[0].strip() == "106":  # LaPa: the last pair missing
        lines = lines[:-1]
    else:
        row = 1 if suffix == ".csv" else 0
        separator = "," if suffix == ".csv" else " "
        fields = lines[row].split(separator)
        lines[row] = separator.join(fields[:6] + fields[8:])
    built.annotation.write_text("".join(lines), encoding="utf-8")


def missing_image(built: Built) -> None:
    built.images[0].unlink()


def empty_split(built: Built) -> None:
    if (
        built.annotation is not None
        and built.annotation.suffix in (".txt", ".csv")
        and "landmarks" not in str(built.annotation)
    ):
        header = built.annotation.read_text().splitlines(keepends=True)[:1] if built.annotation.suffix == ".csv" else []
        built.annotation.write_text("".join(header))
        return
    for path in built.images:
        for sibling in path.parent.glob(f"{path.name.split('.')[0]}*"):
            sibling.unlink()


def upper_case_suffix(built: Built) -> None:
    for path in built.images:
        path.rename(path.with_name(path.name[: -len(path.suffix)] + path.suffix.upper()))
    if built.annotation is not None and built.annotation.suffix == ".pts":
        for pts in built.annotation.parent.glob("*.pts"):
            pts.rename(pts.with_suffix(".PTS"))


# reader -> change -> expected outcome: "ok" (reads every sample), "error" (DatasetFormatError naming the
# annotation or image file) or "skip" (skip_invalid=True drops the bad record, counted in a warning)
CHANGES: dict[str, Callable[[Built], None]] = {
    "bom": bom,
    "crlf": crlf,
    "nan": nan_point,
    "inf": inf_point,
    "wrong-count": wrong_count,
    "missing-image": missing_image,
    "empty-split": empty_split,
    "upper-case-suffix": upper_case_suffix,
}
EXPECTED = {
    "300W": {
        "bom": "ok",
        "crlf": "ok",
        "nan": "error",
        "inf": "error",
        "wrong-count": "error",
        "missing-image": "error",
        "empty-split": "error",
        "upper-case-suffix": "ok",
    },
    "WFLW": {
        "bom": "ok",
        "crlf": "ok",
        "nan": "error",
        "inf": "error",
        "wrong-count": "error",
        "missing-image": "error",
        "empty-split": "error",
    },
    "AFLW19": {
        "bom": "ok",
        "crlf": "ok",
        "nan": "error",
        "inf": "error",
        "wrong-count": "error",
        "missing-image": "error",
        "empty-split": "error",
    },
    "LaPa": {
        "crlf": "ok",
        "wrong-count": "error",
        "missing-image": "ok",
        "empty-split": "error",
        "upper-case-suffix": "ok",
    },
    "UTKFace": {"missing-image": "ok", "empty-split": "error", "upper-case-suffix": "ok"},
    "FairFace": {"bom": "ok", "crlf": "ok", "missing-image": "error", "empty-split": "error"},
    "RAF-DB": {"bom": "ok", "crlf": "ok", "missing-image": "error", "empty-split": "error"},
}
CASES = [(reader, change, outcome) for reader, table in EXPECTED.items() for change, outcome in table.items()]


def _load_all(built: Built, **kwargs) -> list[dict]:
    dataset = built.open(**kwargs)
    return [dataset[i] for i in range(len(dataset))]


@pytest.mark.parametrize(("reader", "change", "outcome"), CASES, ids=[f"{r}-{c}-{o}" for r, c, o in CASES])
def test_hostile_annotation(tmp_path, reader, change, outcome):
    built = READERS[reader](tmp_path / "data")
    count = len(built.open())
    CHANGES[change](built)
    if outcome == "ok":
        expected = count if change != "missing-image" else count - 1  # UTKFace: the file is the record
        assert len(_load_all(built)) == expected
        return
    with pytest.raises((DatasetFormatError, FileNotFoundError)) as caught:
        _load_all(built)
    named = [str(built.images[0]), str(built.root)]
    if built.annotation is not None:
        named += [str(built.annotation), str(built.annotation.parent)]
    message = str(caught.value)
    assert any(name in message for name in named), message
    assert_clear(caught.value)
    if change in ("nan", "inf", "wrong-count"):  # one bad record among good ones: skip_invalid drops it
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            samples = _load_all(built, skip_invalid=True)
        assert 0 < len(samples) < count or (reader == "LaPa" and len(samples) == count - 1)
        assert any("skipped 1 invalid record" in str(w.message) for w in warned)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_unicode_paths(tmp_path, reader):
    built = READERS[reader](tmp_path / "données" / "顔 データ")
    assert len(_load_all(built)) == len(built.images)
    built.images[0].write_bytes(b"")
    with pytest.raises(DatasetFormatError) as caught:
        _load_all(built)
    assert_clear(caught.value, str(built.images[0]), "empty file")


def test_lapa_all_nan_landmarks_error_or_skip(tmp_path):
    built = READERS["LaPa"](tmp_path / "data")
    built.annotation.write_text("106\n" + "nan nan\n" * 106)
    with pytest.raises(DatasetFormatError) as caught:
        built.open()
    assert_clear(caught.value, str(built.annotation), "all 106 landmarks are missing")
    with pytest.warns(UserWarning, match="skipped 1 invalid record"):
        assert len(built.open(skip_invalid=True)) == 2


def test_utkface_upper_case_jpg_is_read(tmp_path):
    built = READERS["UTKFace"](tmp_path / "data")
    renamed = built.images[0].with_name(built.images[0].name.replace(".jpg.chip.jpg", ".JPG"))
    built.images[0].rename(renamed)
    sources = {sample["source"] for sample in _load_all(built)}
    assert str(renamed) in sources and len(sources) == len(built.images)


def test_pts_with_bom_and_crlf_reads_the_same_points(tmp_path):
    built = READERS["300W"](tmp_path / "data")
    before = built.open()[0]["landmarks"]
    crlf(built)
    bom(built)
    assert built.open()[0]["landmarks"].equal(before)


@pytest.mark.parametrize("version", ["cofw", "cofw_v5"])
def test_truncated_cofw_mat_names_the_file(tmp_path, version):
    root = tmp_path / "cofw"
    shutil.copytree(SAMPLES / version, root)
    mat = root / "COFW_test_color.mat"
    assert len(COFW(root, "test")) > 0
    mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    with pytest.raises(DatasetFormatError) as caught:
        dataset = COFW(root, "test")
        [dataset[i] for i in range(len(dataset))]
    assert_clear(caught.value, str(mat))


def test_missing_cofw_file_names_path_and_layout(tmp_path):
    (tmp_path / "cofw").mkdir()
    with pytest.raises(FileNotFoundError) as caught:
        COFW(tmp_path / "cofw", "test")
    assert_clear(caught.value, "COFW_test_color.mat", "Expected layout")
