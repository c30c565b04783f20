"""What executed chapters glued (``myst_nb.glue``), and that text pasted into their prose.

The chapters' markdown quotes numbers with MyST roles (``{glue:text}`key:.3f```,
``{glue:md}`key```) and the ``{glue:md}`` directive. Jupyter Book resolves them; JupyterLab,
Binder and nbconvert show them as raw roles. :func:`paste_glue` writes the text in
place in an executed notebook, exactly as myst-nb would (its own ``format_plain_text``),
so that a reader who opens a chapter outside the book reads its findings, and the book
renders the same words. Figures and tables (``{glue}``, ``{glue:figure}``) stay
directives: in Jupyter they are the cells' own outputs.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from gni import GniError

__all__ = ["carry_alt_texts", "glued_data", "paste_glue"]

# {glue:text}`[path::]key[:format]` and {glue:md}`[path::]key[:format]`
_ROLE = re.compile(r"\{glue:(text|md)\}`([^`]+)`")
# ```{glue:md} [path::]key   (options, such as :format: myst, on the lines after)
_DIRECTIVE = re.compile(r"^(`{3,})\{glue:md\}[ \t]+(\S+)[ \t]*\n((?::[^\n]*\n)*)\1[ \t]*$", re.M)
# ```{glue:figure} name  ... :alt: text  (the alt text of a figure glued as HTML)
_FIGURE_ALT = re.compile(
    r"^`{3,}\{glue:figure\}[ \t]+(\S+)[ \t]*\n(?::[^\n]*\n)*?:alt:[ \t]*(.+)$", re.M
)
# characters that Markdown would read as markup; pasted plain text escapes them
_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|$~])")
# what would start a list when pasted at the start of a line: "1." "1)" "- " "+ "
# lines that are not a paragraph's: options, fences, labels, headings, table rows
_NOT_PROSE = (":", "```", "(", "#", "|", "<")
_LIST_MARKER = re.compile(r"^(\d{1,9}[.)]|[-+](?= |$))")


def glued_data(notebook: Path) -> dict[str, dict[str, str]]:
    """Name -> mime bundle of what an executed notebook glued, the mime types without
    papermill's prefix (``text/plain``, ``text/markdown``, ``image/png`` ...)."""
    return _bundles(json.loads(notebook.read_text())["cells"])


def _bundles(cells: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    glued: dict[str, dict[str, str]] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            prefix = scrap.get("mime_prefix", "")
            glued[scrap["name"]] = {
                mime.removeprefix(prefix): "".join(value) if isinstance(value, list) else value
                for mime, value in output.get("data", {}).items()
            }
    return glued


class _Glue:
    """The glued data of a notebook and, on demand, of the notebooks beside it."""

    def __init__(self, own: dict[str, dict[str, str]], folder: Path) -> None:
        self.books = {"": own}
        self.folder = folder

    def bundle(self, reference: str, mime: str) -> str:
        path, _, key = reference.rpartition("::")
        if path not in self.books:
            other = self.folder / path
            if not other.is_file():
                raise GniError(f"glue reference {reference!r}: {other} does not exist")
            self.books[path] = glued_data(other)
        data = self.books[path].get(key)
        if data is None or mime not in data:
            raise GniError(f"glue reference {reference!r}: nothing of type {mime} glued")
        return data[mime]


def _paste_role(glue: _Glue, kind: str, content: str) -> str:
    from myst_nb.core.variables import format_plain_text

    reference, fmt = content, ""
    head, sep, tail = content.rpartition(":")
    if sep and not head.endswith(":") and tail:  # key:format, not path::key
        reference, fmt = head, tail
    if kind == "md":
        return glue.bundle(reference, "text/markdown")
    text = format_plain_text(glue.bundle(reference, "text/plain"), fmt or "s")
    return _MARKUP.sub(r"\\\1", " ".join(text.split()))


def paste_markdown(markdown: str, glue: _Glue) -> str:
    """``markdown`` with every ``{glue:text}``/``{glue:md}`` role and ``{glue:md}``
    directive replaced by the text it pastes."""
    markdown = _DIRECTIVE.sub(lambda m: glue.bundle(m.group(2), "text/markdown"), markdown)
    markdown = _join_wrapped_roles(markdown)

    def paste(match: re.Match) -> str:
        text = _paste_role(glue, match.group(1), match.group(2))
        line_start = markdown[: match.start()].rsplit("\n", 1)[-1].strip() == ""
        if match.group(1) == "text" and line_start:  # "1. " or "- " would start a list
            text = _LIST_MARKER.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)
        return text

    return _ROLE.sub(paste, markdown)


def _join_wrapped_roles(markdown: str) -> str:
    """A role that starts a wrapped line of a paragraph moves up to the line before (a
    line break inside a paragraph is a space), so that the pasted text, "1) of 32" say,
    cannot start a list."""
    lines = markdown.split("\n")
    joined = [lines[0]]
    for line in lines[1:]:
        before = joined[-1].strip()
        if line.lstrip().startswith("{glue:text}") and before and not before.startswith(_NOT_PROSE):
            joined[-1] = joined[-1].rstrip() + " " + line.lstrip()
        else:
            joined.append(line)
    return "\n".join(joined)


def paste_glue(notebook: Any, folder: Path) -> None:
    """Paste the glued text into every markdown cell of ``notebook`` (an nbformat node,
    changed in place); references to other notebooks (``01_reproduce.ipynb::key``) are
    read from ``folder``, where the executed chapters lie."""
    glue = _Glue(_bundles(notebook.cells), folder)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = paste_markdown(cell.source, glue)


def carry_alt_texts(notebook: Any) -> None:
    """Write each ``{glue:figure}`` directive's ``:alt:`` into the ``alt`` attribute of
    the figure's glued HTML (a :class:`gni.plots.ResponsiveFigure`), which myst-nb pastes
    as it is: the alt text stays in the prose, where the caption is."""
    alts = {}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            alts.update({m.group(1): m.group(2).strip() for m in _FIGURE_ALT.finditer(cell.source)})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap or scrap["name"] not in alts:
                continue
            key = scrap.get("mime_prefix", "") + "text/html"
            if key in output.get("data", {}):
                alt = html.escape(alts[scrap["name"]])
                output["data"][key] = output["data"][key].replace('alt=""', f'alt="{alt}"', 1)
