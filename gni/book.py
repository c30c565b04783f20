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
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gni import GniError, paths
from gni.atomic import atomic_file
from gni.config import PROFILES, PUBLISHED_PROFILE
from gni.glue import carry_alt_texts, glued_data, paste_glue
from gni.parameters import coerce, type_error
from gni.untrusted import shown

EXECUTED = "book/executed"
FAILED = "_build/failed"
INJECTED_CELL_ID = "injected-parameters"
VARIANTS = "_build/variants"  # books of other profiles or parameters, one folder each
BOOK_SOURCES = ("_config.yml", "_toc.yml", "_static", "book", "notebooks")
MAX_JOBS = 64  # chapters executed at once; each is a kernel of its own
EXECUTION_ONLY = frozenset({"executor", "workers"})  # where runs train, not what they are


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
    """Chapters in the order they start: by name, that is by number (``00_setup`` ...),
    whatever their place in the table of contents; each waits for the chapters it comes
    after (:func:`chapter_after`), so that a chapter that reads others (the claims audit)
    reads their executed notebooks of this build, not stale copies."""
    return sorted(names)


def chapter_after(root: Path, name: str) -> list[str]:
    """The chapters that execute before chapter ``name``: those whose executed notebooks
    it reads (their glued values, or ``other.ipynb::key`` in its prose) or whose runs it
    uses, declared in its source's metadata (``"gni": {"after": [...]}``)."""
    metadata = json.loads((root / "notebooks" / f"{name}.ipynb").read_text())["metadata"]
    after = metadata.get("gni", {}).get("after", [])
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise GniError(f"notebooks/{name}.ipynb: metadata gni.after must be a list of chapters")
    return after


def execute_chapters(
    root: Path, book: Path, names: Sequence[str], parameters: dict[str, Any], jobs: int
) -> None:
    """Execute ``names`` into ``book``, up to ``jobs`` at a time, each once the chapters
    it comes after (:func:`chapter_after`) that are among ``names`` have executed. The first
    chapter that fails stops the others from starting; its GniError is raised once the
    running ones end."""
    waiting = {n: set(chapter_after(root, n)) & set(names) for n in execution_order(names)}
    # processes, not threads: papermill changes the working directory of the process
    # that runs a notebook, which threads would share (and leave changed)
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(1, jobs), mp_context=spawn) as pool:
        running: dict[concurrent.futures.Future, str] = {}
        failure: BaseException | None = None
        while waiting or running:
            ready = [n for n, deps in waiting.items() if not deps] if failure is None else []
            for name in ready[: max(1, jobs) - len(running)]:
                del waiting[name]
                print(f"executing {name} ...", file=sys.stderr, flush=True)
                running[pool.submit(execute_chapter, book, name, parameters)] = name
            if not running:
                break
            done, _ = concurrent.futures.wait(running, return_when="FIRST_COMPLETED")
            for future in done:
                name = running.pop(future)
                if future.exception() is not None:
                    failure = failure or future.exception()
                for deps in waiting.values():
                    deps.discard(name)
    if failure is not None:
        raise failure


def executed_notebook(name: str) -> Path:
    """Where chapter ``name``'s executed notebook lies for a chapter being executed: in
    the book that runs it (``gni book`` runs each chapter in its book's ``notebooks/``,
    so ``../book/executed/``), else in this checkout's ``book/executed/``."""
    beside = Path.cwd().parent / EXECUTED
    folder = beside if Path.cwd().name == "notebooks" and beside.is_dir() else None
    return (folder or paths.home() / EXECUTED) / f"{name}.ipynb"


def check_executed(executed: Path, chapters: Sequence[str], profile: str) -> None:
    """GniError unless every chapter in ``chapters`` is executed in ``executed`` with the
    profile ``profile`` (as it glued it): what a page that reads other chapters needs."""
    for chapter in chapters:
        path = executed / f"{chapter}.ipynb"
        if not path.is_file():
            raise GniError(f"{path} does not exist: execute the chapters first (gni book)")
        ran = glued_values(path).get("profile")
        if ran != profile:
            raise GniError(
                f"{path.name} was executed with the profile {ran!r}, not {profile!r}: "
                f"execute the chapters with it first (gni book --profile {profile})"
            )


