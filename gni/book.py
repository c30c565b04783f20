"""The book pipeline: execute every chapter with papermill, then build with Jupyter Book.

Chapters are the notebooks that ``_toc.yml`` lists under ``book/executed/``; each one's
source is ``notebooks/<name>.ipynb`` (committed without outputs). ``build_book``
executes the sources into ``book/executed/`` (each output replaces the old one only
when its notebook ran to the end) and runs ``jupyter-book build . -W -n --keep-going``
with notebook execution off. Notebooks take their runs from the results store, so a
rebuild with every run cached trains nothing.

The ``check_*`` helpers validate a chapter's parameters in the cell after them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from gni import GniError, paths

EXECUTED = "book/executed"


# --- parameter checks for chapters --------------------------------------------------


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(
            f"parameter {name}={value!r} is not allowed; choose one of " + ", ".join(allowed)
        )


def check_range(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"parameter {name}={value!r} is out of range; allowed: {allowed}")


def datasets_parameter(value: str | Sequence[str], known: Iterable[str]) -> list[str]:
    """A comma-separated string (as ``papermill -p`` passes it) or a list, checked."""
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    known = list(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"parameter datasets={value!r}: unknown dataset(s) {unknown}; "
            f"choose from {', '.join(known)}"
        )
    return names


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


def execute_chapter(root: Path, name: str, parameters: dict[str, Any]) -> Path:
    """Run ``notebooks/<name>.ipynb`` with papermill into ``book/executed/<name>.ipynb``.

    Only the parameters the notebook declares are passed. On failure the partial output
    goes to ``_build/failed/<name>.ipynb`` and GniError names the cell and the exception.
    """
    import papermill

    source = root / "notebooks" / f"{name}.ipynb"
    if not source.is_file():
        raise GniError(f"_toc.yml lists {EXECUTED}/{name} but {source} does not exist")
    declared = papermill.inspect_notebook(str(source))
    chosen = {k: v for k, v in parameters.items() if k in declared}
    target = root / EXECUTED / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
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
        failed = root / "_build" / "failed" / f"{name}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, failed)
        raise GniError(
            f"notebook {source.name} failed in cell {e.exec_count}: {e.ename}: "
            f"{e.evalue} (the executed notebook is {failed})"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _relative_paths(tmp, source.relative_to(root), target.relative_to(root))
    tmp.chmod(0o644)  # mkstemp makes it private
    os.replace(tmp, target)
    return target


def _relative_paths(notebook: Path, source: Path, target: Path) -> None:
    """Record repository-relative paths in papermill's metadata, not this machine's."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.setdefault("papermill", {}).update(
        input_path=source.as_posix(), output_path=target.as_posix()
    )
    nbformat.write(nb, notebook)


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
        import papermill

        declared = set()
        for name in names:
            declared |= set(papermill.inspect_notebook(str(root / "notebooks" / f"{name}.ipynb")))
        unknown = sorted(set(parameters) - declared - {"profile"})
        if unknown:
            raise GniError(
                f"parameter(s) {unknown} are declared by no chapter; "
                f"the chapters take {', '.join(sorted(declared))}"
            )
        for name in names:
            print(f"executing {name} ...", file=sys.stderr, flush=True)
            execute_chapter(root, name, parameters)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(root), "-W", "-n", "--keep-going"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        raise GniError(f"jupyter-book build failed (exit {result.returncode}); see above")
    index = root / "_build" / "html" / "index.html"
    print(f"book built: {index}", file=sys.stderr)
    return index
