"""Write files and folders all or nothing: under a temporary name, renamed when complete.

A reader (another process, a later session) sees the old version or the new one, never
half of one; a write that fails or is killed leaves at most a hidden temporary name
(``.name.*``) that the next write ignores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` if the block succeeds.

    On an exception the temporary file is deleted and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path, complete: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` if the block succeeds.

    The first complete writer wins: if ``complete(path)`` holds when this one finishes,
    this copy is discarded. An incomplete ``path`` (left by hand) is replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private
    try:
        yield tmp
        if path.exists() and not complete(path):
            shutil.rmtree(path)
        try:
            os.rename(tmp, path)
        except OSError:
            if not complete(path):  # not another writer winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
