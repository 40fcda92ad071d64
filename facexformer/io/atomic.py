"""Writing files and folders so that a crash never leaves a half-written result, and nothing is replaced
without ``overwrite=True``.

Temporary files and folders are made beside their target (same folder, same filesystem: the final rename is
atomic everywhere) and are named ``.<target name>.<random>.tmp`` (the target's name cut to fit the 255-byte limit
of file names). A killed process leaves such a file behind; :func:`remove_leftovers` removes those of a folder,
and the commands that write into a folder call it on their next run. What is renamed into place gets the
permissions the user's umask gives a new file (``0o644`` under ``umask 022``), not the temporary file's 0600.

``write_folder_atomically`` replaces an earlier folder by exchanging the two in one step where the system
can (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere it renames the old folder aside first, and a process
killed between the two renames leaves the previous folder as ``.<name>.<random>.tmp.old`` beside the missing
one: :func:`restore_interrupted_folder` (run by the next ``write_folder_atomically`` and by readers of a missing
folder) renames it back.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

#: bytes of the target's name kept in a temporary name (file names are limited to 255 bytes)
_NAME_BYTES_KEPT = 120
#: ``.<name>.<8 random characters of mkstemp/mkdtemp>.tmp``, ``.old`` added for a folder set aside
_LEFTOVER = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp(?:\.old)?")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def temporary_prefix(name: str) -> str:
    """``.<name>.`` with ``name`` cut to at most 120 bytes (UTF-8), so a legal target name gives a legal
    temporary name."""
    kept = name.encode()[:_NAME_BYTES_KEPT].decode(errors="ignore")
    return f".{kept}."


def leftover_target(path: Path) -> Path | None:
    """The target a temporary ``.<name>.<random>.tmp`` (or a folder set aside, ``.tmp.old``) was written for;
    None when ``path`` is not named like a temporary of this module. A cut name gives the cut target."""
    match = _LEFTOVER.fullmatch(path.name)
    return path.with_name(match[1]) if match else None


def remove_leftovers(folder: str | Path, targets: Callable[[str], bool] = lambda name: True) -> list[Path]:
    """Remove the temporary files and folders a killed writer left in ``folder`` (those whose target's name
    passes ``targets``, e.g. ``lambda name: name.endswith(".ckpt")``); returns what was removed. A folder set
    aside by an interrupted ``write_folder_atomically`` is restored instead while its target is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        target = leftover_target(path)
        if target is None or not targets(target.name):
            continue
        if path.name.endswith(".old") and restore_interrupted_folder(target):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def new_file_mode() -> int:
    """The permission bits a newly created file gets under the current umask (``0o666 & ~umask``)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)  # no /proc: read it by setting it (not thread-safe, but only off Linux)
    os.umask(current)
    return current


def write_atomically(path: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path`` in one step.

    An existing ``path`` is only replaced when ``overwrite`` is true (else ``FileExistsError``). The file gets
    the umask's permissions (:func:`new_file_mode`). Whatever ``write`` raises (a full disk: ``OSError``
    ENOSPC), the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, data: Any, overwrite: bool = False, indent: int | None = 2) -> None:
    """Write ``data`` as JSON, atomically; ``indent=None`` writes one line (Python's C encoder: ~4x faster on
    long number lists such as run-length codes, and a third of the size)."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=indent) + "\n"), overwrite)


def write_folder_atomically(
    directory: str | Path, fill: Callable[[Path], None], names: Collection[str], overwrite: bool = False
) -> Path:
    """Call ``fill(tmp)`` to write the files ``names`` into a temporary folder, then move them to ``directory``.

    A missing or empty ``directory`` is replaced by the finished folder in one rename, so the files appear
    together or not at all. A folder holding only earlier copies of ``names`` is swapped with the new one
    (``overwrite=True`` needed; see the module docstring for a kill during the swap); a folder that also holds
    other files (e.g. a clone of a Hub repo) keeps them, and each of ``names`` is renamed into it one by one,
    in the order given (write the file readers look for first, e.g. ``config.json``, last). Returns
    ``directory``.
    """
    directory = Path(directory)
    restore_interrupted_folder(directory)
    existing = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder")
    clashes = [n for n in names if n in existing]
    if clashes and not overwrite:
        raise FileExistsError(f"{directory} already holds {', '.join(clashes)}; pass overwrite=True to replace it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(directory.parent, lambda name: name == directory.name)
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(directory.name), suffix=".tmp", dir=directory.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if not existing:
            if directory.is_dir():
                directory.rmdir()
            os.replace(tmp, directory)
        elif set(existing) <= set(names):
            _swap_folders(tmp, directory)
        else:
            for name in names:
                os.replace(tmp / name, directory / name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory


def _swap_folders(new: Path, directory: Path) -> None:
    """Put the folder ``new`` in the place of ``directory``; the old folder ends at ``new``'s path."""
    if _exchange(new, directory):
        return
    old = new.with_name(f"{new.name}.old")
    os.replace(directory, old)
    os.replace(new, directory)  # a kill before this line: restore_interrupted_folder puts ``old`` back
    os.replace(old, new)


def _exchange(a: Path, b: Path) -> bool:
    """Exchange two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where not supported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def restore_interrupted_folder(directory: str | Path) -> bool:
    """Where a killed ``write_folder_atomically`` left ``directory`` missing and its previous content set aside
    as ``.<name>.<random>.tmp.old``, rename that back to ``directory``; True when it did."""
    directory = Path(directory)
    if directory.exists() or not directory.parent.is_dir():
        return False
    aside = sorted(directory.parent.glob(f"{_glob_escape(temporary_prefix(directory.name))}*.tmp.old"))
    aside = [p for p in aside if leftover_target(p) == directory]
    if not aside:
        return False
    os.replace(aside[-1], directory)
    return True


def _glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
