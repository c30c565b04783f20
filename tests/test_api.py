"""The library's reference (book/api/): every module it documents declares its public
names (``__all__``), and each of them is documented, so that the -W book build shows
them all (the build itself is tested in test_book)."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book" / "api").glob("*.md"))


def documented_modules() -> list[str]:
    return [m for page in PAGES for m in re.findall(r"automodule:: (gni[\w.]*)", page.read_text())]


def doc_comments(module: str) -> set[str]:
    """Module-level names assigned right after a ``#:`` comment (Sphinx's doc comment)."""
    source = Path(importlib.import_module(module).__file__).read_text()
    lines = source.splitlines()
    names = set()
    for node in ast.parse(source).body:
        targets = []
        if isinstance(node, ast.Assign):
            for t in node.targets:
                elements = t.elts if isinstance(t, ast.Tuple) else [t]
                targets += [e.id for e in elements if isinstance(e, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if targets and lines[node.lineno - 2].startswith("#:"):
            names.update(targets)
    return names


def test_the_reference_covers_the_library_users_need():
    modules = set(documented_modules())
    for needed in (
        "gni.schedules",
        "gni.noise",
        "gni.optim",
        "gni.sharpness",
        "gni.stats",
        "gni.claims",
        "gni.ngram",
        "gni.sweep",
        "gni.results",
    ):
        assert needed in modules
    assert len(modules) == len(documented_modules())  # each module on one page only


@pytest.mark.parametrize("module", documented_modules())
def test_every_public_name_is_documented(module):
    imported = importlib.import_module(module)
    public = getattr(imported, "__all__", None)
    assert public, f"{module} declares no __all__"
    commented = doc_comments(module)
    undocumented = [
        name
        for name in public
        if name not in commented
        and not (callable(getattr(imported, name)) and getattr(imported, name).__doc__)
    ]
    assert not undocumented, f"{module}: {undocumented}"
