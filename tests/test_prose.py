"""The book's prose: its numbers come from glue, and every figure's caption says what it shows.

A number typed into a chapter's prose goes stale when the runs change; a number glued by
the chapter's code cannot. The prose is every markdown cell of the chapters' notebooks
and every page under book/, with code, roles (``{glue:text}`...```) and directives'
options left out; math stays in (``$\\gamma = 0.92$`` is a typed number too).
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Decimals the prose may type, each a convention rather than a result
ALLOWED_DECIMALS = {
    "0.05": "the significance level of every test",
    "0.02": "GPT-2's initialization scale, a constant of the architecture (gni.model)",
}
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?!\w|\.\d)")  # not a version (1.2.3)
FENCE = re.compile(r"^(```+|:::+)\s*(\{[\w:-]+\})?[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
FIGURES = ("{glue:figure}", "{figure}")
# a caption names what its marks mean: an interval, a band, the dots, a colour scale ...
MARKS = ("band", "bar", "95%", "dot", "span", "colour", "contour", "line")


def _pages() -> list[tuple[str, str]]:
    """(where, markdown) of every chapter's markdown cell and every page under book/."""
    pages = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                pages.append((f"{path.name}, cell {i}", "".join(cell["source"])))
    for path in sorted((ROOT / "book").glob("*.md")):
        pages.append((path.name, path.read_text()))
    return pages


def _figures(markdown: str) -> list[tuple[str, str]]:
    """(name, caption) of each figure directive: its body without the option lines."""
    found = []
    for match in FENCE.finditer(markdown):
        if match.group(2) in FIGURES:
            name = match.group(0).splitlines()[0].split("}", 1)[1].strip()
            body = "\n".join(
                line for line in match.group(3).splitlines() if not line.startswith(":")
            )
            found.append((name, body))
    return found


def _prose(markdown: str) -> str:
    """The markdown's prose: fenced blocks dropped, except figure captions (kept, less
    their options), then inline code and roles dropped."""

    def keep(match: re.Match) -> str:
        if match.group(2) in FIGURES:
            lines = match.group(3).splitlines()
            return "\n".join(line for line in lines if not line.startswith(":"))
        if match.group(1).startswith(":"):  # a dropdown or note: its body is prose
            return _prose(match.group(3))
        return ""

    text = FENCE.sub(keep, markdown)
    return re.sub(r"(\{[\w:-]+\})?`[^`]*`", "", text)


def test_prose_types_no_decimal_number():
    typed = []
    for where, markdown in _pages():
        for match in DECIMAL.finditer(_prose(markdown)):
            if match.group(0) not in ALLOWED_DECIMALS:
                text = _prose(markdown)
                context = text[max(0, match.start() - 40) : match.end() + 20].replace("\n", " ")
                typed.append(f"{where}: {match.group(0)!r} in ...{context}...")
    assert not typed, "numbers typed into the prose (glue them):\n" + "\n".join(typed)


def test_every_figure_caption_names_the_profile_the_seeds_and_its_marks():
    missing = []
    for where, markdown in _pages():
        for name, caption in _figures(markdown):
            low = caption.lower()
            lacks = [word for word in ("profile", "seed") if word not in low]
            if not any(mark in low for mark in MARKS):
                lacks.append("what its marks mean")
            if lacks:
                missing.append(f"{where}, {name}: no {', no '.join(lacks)}")
    assert not missing, "figure captions incomplete:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("the loss fell by 0.12 nats", ["0.12"]),
        ("p below 0.05, and $\\gamma = 0.92$", ["0.92"]),
        ("{glue:text}`delta` and `0.3` in code", []),
        ("```python\nx = 0.5\n```\nversion 1.2.3 and 10 runs", []),
        ("```{glue:figure} fig\n:alt: at 0.4\n\nA caption with 0.7.\n```", ["0.7"]),
        (":::{dropdown} Table\nsaid 0.8\n:::", ["0.8"]),
    ],
)
def test_the_scan_finds_typed_decimals_only_in_prose(markdown, expected):
    found = [m.group(0) for m in DECIMAL.finditer(_prose(markdown))]
    assert [f for f in found if f not in ALLOWED_DECIMALS] == expected
