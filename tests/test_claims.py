"""The claims audit: rows glued by the chapters, read back, counted and rendered."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from gni import GniError
from gni.claims import claim_row, markdown_table, read_claims, verdict_counts
from gni.stats import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Estimate, claim_verdict

PREFIX = "application/papermill.record/"  # where myst_nb's glue puts a value it does not show


def _glued_notebook(path: Path, values: dict) -> Path:
    """A notebook holding ``values`` as myst_nb's ``glue(name, value, display=False)`` does."""
    outputs = [
        new_output(
            "display_data",
            data={PREFIX + "text/plain": repr(value)},
            metadata={"scrapbook": {"name": name, "mime_prefix": PREFIX}},
        )
        for name, value in values.items()
    ]
    cell = new_code_cell("glue(...)")
    cell.outputs = outputs
    nbformat.write(new_notebook(cells=[cell]), path)
    return path


def test_a_row_takes_its_number_from_the_verdict_or_from_the_chapter():
    verdict = claim_verdict(Estimate(0.1, 0.05, 0.15, 3), 0.01)
    row = claim_row("GNI lowers the loss", verdict, "final-numbers")
    assert row == {
        "claim": "GNI lowers the loss",
        "verdict": NOT_SUPPORTED,
        "measured": verdict.number,
        "where": "final-numbers",
    }
    assert claim_row("x", INCONCLUSIVE, "here", "3 of 5")["measured"] == "3 of 5"
    with pytest.raises(ValueError, match="'maybe' for 'x'; allowed: supported"):
        claim_row("x", "maybe", "here", "1")
    with pytest.raises(ValueError, match="needs its measured number"):
        claim_row("x", SUPPORTED, "here")


def test_claims_are_read_back_in_chapter_order_and_counted(tmp_path):
    first = [claim_row("a", SUPPORTED, "s1", "1"), claim_row("b", INCONCLUSIVE, "s2", "2")]
    _glued_notebook(tmp_path / "02_b.ipynb", {"claims": first, "profile": "cpu"})
    _glued_notebook(tmp_path / "01_a.ipynb", {"claims": [claim_row("c", SUPPORTED, "s3", "3")]})
    _glued_notebook(tmp_path / "03_none.ipynb", {"answer": "no claims here"})
    claims = read_claims(tmp_path, ["01_a", "02_b", "03_none", "04_not_executed"])
    assert claims["claim"].tolist() == ["c", "a", "b"]
    assert claims["chapter"].tolist() == ["01_a", "02_b", "02_b"]
    assert verdict_counts(claims) == {SUPPORTED: 2, NOT_SUPPORTED: 0, INCONCLUSIVE: 1}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"claim": "a", "verdict": "proven", "measured": "1", "where": "s"}, "'proven'"),
        ({"claim": "a", "verdict": SUPPORTED}, "must have"),
    ],
)
def test_a_malformed_row_is_refused_with_its_notebook(tmp_path, row, message):
    path = _glued_notebook(tmp_path / "01_a.ipynb", {"claims": [row]})
    with pytest.raises(GniError, match=message) as error:
        read_claims(tmp_path, ["01_a"])
    assert str(path) in str(error.value)


def test_the_table_links_each_claim_to_its_section(tmp_path):
    _glued_notebook(
        tmp_path / "01_a.ipynb",
        {"claims": [claim_row("GNI lowers the loss", INCONCLUSIVE, "final-numbers", "a\n b")]},
    )
    table = markdown_table(read_claims(tmp_path, ["01_a"]))
    lines = table.splitlines()
    assert lines[0] == ":::{list-table}" and ":class: claims-table" in lines
    assert lines[-4:] == [
        "* - {ref}`GNI lowers the loss <final-numbers>`",
        "  - **inconclusive**",
        "  - a b",
        ":::",
    ]
