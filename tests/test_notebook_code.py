"""The chapters hold prose, calls and glue: no function defined in a notebook and no code
cell over 25 lines (the parameters cell aside); the analysis is in gni.chapters."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "notebook_code", ROOT / "benchmarks" / "notebook_code.py"
)
notebook_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_code)


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_a_chapter_defines_no_function_and_no_long_cell(notebook):
    counts = notebook_code.census(notebook)
    assert counts["functions"] == 0
    assert counts[f"cells over {notebook_code.LONGEST} lines"] == 0
