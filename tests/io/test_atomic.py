import errno
import os
import stat
import subprocess
import sys

import pytest

from facexformer.io.atomic import (
    leftover_target,
    remove_leftovers,
    restore_interrupted_folder,
    write_atomically,
    write_folder_atomically,
    write_json,
)


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


def test_written_files_and_folders_get_the_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "a.json", lambda tmp: tmp.write_text("{}"))
        write_folder_atomically(tmp_path / "m", _pair("1", "2"), ("a.txt", "b.txt"))
        os.umask(0o027)
        write_atomically(tmp_path / "b.json", lambda tmp: tmp.write_text("{}"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o640


def test_a_legal_254_character_name_is_written_beside_its_target(tmp_path):
    name = "n" * 249 + ".json"
    assert len(name) == 254
    seen = []
    write_atomically(tmp_path / name, lambda tmp: (seen.append(tmp.parent), tmp.write_text("{}")))
    assert seen == [tmp_path]
    assert (tmp_path / name).read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_full_disk_leaves_neither_the_target_nor_a_temporary_file(tmp_path):
    def full(tmp):
        tmp.write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "x.onnx", full)
    assert not list(tmp_path.iterdir())


def test_leftovers_of_a_killed_writer_are_found_and_removed_by_target(tmp_path):
    (tmp_path / ".last.ckpt.abcd_123.tmp").write_bytes(b"x" * 100)
    (tmp_path / ".photo.json.zz99aa11.tmp").write_text("{")
    (tmp_path / ".cache.tmp").write_text("not ours")
    (tmp_path / "last.ckpt").write_text("kept")
    assert leftover_target(tmp_path / ".last.ckpt.abcd_123.tmp") == tmp_path / "last.ckpt"
    assert leftover_target(tmp_path / ".cache.tmp") is None
    assert remove_leftovers(tmp_path, lambda name: name.endswith(".ckpt")) == [tmp_path / ".last.ckpt.abcd_123.tmp"]
    assert remove_leftovers(tmp_path) == [tmp_path / ".photo.json.zz99aa11.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache.tmp", "last.ckpt"]


def test_replacing_a_folder_swaps_it_in_one_step_and_leaves_no_hidden_copy(tmp_path):
    folder = write_folder_atomically(tmp_path / "m", _pair("1", "2"), ("a.txt", "b.txt"))
    write_folder_atomically(folder, _pair("3", "4"), ("a.txt", "b.txt"), overwrite=True)
    assert (folder / "a.txt").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


KILL_BETWEEN_RENAMES = """
import os, sys
from pathlib import Path
from facexformer.io import atomic

def fill(folder):
    (folder / "a.txt").write_text("new")

atomic._exchange = lambda a, b: False  # the rename-aside path of systems without renameat2
real_replace, calls = os.replace, []
def replace(src, dst):
    calls.append(src)
    if len(calls) == 2:  # the old folder is aside, the new one not yet in place
        os.kill(os.getpid(), 9)
    real_replace(src, dst)
os.replace = replace
atomic.write_folder_atomically(Path(sys.argv[1]), fill, ("a.txt",), overwrite=True)
"""


def test_a_kill_in_the_middle_of_replacing_a_folder_is_recovered_by_the_next_reader_or_writer(tmp_path):
    folder = tmp_path / "m"
    write_folder_atomically(folder, lambda f: (f / "a.txt").write_text("old"), ("a.txt",))
    killed = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(folder)], timeout=120)
    assert killed.returncode == -9
    assert not folder.exists()
    assert [p.name for p in tmp_path.glob(".m.*.tmp.old")], "the previous folder is set aside under a hidden name"
    assert restore_interrupted_folder(folder)
    assert (folder / "a.txt").read_text() == "old"
    assert not restore_interrupted_folder(folder)
    write_folder_atomically(folder, lambda f: (f / "a.txt").write_text("newer"), ("a.txt",), overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m"], "the next write removes the other leftovers"
