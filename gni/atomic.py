"""Write files and folders all or nothing: under a temporary name, renamed when complete.

A reader (another process, a later session) sees the old version or the new one, never
half of one, also after a power loss: what is renamed into place is flushed to the disk
first (``fsync``), and so is the rename. A write that fails cleans up after itself; one
that is killed leaves a hidden temporary name (``.name.gnitmp.XXXXXXXX`` for a folder,
with ``.part`` or another suffix for a file) that the next write ignores and
:func:`remove_stale_temporaries` removes once it is old enough that its writer is surely
gone: every write does so in the folder it writes to, so leftovers go from every folder
gni writes (records, checkpoints, prepared data, executed chapters). Only names with
gni's ``.gnitmp.`` marker are ever removed; a user's own hidden files
(``.notes.markdown``) are not.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = ".gnitmp."  # in every temporary name this module makes, and in no other
# The names mkstemp/mkdtemp give with the prefixes below: 8 characters of [a-z0-9_], then
# the file's suffix (.part, .part.ipynb) or nothing (a folder).
TEMPORARY_NAME = re.compile(r"^\..+\.gnitmp\.[a-z0-9_]{8}(\.part(\.[a-z]+)?)?$")
STALE_SECONDS = 3600.0  # a temporary untouched this long has lost its writer


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o644, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` if the block succeeds.

    On an exception the temporary file is deleted and ``path`` is left as it was.
    ``suffix`` ends the temporary name (a tool that checks extensions may need its own).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{MARKER}", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)  # mkstemp makes it private
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself, on the disk
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, value: object) -> None:
    """``value`` as indented JSON, written all or nothing (:func:`atomic_file`)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1) + "\n")


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's content to the disk (a folder: the names in it), so
    that what was renamed into place survives a power loss, not only a killed process."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the data is synced anyway
        pass
    finally:
        os.close(fd)


@dataclass
class DirWrite:
    """A folder being written by :func:`atomic_dir_write`.

    ``kept`` is set once the block ends: True when this copy became the folder, False
    when another writer's complete copy was there first and this one was discarded.
    """

    tmp: Path
    kept: bool = False


@contextlib.contextmanager
def atomic_dir_write(path: Path, complete: Callable[[Path], bool]) -> Iterator[DirWrite]:
    """As :func:`atomic_dir`, but yields a :class:`DirWrite` that says whether it was kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    write = DirWrite(Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}{MARKER}")))
    write.tmp.chmod(0o755)  # mkdtemp makes it private
    try:
        yield write
        for folder, _, files in os.walk(write.tmp):
            for name in files:
                _fsync(Path(folder) / name)
            _fsync(Path(folder))
        if path.exists() and not complete(path):
            shutil.rmtree(path)
        try:
            os.rename(write.tmp, path)
            _fsync(path.parent)
            write.kept = True
        except OSError:
            if not complete(path):  # not another writer winning the race
                raise
    finally:
        shutil.rmtree(write.tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: Path, complete: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` if the block succeeds.

    The first complete writer wins: if ``complete(path)`` holds when this one finishes,
    this copy is discarded. An incomplete ``path`` (left by hand) is replaced.
    """
    with atomic_dir_write(path, complete) as write:
        yield write.tmp


def remove_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove the hidden temporaries in ``folder`` untouched for ``older_than`` seconds.

    Only names this module makes are touched (``.name.gnitmp.XXXXXXXX``, with a file's
    suffix). A temporary that cannot be removed (gone already, read-only folder) is
    skipped. Returns what was removed.
    """
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not TEMPORARY_NAME.match(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
