"""The lock, the Binder environment and the package metadata agree."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _pins(text: str) -> dict[str, str]:
    """name -> version, names normalised as pip does (case, and - _ . alike)."""
    return {
        re.sub(r"[-_.]+", "-", m[1]).lower(): m[2]
        for m in re.finditer(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)
    }


def test_binder_environment_uses_the_locked_versions():
    lock = _pins((ROOT / "requirements.lock").read_text())
    env = _pins((ROOT / "environment.yml").read_text())
    assert env, "environment.yml pins nothing"
    for name, version in env.items():
        assert lock.get(name) == version, (
            f"{name}: environment.yml {version}, lock {lock.get(name)}"
        )


def test_every_declared_dependency_is_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _pins((ROOT / "requirements.lock").read_text())
    declared = project["dependencies"] + [
        d for ds in project["optional-dependencies"].values() for d in ds
    ]
    for requirement in declared:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0]).lower()
        assert name in lock, f"{name} is declared in pyproject.toml but not in requirements.lock"
    assert lock["jupyter-book"].startswith("1.")  # 2.x fetches a site template at build


def test_the_environment_is_the_locked_one():
    """Every locked package is installed at a version its pin matches, as pip reads a pin
    (``==2.13.0`` matches torch's ``2.13.0+cpu``)."""
    lock = _pins((ROOT / "requirements.lock").read_text())
    drift = {}
    for name, version in lock.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is None or not SpecifierSet(f"=={version}").contains(installed):
            drift[name] = (version, installed)
    assert not drift, f"locked vs installed: {drift}"


def test_the_package_version_is_gni_version_and_the_changelog_names_it():
    import gni

    assert importlib.metadata.version("gni") == gni.__version__
    assert f"## {gni.__version__}\n" in (ROOT / "CHANGELOG.md").read_text()
