"""Every test gets its own results and checkpoint folders; prepared data is shared.

The tests read the real datasets, through GNI_DATA_MIRROR (set by .ci/run) or from
their canonical URLs. Without either, the session stops at once with one message.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gni import paths
from gni.config import profile_config
from gni.data import DATASETS, at_hand, reachable


def missing_data() -> str | None:
    """Why the tests cannot get the data they read, or None when they can.

    The tests start from an empty data folder, so only the mirror and the network count.
    """
    data_dir = os.environ.get("GNI_DATA_DIR")
    os.environ["GNI_DATA_DIR"] = os.devnull  # an empty data folder for the check
    try:
        missing = [
            name
            for name in DATASETS
            if not all(at_hand(name, profile_config(name, p).data_bytes) for p in ("smoke", "cpu"))
        ]
    finally:
        if data_dir is None:
            del os.environ["GNI_DATA_DIR"]
        else:
            os.environ["GNI_DATA_DIR"] = data_dir
    if not missing or all(reachable(name) for name in missing):
        return None
    mirror = paths.data_mirror()
    where = f"GNI_DATA_MIRROR={mirror} does not hold them" if mirror else "GNI_DATA_MIRROR is unset"
    return (
        f"the tests read the real datasets, but {', '.join(missing)} are not at hand "
        f"({where}) and their download hosts cannot be reached. Set GNI_DATA_MIRROR to a "
        "folder holding the files (CI uses ../shared/data), or run the tests with network "
        "access; `gni data info` lists the files."
    )


def pytest_configure(config: pytest.Config) -> None:
    reason = missing_data()
    if reason:
        raise pytest.UsageError(reason)


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, shared_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNI_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("GNI_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("GNI_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    return tmp_path


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (relative paths), hidden temporaries included."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def run_gni(*args: str) -> subprocess.CompletedProcess:
    """The `gni` command in a subprocess, with this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "gni", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted on ``folder``; skips the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("needs to mount a tmpfs (root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