def glued_values(notebook: Path) -> dict[str, Any]:
    """What an executed notebook glued (``myst_nb.glue``): name -> value.

    Values glued with ``display=False`` are read back from their ``text/plain`` form
    (strings, numbers, lists and dicts of them, via ``ast.literal_eval``); a value
    that is not a literal (a figure, a table) maps to its mime bundle.
    """
    values: dict[str, Any] = {}
    for name, data in glued_data(notebook).items():
        text = data.get("text/plain")
        try:
            values[name] = ast.literal_eval(text) if text is not None else data
        except (ValueError, SyntaxError):
            values[name] = data
    return values


def glued_snapshot(notebook: Path) -> dict[str, Any]:
    """What a notebook glued, in a form to compare across executions: a value glued as
    text (a number, a string, a list) as its ``text/plain``; a table or markdown as the
    sha256 of its text; a figure only as ``"figure"`` (its bytes depend on the plotting
    libraries)."""
    snapshot: dict[str, Any] = {}
    for name, data in glued_data(notebook).items():
        text = data.get("text/html", data.get("text/markdown"))
        text = "".join(text) if isinstance(text, list) else text
        if text is None and set(data) == {"text/plain"}:
            snapshot[name] = "".join(data["text/plain"])
        elif text is None or ("<table" not in text and ("<svg" in text or "<img" in text)):
            snapshot[name] = "figure"
        else:
            snapshot[name] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return snapshot


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
        normalise(tmp, source.relative_to(root), target.relative_to(root), target.parent)
    failed.unlink(missing_ok=True)
    if failed.parent.is_dir() and not any(failed.parent.iterdir()):
        failed.parent.rmdir()
    return target


def normalise(notebook: Path, source: Path, target: Path, executed: Path) -> None:
    """Make an executed notebook depend only on its inputs, not on when or where it ran,
    and readable outside the book.

    Records repository-relative paths, drops papermill's and the kernel's timestamps,
    gives papermill's injected-parameters cell a fixed id and hides it from the book
    (the parameters cell above it shows the defaults; the chapter states what it ran with),
    joins a cell's consecutive printed outputs of one stream (the kernel splits them by
    timing, not by content: :func:`join_streams`), pastes what the chapter glued into its
    prose (:func:`gni.glue.paste_glue`; other chapters' values are read from
    ``executed``), so that JupyterLab, Binder and nbconvert show its findings, and gives
    each figure its alt text (:func:`gni.glue.carry_alt_texts`).
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
        if "outputs" in cell:
            cell.outputs = join_streams(cell.outputs)
    paste_glue(nb, executed)
    carry_alt_texts(nb)
    nbformat.write(nb, notebook)


def join_streams(outputs: list[Any]) -> list[Any]:
    """``outputs`` with each run of consecutive ``stream`` outputs of the same name
    (stdout, stderr) joined into one: what a cell prints, whichever way the kernel's
    messages split it."""
    joined: list[Any] = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            joined.append(output)
    return joined


def check_book_parameters(
    root: Path, names: Sequence[str], parameters: dict[str, Any]
) -> dict[str, Any]:
    """The parameters typed as the chapters declare them (:func:`gni.parameters.coerce`:
    ``-p sigma0=1e-3`` is a float where ``sigma0`` is one); GniError, before anything
    runs, for a parameter no chapter declares or of the wrong type.

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
    typed = {key: coerce(value, declared.get(key, "")) for key, value in parameters.items()}
    for key, value in typed.items():
        message = type_error(key, value, declared.get(key, ""))
        if message:
            raise GniError(message)
    return typed


# --- where the launch buttons lead ---------------------------------------------------

_GITHUB_REMOTE = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


