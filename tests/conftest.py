"""Every test gets its own results and checkpoint folders; prepared data is shared.

Real datasets are read through GNI_DATA_MIRROR (set by .ci/run) or downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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
