"""Glued text pasted into an executed chapter's prose, as myst-nb would render it."""

import json
import re
from html import unescape
from pathlib import Path

import nbformat
import pytest

from gni import GniError
from gni.claims import read_claims, verdict_counts
from gni.glue import carry_alt_texts, glued_data, paste_glue

PREFIX = "application/papermill.record/"


def _glued(name: str, data: dict[str, str], prefix: str = PREFIX) -> dict:
    """A display_data output as ``myst_nb.glue(name, value, display=False)`` writes it."""
    return nbformat.v4.new_output(
        "display_data",
        data={prefix + mime: value for mime, value in data.items()},
        metadata={"scrapbook": {"mime_prefix": prefix, "name": name}},
    )


def _notebook(markdown: str, outputs: list[dict]) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("glue(...)", outputs=outputs)
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), code])


def test_text_is_pasted_with_its_format_and_markup_escaped(tmp_path):
    nb = _notebook(
        "Loss {glue:text}`loss:.2f` on {glue:text}`name`, "
        "{glue:text}`n:,d` runs, {glue:md}`verdict`.",
        [
            _glued("loss", {"text/plain": "2.34567"}),
            _glued("name", {"text/plain": "'noise_args *x*'"}),
            _glued("n", {"text/plain": "12345"}),
            _glued("verdict", {"text/plain": "'...'", "text/markdown": "**supported**"}),
        ],
    )
    paste_glue(nb, tmp_path)
    pasted = nb.cells[0].source
    assert pasted == r"Loss 2.35 on noise\_args \*x\*, 12,345 runs, **supported**."


def test_text_pasted_at_the_start_of_a_line_does_not_start_a_list(tmp_path):
    nb = _notebook(
        "averaged over ($B$ =\n{glue:text}`n`) of 32,\n{glue:text}`delta` nats",
        [_glued("n", {"text/plain": "1"}), _glued("delta", {"text/plain": "'- 0.2'"})],
    )
    paste_glue(nb, tmp_path)
    assert nb.cells[0].source == "averaged over ($B$ = 1) of 32, - 0.2 nats"
    nb = _notebook("Before.\n\n{glue:text}`n` run.", [_glued("n", {"text/plain": "'1. ok'"})])
    paste_glue(nb, tmp_path)
    assert nb.cells[0].source == "Before.\n\n1\\. ok run."  # a paragraph's first words


def test_a_glue_md_directive_becomes_its_markdown_and_other_chapters_are_read(tmp_path):
    other = _notebook("", [_glued("n_seeds", {"text/plain": "3"})])
    nbformat.write(other, tmp_path / "01_reproduce.ipynb")
    table = "| claim | verdict |\n| --- | --- |\n| lower loss | inconclusive |\n"
    nb = _notebook(
        "Seeds: {glue:text}`01_reproduce.ipynb::n_seeds:s`.\n\n"
        "```{glue:md} table_claims\n:format: myst\n```\n\nAfter.",
        [_glued("table_claims", {"text/markdown": table}, prefix="")],
    )
    paste_glue(nb, tmp_path)
    assert nb.cells[0].source == f"Seeds: 3.\n\n{table}\n\nAfter."
    assert glued_data(tmp_path / "01_reproduce.ipynb") == {"n_seeds": {"text/plain": "3"}}


def test_figures_and_tables_stay_directives(tmp_path):
    markdown = "```{glue:figure} fig_val\n:name: fig-val\n\nThe loss.\n```\n\n```{glue} table1\n```"
    nb = _notebook(markdown, [])
    paste_glue(nb, tmp_path)
    assert nb.cells[0].source == markdown


def test_a_figure_glued_as_html_gets_the_alt_text_of_its_directive():
    markdown = (
        '```{glue:figure} fig_val\n:name: fig-val\n:alt: Loss "curves" & bands\n\nCaption.\n```'
    )
    figure = {"text/html": '<picture><img src="data:..." alt="" width="5"></picture>'}
    nb = _notebook(markdown, [_glued("fig_val", figure, prefix=""), _glued("other", figure)])
    carry_alt_texts(nb)
    pasted = nb.cells[1].outputs[0]["data"]["text/html"]
    assert 'alt="Loss &quot;curves&quot; &amp; bands"' in pasted
    assert 'alt=""' in nb.cells[1].outputs[1]["data"][PREFIX + "text/html"]  # no directive


def test_a_reference_to_nothing_glued_names_it(tmp_path):
    nb = _notebook("{glue:text}`missing`", [])
    with pytest.raises(GniError, match=r"glue reference 'missing': nothing of type text/plain"):
        paste_glue(nb, tmp_path)
    nb = _notebook("{glue:text}`02_schedules.ipynb::answer:s`", [])
    with pytest.raises(GniError, match=r"02_schedules.ipynb does not exist"):
        paste_glue(nb, tmp_path)


def test_the_committed_chapters_show_no_raw_roles():
    """Issue 22: outside the book (JupyterLab, Binder, nbconvert) the prose has its numbers."""
    executed = Path(__file__).resolve().parents[1] / "book" / "executed"
    for path in sorted(executed.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                source = "".join(cell["source"])
                assert "{glue:text}" not in source and "{glue:md}" not in source, path.name


def test_nbconvert_of_the_claims_page_shows_every_verdict():
    """Issue 22: a reader who opens the claims audit in Jupyter sees each claim's verdict."""
    from nbconvert import HTMLExporter

    executed = Path(__file__).resolve().parents[1] / "book" / "executed"
    chapters = ["01_reproduce", "02_schedules", "03_regularizers", "04_sharpness", "05_cost"]
    claims = read_claims(executed, [*chapters, "08_decisive"])
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed / "06_claims.ipynb", 4))
    assert "{glue" not in html
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())  # "p &lt; 0.001": p < 0.001
    counts = verdict_counts(claims)
    primary = claims[claims["chapter"] == "08_decisive"]
    assert f"Primary: of the decisive test's {len(primary)} tests of" in text
    for verdict, n in counts.items():  # in bold: its definition, then each row's verdict
        assert html.count(f"<strong>{verdict}</strong>") == 1 + n, verdict
    for measured in claims["measured"]:
        assert " ".join(re.sub(r"<[^>]+>", " ", measured).split()) in text
