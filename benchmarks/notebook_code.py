"""How much analysis code the chapters still hold (issue 25): per notebook, the lines of
its code cells, the functions it defines, and its code cells over 25 lines (the
parameters cell aside). The target is no function and no such cell: computation lives in
``gni``, where it is tested, and a cell calls, glues and shows.

    .venv/bin/python benchmarks/notebook_code.py [--strict]

With ``--strict`` the exit status is 1 while any function or long cell remains.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

LONGEST = 25  # lines in a code cell
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def census(notebook: Path) -> dict[str, int]:
    """Code lines, defined functions and cells over :data:`LONGEST` lines of one notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    lines = functions = long = 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        n = len(source.splitlines())
        lines += n
        tree = ast.parse(source)
        functions += sum(isinstance(node, ast.FunctionDef) for node in ast.walk(tree))
        long += n > LONGEST and "parameters" not in cell["metadata"].get("tags", [])
    return {"code lines": lines, "functions": functions, f"cells over {LONGEST} lines": long}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 unless all is moved")
    args = parser.parse_args()
    totals: dict[str, int] = {}
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        counts = census(notebook)
        print(f"{notebook.stem:16} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    print(f"{'all':16} " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    left = totals["functions"] + totals[f"cells over {LONGEST} lines"]
    return 1 if args.strict and left else 0


if __name__ == "__main__":
    sys.exit(main())
