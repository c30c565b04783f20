"""The claims audit: every chapter's verdicts on the paper's claims, gathered in one place.

A chapter that tests a claim of the paper glues ``claims`` (:data:`GLUE_KEY`): a list of
rows made by :func:`claim_row`, each the claim in words, its verdict
(:data:`gni.stats.SUPPORTED`, :data:`~gni.stats.NOT_SUPPORTED` or
:data:`~gni.stats.INCONCLUSIVE`), the measured number with its interval, and the label
of the section that shows it. The claims chapter reads the rows back from the executed
notebooks (:func:`read_claims`), renders them as MyST tables (:func:`markdown_table`)
and counts the verdicts, so that no verdict on the page is typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gni import GniError
from gni.book import glued_values
from gni.stats import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, ClaimVerdict

GLUE_KEY = "claims"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
COLUMNS = ("chapter", "claim", "verdict", "measured", "where")


def claim_row(
    claim: str, verdict: ClaimVerdict | str, where: str, measured: str | None = None
) -> dict[str, str]:
    """One row of the audit: ``claim`` (MyST), the verdict, the measured number (by
    default the verdict's own), and ``where``, the label of the section that shows it."""
    word = verdict.word if isinstance(verdict, ClaimVerdict) else verdict
    if word not in VERDICTS:
        raise ValueError(f"verdict {word!r} for {claim!r}; allowed: {', '.join(VERDICTS)}")
    if measured is None:
        if not isinstance(verdict, ClaimVerdict):
            raise ValueError(f"{claim!r}: a verdict given as a word needs its measured number")
        measured = verdict.number
    return {"claim": claim, "verdict": word, "measured": measured, "where": where}


def read_claims(executed: Path, chapters: Sequence[str]) -> pd.DataFrame:
    """The rows the executed ``chapters`` (in ``executed``) glued, in chapter order.

    A chapter that was not executed, or glued no claims, adds no row; a row with a
    field missing or a verdict not in :data:`VERDICTS` raises GniError naming it.
    """
    rows = []
    for chapter in chapters:
        path = executed / f"{chapter}.ipynb"
        if not path.is_file():
            continue
        for row in glued_values(path).get(GLUE_KEY, []):
            if not isinstance(row, dict) or set(row) != set(COLUMNS[1:]):
                raise GniError(f"{path}: a claims row must have {COLUMNS[1:]}; got {row!r}")
            if row["verdict"] not in VERDICTS:
                raise GniError(
                    f"{path}: verdict {row['verdict']!r}; allowed: {', '.join(VERDICTS)}"
                )
            rows.append({"chapter": chapter, **row})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _cell(text: str) -> str:
    return " ".join(str(text).split())


def markdown_table(rows: pd.DataFrame) -> str:
    """``rows`` as a MyST list-table of class ``claims-table`` (which the book's CSS
    stacks into one block per claim on narrow screens): the claim (a link to its
    section), the verdict in bold, the measured number."""
    lines = [
        ":::{list-table}",
        ":header-rows: 1",
        ":class: claims-table",
        ":widths: 35 15 50",
        "",
        "* - Claim",
        "  - Verdict",
        "  - Measured",
    ]
    for r in rows.itertuples():
        lines += [
            f"* - {{ref}}`{_cell(r.claim)} <{r.where}>`",
            f"  - **{r.verdict}**",
            f"  - {_cell(r.measured)}",
        ]
    return "\n".join([*lines, ":::"]) + "\n"


def verdict_counts(rows: pd.DataFrame) -> dict[str, int]:
    """How many rows have each verdict, every verdict listed (0 where none)."""
    counts = rows["verdict"].value_counts()
    return {word: int(counts.get(word, 0)) for word in VERDICTS}
