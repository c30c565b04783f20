"""benchmarks/regenerate_book.py refuses bad input in one line, before any chapter runs."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "regenerate_book.py"


def _regenerate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    "text",
    ['{"chap', '{"chapters": []}', '{"chapters": {"00_setup": 5}}', '{"chapters": {"a": {}}}'],
)
def test_a_corrupt_log_is_one_line_naming_it(text, tmp_path, monkeypatch):
    """Issue 23: a traceback before."""
    log = tmp_path / "log.json"
    log.write_text(text)
    monkeypatch.setenv("GNI_RESULTS_DIR", str(tmp_path / "empty"))
    out = _regenerate("--log", str(log), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(f"regenerate_book.py: error: --log {log} cannot be read: ")
    assert out.stderr.count("\n") == 1


def test_no_workers_is_refused_before_any_chapter(tmp_path, monkeypatch):
    """Issue 23: --workers 0 failed only after a chapter had run."""
    monkeypatch.setenv("GNI_RESULTS_DIR", str(tmp_path / "empty"))
    out = _regenerate("--workers", "0", "--log", str(tmp_path / "log.json"), cwd=tmp_path)
    assert out.returncode == 2 and "--workers 0: allowed 1 to 1024" in out.stderr
    assert not (tmp_path / "log.json").exists() and not (tmp_path / "empty").exists()