def repository_url(root: Path) -> str | None:
    """The GitHub repository the book's buttons lead to: the git remote ``origin`` of
    ``root`` at build time, as ``https://github.com/<owner>/<name>``; None when it has
    none on GitHub (a fork's book then sends its readers to the fork, never elsewhere)."""
    try:
        remote = subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:  # no git
        return None
    match = _GITHUB_REMOTE.match(remote)
    return f"https://github.com/{match['repo']}" if match else None


def book_config(book: Path) -> Path:
    """``_config.yml`` with the repository of :func:`repository_url`, written to
    ``_build/_config.yml``: the Binder, repository and issues buttons are built from it,
    and left out when there is none."""
    config = yaml.safe_load((book / "_config.yml").read_text())
    url = repository_url(book)
    html = config.setdefault("html", {})
    if url is None:
        config.pop("repository", None)
        config.pop("launch_buttons", None)
        html.update(use_repository_button=False, use_issues_button=False)
    else:
        config.setdefault("repository", {})["url"] = url
    path = book / "_build" / "_config.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- which book: the published one, or a variant ------------------------------------


def book_parameters(profile: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """What the chapters compute from: the profile and every parameter but those that
    only say where runs train (:data:`EXECUTION_ONLY`)."""
    content = {k: v for k, v in parameters.items() if k not in EXECUTION_ONLY}
    content["profile"] = profile or content.get("profile") or PUBLISHED_PROFILE
    return content


def variant_name(content: dict[str, Any]) -> str | None:
    """None for the published book (the published profile, no other parameter); else
    the name of the variant's folder under ``_build/variants/``: the profile, and a
    digest of the other parameters when there are any (``smoke``, ``cpu-1f0c2a9e``)."""
    rest = {k: v for k, v in content.items() if k != "profile"}
    if not rest:
        return None if content["profile"] == PUBLISHED_PROFILE else content["profile"]
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()
    return f"{content['profile']}-{digest[:8]}"


def stage_variant(root: Path, name: str) -> Path:
    """The book's sources copied to ``_build/variants/<name>/``, a book of its own.

    Its ``book/executed/`` and ``_build/`` are the variant's and survive the copy, so a
    variant's chapters can be executed a few at a time; the sources are copied afresh.
    """
    stage = root / VARIANTS / name
    (stage / EXECUTED).mkdir(parents=True, exist_ok=True)
    kept = {stage / EXECUTED}
    for item in BOOK_SOURCES:
        source, target = root / item, stage / item
        if item == "book":  # book/ less executed/: the variant's own
            for old in target.iterdir():
                if old not in kept:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            ignore = shutil.ignore_patterns("executed")
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        elif source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        elif source.is_file():
            shutil.copy2(source, target)
    return stage


def executed_with(book: Path, name: str, declared: dict[str, Any]) -> dict[str, Any]:
    """The parameters chapter ``name`` of ``book`` was executed with: the defaults its
    source ``declared`` (``papermill.inspect_notebook``), updated by what papermill
    recorded, less :data:`EXECUTION_ONLY`."""
    values = {key: ast.literal_eval(spec["default"]) for key, spec in declared.items()}
    metadata = json.loads((book / EXECUTED / f"{name}.ipynb").read_text())["metadata"]
    values.update(metadata.get("papermill", {}).get("parameters", {}))
    return {k: v for k, v in values.items() if k not in EXECUTION_ONLY}


def check_side_by_side(book: Path, names: Sequence[str], content: dict[str, Any]) -> None:
    """GniError naming every chapter of ``book`` that is not executed, or that was
    executed with other parameters than ``content`` (the profile included): chapters of
    different profiles or parameters are never rendered side by side."""
    import papermill

    missing = [n for n in names if not (book / EXECUTED / f"{n}.ipynb").is_file()]
    if missing:
        raise GniError(
            f"chapter(s) {', '.join(missing)} of {book} are not executed: "
            f"run gni book{_options(content)} --only {' '.join(missing)}"
        )
    wrong = []
    for name in names:
        declared = papermill.inspect_notebook(str(book / "notebooks" / f"{name}.ipynb"))
        expected = {
            key: content.get(key, ast.literal_eval(spec["default"]))
            for key, spec in declared.items()
            if key not in EXECUTION_ONLY
        }
        ran = executed_with(book, name, declared)
        if ran != expected:
            differ = sorted(
                k for k in ran.keys() | expected.keys() if ran.get(k) != expected.get(k)
            )
            values = ", ".join(f"{k}={ran.get(k)!r}" for k in differ)
            wrong.append(f"{name} ({values})")
    if wrong:
        raise GniError(
            f"{book / EXECUTED} holds chapters executed with other parameters than this "
            f"book's ({_options(content).strip() or 'the defaults'}): {'; '.join(wrong)}. "
            "Chapters of different profiles or parameters are not rendered side by side: "
            f"execute them again (gni book{_options(content)} --only ...)"
        )


def _options(content: dict[str, Any]) -> str:
    """``content`` as gni book's options."""
    rest = "".join(f" -p {k}={v}" for k, v in content.items() if k != "profile")
    return f" --profile {content['profile']}{rest}"


def build_book(
    root: Path | None = None,
    profile: str | None = None,
    parameters: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
    execute: bool = True,
    jobs: int | None = None,
) -> Path:
    """Execute the chapters (all, or ``only`` those) and build the HTML book.

    The published book (the published profile, no parameter but those of
    :data:`EXECUTION_ONLY`) executes into ``book/executed/`` and renders to
    ``_build/html``; any other profile or parameters make a variant, executed and
    rendered in a copy of the sources under ``_build/variants/<name>/``
    (:func:`variant_name`), so that it never touches the published book. A variant's
    HTML is built once all its chapters are executed. Chapters executed with other
    parameters than the build's are refused (:func:`check_side_by_side`).

    Chapters execute ``jobs`` at a time (default: one per CPU), each after those it
    comes after (:func:`execute_chapters`).

    Returns the path of the book's ``_build/html/index.html``, or, for a variant not yet
    complete, its folder of executed chapters.
    """
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise GniError(f"jobs={jobs}: chapters executed at once must be 1 to {MAX_JOBS}")
    root = (root or paths.home()).resolve()
    names = chapters(root)
    parameters = dict(parameters or {})
    if profile is not None:
        parameters["profile"] = profile
    selected = names
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise GniError(f"--only {unknown}: not chapters of _toc.yml ({', '.join(names)})")
        selected = [n for n in names if n in only]
    if execute:
        parameters = check_book_parameters(root, selected, parameters)
    content = book_parameters(profile, parameters)
    if content["profile"] not in PROFILES:  # before its name makes a folder
        raise GniError(
            f"profile {shown(content['profile'])}; allowed: one of {', '.join(PROFILES)}"
        )
    variant = variant_name(content)
    book = root if variant is None else stage_variant(root, variant)
    if execute:
        execute_chapters(root, book, selected, parameters, jobs or os.cpu_count() or 1)
    if variant is not None:
        missing = [n for n in names if not (book / EXECUTED / f"{n}.ipynb").is_file()]
        if missing:
            print(
                f"executed chapters of the {variant} variant: {book / EXECUTED}; its HTML is "
                f"built once the others are executed too ({', '.join(missing)})",
                file=sys.stderr,
            )
            return book / EXECUTED
    check_side_by_side(book, names, content)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # --all: every page is rendered again, so that a page pasting another's glue (the intro,
    # the reproducibility page) and every sidebar never go stale in an incremental build
    command = [str(jupyter_book), "build", str(book), "--all", "-W", "-n", "--keep-going"]
    command += ["--config", str(book_config(book))]
    result = subprocess.run(command, cwd=book, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-6000:] + result.stderr[-6000:])
        raise GniError(f"jupyter-book build failed (exit {result.returncode}); see above")
    index = book / "_build" / "html" / "index.html"
    print(f"book built: {index}", file=sys.stderr)
    return index
