"""A clean install: the wheel of this checkout in a fresh virtual environment, with the
core dependencies only (no extra), at the versions of requirements.lock.

It builds the wheel, creates a venv without system site packages, installs the wheel
with pip's own configuration and ``-c requirements.lock``, and then, in that venv:
``import gni`` is the installed package at this checkout's version; the extras' packages
(the book's, Dask, Triton, the tests') are absent; every module of gni imports but those
that need an extra; the ``gni`` command starts; and the guide chapter's code cells
(notebooks/07_your_loop.ipynb), in order as one plain script, run to the end.

It needs the package index (as ``make`` does) and takes a minute or two, most of it
unpacking torch.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

import gni

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
GUIDE = ROOT / "notebooks" / "07_your_loop.ipynb"
# what the build reads (pyproject.toml names README.md as the readme)
BUILD_SOURCES = ("pyproject.toml", "README.md", "gni")
# packages of the extras (book, dask, gpu, tune, dev), never installed with the core
EXTRAS_ONLY = ("papermill", "jupyter_book", "myst_nb", "IPython", "dask", "distributed")
EXTRAS_ONLY += ("triton", "optuna", "nltk", "pytest", "selenium")
# modules of gni that need an extra: the book's tables (IPython) and the Triton kernel
NEEDS_AN_EXTRA = {"gni.tables": "book", "gni.chapters.setup": "book", "gni.triton_adamw": "gpu"}

CHECK = """
import importlib, importlib.metadata, importlib.util, json, pkgutil, sys
import gni
failed = {}
for module in pkgutil.walk_packages(gni.__path__, "gni."):
    if module.name != "gni.__main__":  # the CLI itself, run below
        try:
            importlib.import_module(module.name)
        except ImportError as e:
            failed[module.name] = str(e)
print(json.dumps({
    "file": gni.__file__,
    "version": gni.__version__,
    "installed": importlib.metadata.version("gni"),
    "present": [n for n in sys.argv[1:] if importlib.util.find_spec(n) is not None],
    "failed": failed,
    "versions": {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()},
}))
"""


def _run(command: list, cwd: Path, env: dict, timeout: int = 600) -> str:
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{command[:4]} failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out.stdout


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    return {
        _normalised(m[1]): m[2]
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", LOCK.read_text(), re.M)
    }


def guide_script() -> str:
    """The guide's code cells, in order, as one script."""
    cells = json.loads(GUIDE.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code") + "\n"


def test_the_guide_is_plain_python():
    """What the venv runs: no magics, no shell escapes, no book machinery."""
    script = guide_script()
    compile(script, str(GUIDE), "exec")
    assert not re.search(r"^\s*[%!]", script, re.M)
    for name in ("myst_nb", "glue", "papermill", "IPython", "gni.book", "gni.chapters"):
        assert name not in script, name


def test_a_clean_install_has_the_core_and_runs_the_guide(tmp_path):
    # a clean environment: nothing of this checkout or of the test's venv on the path
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    _run([*pip, "-q", "-w", str(wheels)], tmp_path, env)
    (wheel,) = wheels.glob("gni-*.whl")
    assert wheel.name.startswith(f"gni-{gni.__version__}-")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    try:
        _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
        _run(
            [str(python), "-m", "pip", "install", "-q", str(wheel), "-c", str(LOCK)], tmp_path, env
        )
        found = json.loads(_run([str(python), "-c", CHECK, *EXTRAS_ONLY], tmp_path, env))
        assert Path(found["file"]).is_relative_to(venv), found["file"]  # the installed gni
        assert found["version"] == found["installed"] == gni.__version__
        assert found["present"] == [], f"extras' packages in a core install: {found['present']}"
        assert found["failed"].keys() == NEEDS_AN_EXTRA.keys(), found["failed"]
        # the core dependencies, at the lock's versions
        core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        versions = {_normalised(k): v for k, v in found["versions"].items()}
        pins = _pins()
        for requirement in core:
            name = _normalised(re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0])
            assert name in versions, f"{name}: a core dependency that was not installed"
            assert SpecifierSet(f"=={pins[name]}").contains(versions[name]), (name, versions[name])
        assert "usage: gni" in _run([str(venv / "bin" / "gni"), "--help"], tmp_path, env)
        (tmp_path / "guide.py").write_text(guide_script())
        printed = _run([str(python), "guide.py"], tmp_path, env, timeout=300)
        assert "the final weights identical: True" in printed, printed
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # over a gigabyte, mostly torch
