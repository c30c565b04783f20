"""The book pipeline: execute every chapter with papermill, then build with Jupyter Book.

Chapters are the notebooks that ``_toc.yml`` lists under ``book/executed/``; each one's
source is ``notebooks/<name>.ipynb`` (committed without outputs). ``build_book``
executes the sources, in the order of their numbered names (so that a chapter can read
what the chapters before it glued: :func:`glued_values`), into ``book/executed/``
(each output replaces the old one only when its notebook ran to the end) and runs
``jupyter-book build . --all -W -n --keep-going`` with notebook execution off. Notebooks take
their runs from the results store, so a rebuild with every run cached trains nothing.

Executed notebooks are normalised so that a rebuild with nothing changed leaves them
byte for byte the same (no timestamps, a fixed id for papermill's injected cell, which
the book hides).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gni import GniError, paths
from gni.atomic import atomic_file
from gni.parameters import type_error

EXECUTED = "book/executed"
FAILED = "_build/failed"
INJECTED_CELL_ID = "injected-parameters"


# --- the pipeline ---------------------------------------------------------------------


def chapters(root: Path) -> list[str]:
    """Names of the notebooks ``_toc.yml`` lists under book/executed/, in toc order."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise GniError(f"{toc_path} does not exist: is {root} the book's root?")
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and file.startswith(EXECUTED + "/"):
                names.append(Path(file).stem)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(yaml.safe_load(toc_path.read_text()))
    return names


def execution_order(names: Sequence[str]) -> list[str]:
    """Chapters in the order they execute: by name, that is by number (``00_setup`` ...),
    whatever their place in the table of contents, so that a later chapter (the claims
    audit) reads the executed notebooks of the earlier ones, not stale copies."""
    return sorted(names)


def executed_notebook(name: str) -> Path:
    """Where chapter ``name``'s executed notebook lies for a chapter being executed: in
    the book that runs it (``gni book`` runs each chapter in its book's ``notebooks/``,
    so ``../book/executed/``), else in this checkout's ``book/executed/``."""
    beside = Path.cwd().parent / EXECUTED
    folder = beside if Path.cwd().name == "notebooks" and beside.is_dir() else None
    return (folder or paths.home() / EXECUTED) / f"{name}.ipynb"


def glued_values(notebook: Path) -> dict[str, Any]:
    """What an executed notebook glued (``myst_nb.glue``): name -> value.

    Values glued with ``display=False`` are read back from their ``text/plain`` form
    (strings, numbers, lists and dicts of them, via ``ast.literal_eval``); a value
    that is not a literal (a figure, a table) maps to its mime bundle.
    """
    values: dict[str, Any] = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            data = output.get("data", {})
            text = data.get(scrap.get("mime_prefix", "") + "text/plain")
            try:
                values[scrap["name"]] = ast.literal_eval(text) if text is not None else data
            except (ValueError, SyntaxError):
                values[scrap["name"]] = data
    return values


def execute_chapter(root: Path, name: str, parameters: dict[str, Any]) -> Path:
    """Run ``notebooks/<name>.ipynb`` with papermill into ``book/executed/<name>.ipynb``.

    Only the parameters the notebook declares are passed. On failure the partial output
    goes to ``_build/failed/<name>.ipynb`` and GniError names the cell and the exception;
    on success an earlier failure's copy is removed.
    """
    import papermill

    source = root / "notebooks" / f"{name}.ipynb"
    if not source.is_file():
        raise GniError(f"_toc.yml lists {EXECUTED}/{name} but {source} does not exist")
    declared = papermill.inspect_notebook(str(source))
    chosen = {k: v for k, v in parameters.items() if k in declared}
    target = root / EXECUTED / f"{name}.ipynb"
    failed = root / FAILED / f"{name}.ipynb"
    paths.export_absolute()  # the kernel runs in notebooks/: relative paths would move
    with atomic_file(target, suffix=".part.ipynb") as tmp:  # papermill wants .ipynb
        try:
            papermill.execute_notebook(
                str(source),
                str(tmp),
                parameters=chosen,
                cwd=str(source.parent),
                kernel_name="python3",
                progress_bar=False,
            )
        except papermill.PapermillExecutionError as e:
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(tmp, failed)
            raise GniError(
                f"notebook {source.name} failed in cell {e.exec_count}: {e.ename}: "
                f"{e.evalue} (the executed notebook is {failed})"
            ) from None
        normalise(tmp, source.relative_to(root), target.relative_to(root))
    failed.unlink(missing_ok=True)
    if failed.parent.is_dir() and not any(failed.parent.iterdir()):
        failed.parent.rmdir()
    return target


def normalise(notebook: Path, source: Path, target: Path) -> None:
    """Make an executed notebook depend only on its inputs, not on when or where it ran.

    Records repository-relative paths, drops papermill's and the kernel's timestamps,
    gives papermill's injected-parameters cell a fixed id and hides it from the book
    (the parameters cell above it shows the defaults; the chapter states what it ran with).
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    run = nb.metadata.setdefault("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        run.pop(key, None)
    run.update(input_path=source.as_posix(), output_path=target.as_posix())
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.id = INJECTED_CELL_ID
            if "remove-cell" not in tags:
                tags.append("remove-cell")
    nbformat.write(nb, notebook)


def check_book_parameters(root: Path, names: Sequence[str], parameters: dict[str, Any]) -> None:
    """Reject, before anything runs, a parameter no chapter declares or of the wrong type.

    ``profile`` is the exception to the first rule: every chapter that has it takes it.
    """
    import papermill

    declared: dict[str, str] = {}
    for name in names:
        for key, spec in papermill.inspect_notebook(
            str(root / "notebooks" / f"{name}.ipynb")
        ).items():
            declared[key] = spec["inferred_type_name"]
    unknown = sorted(set(parameters) - set(declared) - {"profile"})
    if unknown:
        raise GniError(
            f"parameter(s) {unknown} are declared by no chapter of {', '.join(names)}; "
            f"they take {', '.join(sorted(declared))}"
        )
    for key, value in parameters.items():
        message = type_error(key, value, declared.get(key, ""))
        if message:
            raise GniError(message)


def build_book(
    root: Path | None = None,
    profile: str | None = None,
    parameters: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
    execute: bool = True,
) -> Path:
    """Execute the chapters (all, or ``only`` those) and build the HTML book.

    Returns the path of ``_build/html/index.html``.
    """
    root = (root or paths.home()).resolve()
    names = chapters(root)
    parameters = dict(parameters or {})
    if profile is not None:
        parameters["profile"] = profile
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise GniError(f"--only {unknown}: not chapters of _toc.yml ({', '.join(names)})")
        names = [n for n in names if n in only]
    if execute:
        check_book_parameters(root, names, parameters)
        for name in execution_order(names):
            print(f"executing {name} ...", file=sys.stderr, flush=True)
            execute_chapter(root, name, parameters)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # --all: every page is rendered again, so that a page pasting another's glue (the intro,
    # the reproducibility page) and every sidebar never go stale in an incremental build
    command = [str(jupyter_book), "build", str(root), "--all", "-W", "-n", "--keep-going"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        raise GniError(f"jupyter-book build failed (exit {result.returncode}); see above")
    index = root / "_build" / "html" / "index.html"
    print(f"book built: {index}", file=sys.stderr)
    return index
