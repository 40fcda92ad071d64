import pytest

from facexformer.io.atomic import write_atomically, write_folder_atomically, write_json


def test_atomic_write_never_overwrites_silently(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("mine")
    with pytest.raises(FileExistsError):
        write_atomically(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "mine"

    def failing(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, failing, overwrite=True)
    assert target.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
    write_json(target, {"a": 1}, overwrite=True)
    assert target.read_text() == '{\n  "a": 1\n}\n'


def _pair(a: str, b: str):
    def fill(folder):
        (folder / "a.txt").write_text(a)
        (folder / "b.txt").write_text(b)

    return fill


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    def crash_after_first(folder):
        (folder / "a.txt").write_text("1")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_folder_atomically(tmp_path / "out", crash_after_first, ["a.txt", "b.txt"])
    assert list(tmp_path.iterdir()) == []  # no half folder, no temporary left behind
    write_folder_atomically(tmp_path / "out", _pair("1", "2"), ["a.txt", "b.txt"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]


def test_an_existing_pair_is_replaced_only_when_asked_and_as_a_pair(tmp_path):
    out = tmp_path / "out"
    write_folder_atomically(out, _pair("old", "old"), ["a.txt", "b.txt"])
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_folder_atomically(out, _pair("new", "new"), ["a.txt", "b.txt"])

    def crash(folder):
        (folder / "a.txt").write_text("new")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_folder_atomically(out, crash, ["a.txt", "b.txt"], overwrite=True)
    assert (out / "a.txt").read_text() == "old" and (out / "b.txt").read_text() == "old"
    write_folder_atomically(out, _pair("new", "new"), ["a.txt", "b.txt"], overwrite=True)
    assert (out / "a.txt").read_text() == "new" and (out / "b.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_other_files_in_the_folder_are_kept(tmp_path):
    out = tmp_path / "clone"
    (out / ".git").mkdir(parents=True)
    (out / "notes.md").write_text("mine")
    write_folder_atomically(out, _pair("1", "2"), ["a.txt", "b.txt"])
    assert sorted(p.name for p in out.iterdir()) == [".git", "a.txt", "b.txt", "notes.md"]
    assert (out / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        write_folder_atomically(tmp_path / "file", _pair("1", "2"), ["a.txt", "b.txt"])
