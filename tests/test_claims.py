"""The claims audit: declared claims, judged by one rule, glued, read back and counted."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from scipy import stats as scipy_stats

from gni import GniError, paths
from gni.book import glued_values
from gni.claims import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_RUN,
    SUPPORTED,
    audit_summary,
    check_verdicts,
    claim_sections,
    factor_text,
    judge,
    judge_all_of,
    judge_family,
    largest_detectable,
    load_declarations,
    markdown_table,
    noise_wins,
    read_claims,
    rejudge,
    rows_for_glue,
    verdict_counts,
    verdict_sentence,
)
from gni.stats import (
    Estimate,
    holm,
    mean_ci,
    minimum_detectable_effect,
    p_clause,
    race_table,
)

PREFIX = "application/papermill.record/"  # where myst_nb's glue puts a value it does not show

DECLARED = """
alpha: 0.05
power: 0.8
measures:
  loss: {name: loss, unit: nats/char}
  steps: {name: steps, unit: steps}
  sharp: {name: sharpness, unit: ratio}
  cost: {name: overhead, unit: "%"}
claims:
  lower: {chapter: 01_a, section: s1, claim: GNI lowers the loss, source: reviews,
          test: paired-t, direction: lower, measures: [loss, sharp], family: all}
  faster: {chapter: 01_a, section: s2, claim: GNI is faster, source: reviews,
           test: sign, direction: lower, measures: [steps], family: pooled}
  cheap: {chapter: 02_b, section: s3, claim: cheap, source: reviews, test: versus,
          threshold: 3, direction: lower, measures: [cost], family: threads}
  everywhere: {chapter: 01_a, section: s4, claim: GNI lowers the loss everywhere,
               source: reviews, test: all-of, of: lower, direction: lower, measures: [loss],
               family: one intersection-union test}
"""


@pytest.fixture
def declared(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(DECLARED)
    return load_declarations(path)


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


def _comparisons(rows):
    """A paired table as gni.stats.paired_table makes it: measure, difference, p."""
    return pd.DataFrame(
        [{"measure": m, "difference": e, "p": p} for m, e, p in rows],
        columns=["measure", "difference", "p"],
    )


def test_holm_runs_over_the_whole_family_and_the_sign_decides_the_word(declared):
    lower, higher, null = (
        Estimate(-0.05, -0.08, -0.02, 3),
        Estimate(0.10, 0.05, 0.15, 3),
        Estimate(-0.01, -0.04, 0.02, 3),
    )
    table = _comparisons([("loss", lower, 0.01), ("loss", higher, 0.004), ("sharp", null, 0.4)])
    judged = judge("lower", table, ["a", "b", "c"], declared)
    assert judged["p_holm"].tolist() == pytest.approx(holm([0.01, 0.004, 0.4]).tolist())
    assert judged["verdict"].tolist() == [SUPPORTED, CONTRADICTED, INCONCLUSIVE]
    assert judged["family_size"].tolist() == [3, 3, 3]
    # each row leads with its one number, in the measure's unit
    assert judged["measured"][0].startswith("-0.050 nats/char [-0.080, -0.020]; Holm p = 0.020")
    mde = minimum_detectable_effect(null, alpha=0.05 / 3)
    assert judged["measured"][2].startswith("\N{MULTIPLICATION SIGN}0.99 [0.97, 1.01]")
    assert f"a factor of {2**mde:.2f} either way" in judged["measured"][2]
    assert judged["mde"][2] == pytest.approx(mde)
    assert "at the SD's upper 80% bound" in judged["measured"][2]


def test_a_claim_or_measure_the_file_does_not_declare_is_refused(declared):
    table = _comparisons([("loss", Estimate(0, -1, 1, 3), 0.5)])
    with pytest.raises(GniError, match="claim 'sharper' is not declared"):
        judge("sharper", table, ["a"], declared)
    with pytest.raises(GniError, match=r"not declared on the measure\(s\) \['steps'\]"):
        judge("lower", _comparisons([("steps", Estimate(0, -1, 1, 3), 0.5)]), ["a"], declared)


def test_a_sign_test_judges_who_gets_there_first_and_states_its_smallest_p(declared):
    reach = pd.DataFrame(
        [
            {"dataset": d, "seed": s, "method": m, "steps": v, "measure": "steps"}
            for d in ("x", "y")
            for s in range(3)
            for m, v in (("baseline", 100.0), ("GNI", math.nan if d == "y" else 150.0))
        ]
    )
    races = race_table(reach, "method", "baseline", pair_by=["dataset", "seed"])
    judged = judge("faster", races.assign(measure="steps"), ["GNI"], declared)
    assert judged["verdict"].tolist() == [CONTRADICTED]  # 6 of 6 pairs: p = 1/32
    assert judged["measured"][0].startswith(
        "the noise first in 0 of 6 seed pairs, the baseline in 6; 3 noise runs and 0 "
        "baseline runs never got there;"
    )
    few = race_table(reach[reach["dataset"] == "x"], "method", "baseline")
    null = judge("faster", few.assign(measure="steps"), ["GNI"], declared)
    assert null["verdict"].tolist() == [INCONCLUSIVE]
    assert "the baseline in 3; every run got there;" in null["measured"][0]
    assert "no result of 3 pairs could clear the corrected level 0.05" in null["measured"][0]
    assert "the design cannot decide" in null["measured"][0]


def test_a_versus_test_compares_the_measured_mean_with_the_declared_threshold(declared):
    values = [2.9, 3.4, 3.6, 3.3]
    e = mean_ci(values)
    judged = judge("cheap", pd.DataFrame({"measure": ["cost"], "difference": [e]}), ["1"], declared)
    p = scipy_stats.ttest_1samp(values, 3.0).pvalue
    assert judged["p"][0] == pytest.approx(p)
    mde = minimum_detectable_effect(e, alpha=0.05)
    assert f"detectable distance from it: {mde:.1f} %" in judged["measured"][0]
    clearly = judge(
        "cheap",
        pd.DataFrame({"measure": ["cost"], "difference": [mean_ci([1.0, 1.1, 0.9])]}),
        ["1"],
        declared,
    )
    assert clearly["verdict"].tolist() == [SUPPORTED]


def test_an_all_of_claim_holds_only_where_every_test_is_significant_its_way(declared):
    lower, null = Estimate(-0.05, -0.08, -0.02, 3), Estimate(-0.01, -0.04, 0.02, 3)
    both = judge(
        "lower", _comparisons([("loss", lower, 0.01), ("loss", lower, 0.03)]), ["a", "b"], declared
    )
    row = judge_all_of("everywhere", both, 2, declared).iloc[0]
    assert row["verdict"] == SUPPORTED and row["p"] == pytest.approx(0.03)  # the largest p
    assert row["measured"].startswith(
        "significantly lower in 2 of 2 tests, each at \N{GREEK SMALL LETTER ALPHA} = 0.05 "
        "uncorrected; largest uncorrected p = 0.03"
    )
    one = judge(
        "lower", _comparisons([("loss", lower, 0.01), ("loss", null, 0.4)]), ["a", "b"], declared
    )
    assert judge_all_of("everywhere", one, 2, declared).iloc[0]["verdict"] == INCONCLUSIVE
    # a test not yet run leaves it inconclusive, however small the others' p
    partial = judge_all_of("everywhere", both.iloc[:1], 2, declared).iloc[0]
    assert partial["verdict"] == INCONCLUSIVE and "(1 not yet run)" in partial["measured"]
    # all significant, one against: contradicted
    mixed = both.assign(sign=[-1, 1])
    assert judge_all_of("everywhere", mixed, 2, declared).iloc[0]["verdict"] == CONTRADICTED
    # rejudged from the tests of the claim it names, as the claims page does
    rows = pd.concat([both, judge_all_of("everywhere", both, 2, declared)], ignore_index=True)
    again = rejudge(rows.assign(chapter="01_a"), declared)
    assert again["verdict"].tolist() == [SUPPORTED, SUPPORTED, SUPPORTED]
    rows = pd.concat([both.iloc[:1], partial.to_frame().T], ignore_index=True)
    assert rejudge(rows.assign(chapter="01_a"), declared)["verdict"].tolist()[-1] == INCONCLUSIVE
    with pytest.raises(GniError, match="not an all-of claim"):
        judge_all_of("lower", both, 2, declared)


def test_an_all_of_claim_fails_where_one_test_is_significant_against_it_after_holm(declared):
    lower, null, higher = (
        Estimate(-0.05, -0.08, -0.02, 3),
        Estimate(0.01, -0.02, 0.04, 3),
        Estimate(0.10, 0.05, 0.15, 3),
    )
    tests = _comparisons([("loss", null, 0.2), ("loss", higher, 0.001), ("loss", lower, 0.01)])
    judged = judge("lower", tests, ["a", "b", "c"], declared)
    assert judged["verdict"].tolist() == [INCONCLUSIVE, CONTRADICTED, SUPPORTED]
    row = judge_all_of("everywhere", judged, 3, declared).iloc[0]
    # the claim fails at b, whatever a's p: b's Holm p (0.001 x 3), the other sign
    assert row["verdict"] == CONTRADICTED and row["p"] == pytest.approx(0.003)
    assert row["measured"] == (
        "significantly lower in 1 of 3 tests, each at \N{GREEK SMALL LETTER ALPHA} = 0.05 "
        "uncorrected; significantly higher in 1 after Holm's correction within its claim "
        "(b; Holm p = 0.003)"
    )
    # one already against it decides before the rest are run
    early = judge_all_of("everywhere", judged.iloc[1:2], 3, declared).iloc[0]
    assert early["verdict"] == CONTRADICTED and early["p_holm"] == pytest.approx(0.003)
    # a test of the other sign that is not significant gives no support: p counts as 1
    unsure = judged.iloc[[0, 2]]
    row = judge_all_of("everywhere", unsure, 2, declared).iloc[0]
    assert row["verdict"] == INCONCLUSIVE and row["p"] == 1.0
    rows = pd.concat([judged, judge_all_of("everywhere", judged, 3, declared)], ignore_index=True)
    again = rejudge(rows.assign(chapter="01_a"), declared)
    assert again["verdict"].tolist() == [INCONCLUSIVE, CONTRADICTED, SUPPORTED, CONTRADICTED]


def test_a_declared_family_with_tests_not_yet_run_is_corrected_as_declared(declared):
    table = _comparisons([("loss", Estimate(-0.05, -0.08, -0.02, 3), 0.02)] * 2)
    judged = judge("lower", table, ["a", "b"], declared, family_size=4)
    assert judged["p_holm"].tolist() == pytest.approx([0.08, 0.08])  # 4 x 0.02, not 2 x
    assert judged["family_size"].tolist() == [4, 4]
    assert judged["verdict"].tolist() == [INCONCLUSIVE, INCONCLUSIVE]
    assert "Holm p = 0.080 over 4" in judged["measured"][0]
    # rejudged from the rows alone, the declared size still rules
    again = rejudge(judged.assign(chapter="01_a"), declared)
    assert again["p_holm"].tolist() == pytest.approx([0.08, 0.08])


def test_rejudging_the_glued_rows_recomputes_every_verdict_from_raw_p_values(declared, tmp_path):
    table = _comparisons([("loss", Estimate(-0.05, -0.08, -0.02, 3), 0.01)] * 2)
    rows = rows_for_glue([judge("lower", table, ["a", "b"], declared)])
    _glued_notebook(tmp_path / "01_a.ipynb", {"claims": rows, "profile": "cpu"})
    read = read_claims(tmp_path, ["01_a", "02_not_executed"])
    assert read["chapter"].tolist() == ["01_a", "01_a"]
    again = rejudge(read, declared)
    assert again["verdict"].tolist() == read["verdict"].tolist() == [SUPPORTED, SUPPORTED]
    assert verdict_counts(read) == {SUPPORTED: 2, CONTRADICTED: 0, INCONCLUSIVE: 0}
    moved = read.assign(chapter="02_b")
    with pytest.raises(GniError, match="declared for 01_a, tested in"):
        rejudge(moved, declared)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"claim": "a", "verdict": SUPPORTED}, "must have"),
        (
            {
                "claim": "a",
                "test": "t",
                "verdict": "proven",
                "measured": "1",
                "where": "s",
                "p": 0.1,
                "p_holm": 0.1,
                "sign": 1,
                "family_size": 1,
                "unit": "nats/char",
                "mde": None,
                "mde_high": None,
            },
            "'proven'",
        ),
    ],
)
def test_a_malformed_row_is_refused_with_its_notebook(tmp_path, row, message):
    path = _glued_notebook(tmp_path / "01_a.ipynb", {"claims": [row]})
    with pytest.raises(GniError, match=message) as error:
        read_claims(tmp_path, ["01_a"])
    assert str(path) in str(error.value)


def test_the_table_leads_with_the_verdict_and_links_each_test_to_its_section(declared):
    table = _comparisons([("loss", Estimate(-0.01, -0.04, 0.02, 3), 0.4)])
    rows = judge("lower", table, ["GNI on\n x"], declared).assign(chapter="01_a")
    lines = markdown_table(rows).splitlines()
    assert lines[0] == ":::{list-table}" and ":class: claims-table" in lines
    assert lines[-4] == "* - **inconclusive**"
    assert lines[-3].startswith("  - -0.010 nats/char [-0.040, +0.020]")
    assert lines[-2:] == ["  - {ref}`GNI on x <s1>`", ":::"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("test: versus", "test: bayes"), "test='bayes'"),
        (("direction: lower, measures: [loss", "direction: down, measures: [loss"), "'down'"),
        (("measures: [steps]", "measures: [speed]"), r"measures \['speed'\]"),
        (("threshold: 3, ", ""), "needs a numeric threshold"),
        (("of: lower", "of: nothing"), "names a declared claim in of"),
        (("test: sign,", "test: sign, of: lower,"), "names a declared claim in of"),
    ],
)
def test_a_bad_declaration_is_refused_with_its_field(tmp_path, edit, message):
    path = tmp_path / "claims.yaml"
    path.write_text(DECLARED.replace(*edit))
    with pytest.raises(GniError, match=message):
        load_declarations(path)


def test_every_declared_claim_names_a_chapter_of_the_book():
    declarations = load_declarations()
    chapters = {p.stem for p in (paths.home() / "notebooks").glob("*.ipynb")}
    assert {c.chapter for c in declarations.claims.values()} <= chapters
    assert all(c.source and c.family for c in declarations.claims.values())


def test_judge_family_corrects_the_claims_rows_and_the_others_apart(declared):
    e = Estimate(-0.05, -0.08, -0.02, 3)
    table = _comparisons([("loss", e, 0.01), ("loss", e, 0.02), ("loss", e, 0.04)])
    out, judged = judge_family("lower", table, [True, False, True], ["a", "c"], declared)
    assert judged["test"].tolist() == ["a", "c"] and judged["family_size"].tolist() == [2, 2]
    assert out["p_holm"].tolist() == pytest.approx([0.02, 0.02, 0.04])
    assert out["family_size"].tolist() == [2, 1, 2]
    assert table["p"].tolist() == [0.01, 0.02, 0.04]  # the input is left as it was


def test_the_sentences_count_the_verdicts_and_state_the_largest_mde(declared):
    null = Estimate(-0.01, -0.04, 0.02, 3)
    table = _comparisons(
        [
            ("loss", Estimate(-0.05, -0.08, -0.02, 3), 0.001),
            ("loss", null, 0.4),
            ("loss", null, 0.5),
        ]
    )
    judged = judge("lower", table, ["a", "b", "c"], declared)
    assert verdict_sentence(judged) == (
        "1 is significant at the 5% level (Holm): 1 in favour of GNI (a) and 0 against"
    )
    mde = minimum_detectable_effect(null, alpha=0.05 / 3)
    assert largest_detectable(judged).startswith(f"{mde:.3f} nats/char (")
    assert verdict_sentence(judged.iloc[1:]) == "none is significant at the 5% level (Holm)"


def test_factors_keep_the_digits_a_few_seeds_can_give():
    assert [factor_text(f) for f in (2.774, 83.2, 1306.66, 2e6)] == [
        "2.77",
        "83",
        "1,307",
        "over 10,000",
    ]


CHAPTERS = [
    "01_reproduce",
    "02_schedules",
    "03_regularizers",
    "04_sharpness",
    "05_cost",
    "08_decisive",
]


def test_the_books_tally_is_the_declared_rule_applied_to_the_chapters_tests():
    """Recomputed from the committed chapters: every test's claim is declared, for its
    chapter, and Holm within each claim's family gives the verdicts and the tally that
    the claims page shows."""
    executed = paths.home() / "book" / "executed"
    tests = read_claims(executed, CHAPTERS)
    declarations = load_declarations()
    again = rejudge(tests, declarations)
    assert again["verdict"].tolist() == tests["verdict"].tolist()
    assert again["p_holm"].astype(float).tolist() == pytest.approx(
        tests["p_holm"].astype(float).tolist(), nan_ok=True
    )
    for claim_id, group in tests.groupby("claim"):
        if declarations.claim(claim_id).test == "all-of":  # one test over another claim's
            assert group["family_size"].tolist() == [
                len(tests[tests["claim"] == declarations.claim(claim_id).of])
            ]
            continue
        for r in group.itertuples():  # the number shown is the adjusted p of the rule
            if r.measured == NOT_RUN:  # a registered test still to run
                assert r.p is None or math.isnan(r.p)
                continue
            assert f"{p_clause(r.p_holm, 'Holm p')} over {r.family_size}" in r.measured
        # one family size per claim: the tests run, or the registered family
        assert len(set(group["family_size"])) == 1, claim_id
        assert group["family_size"].iloc[0] >= int(group["p"].notna().sum()), claim_id
    page = glued_values(executed / "06_claims.ipynb")
    counts = verdict_counts(again)
    assert [page[f"n_{word}"] for word in counts] == list(counts.values())
    assert page["n_tests"] == len(tests)
    assert len(page["summary"].split()) <= 60  # the page's "In short"
    assert set(tests["claim"]) == set(declarations.claims)  # every declared claim is tested


def test_a_comparison_no_pair_entered_is_inconclusive_and_outside_the_family(declared):
    empty = Estimate(math.nan, math.nan, math.nan, 0)
    table = _comparisons(
        [("loss", empty, math.nan), ("loss", Estimate(-0.05, -0.08, -0.02, 3), 0.01)]
    )
    judged = judge("lower", table, ["none", "one"], declared)
    assert judged["verdict"].tolist() == [INCONCLUSIVE, SUPPORTED]
    assert judged["sign"].tolist() == [0, -1] and judged["family_size"].tolist() == [1, 1]
    assert "one pair" in judged["measured"][0]
    glued = rows_for_glue([judged])  # read back as Python literals: NaN would not parse
    assert glued[0]["p"] is None and glued[0]["mde"] is None and glued[1]["p"] == 0.01


def test_the_audit_page_groups_tests_by_claim_and_counts_the_wins(declared):
    lower = _comparisons(
        [("loss", Estimate(-0.05, -0.08, -0.02, 3), 0.001)]
        + [("loss", Estimate(-0.01, -0.04, 0.02, 3), 0.5)] * 9
    )
    cheap = pd.DataFrame({"measure": ["cost"], "difference": [mean_ci([1.0, 1.1, 0.9])]})
    tests = pd.concat(
        [
            judge("lower", lower, [f"t{i}" for i in range(10)], declared).assign(chapter="01_a"),
            judge("cheap", cheap, ["one thread"], declared).assign(chapter="02_b"),
        ],
        ignore_index=True,
    )
    titles = {"01_a": "Chapter A", "02_b": "Chapter B"}
    page = claim_sections(tests, titles, declared)
    assert page.startswith("### GNI lowers the loss\n\n**10 tests: 1 supported, 9 inconclusive.**")
    assert "::::{dropdown} The 10 tests" in page  # a large family folds away
    assert "### cheap\n\n**1 test: 1 supported.** [Chapter B](02_b.ipynb)" in page
    wins = noise_wins(tests, declared)  # the threshold test's support is not a win
    assert wins["test"].tolist() == ["t0"]
    assert audit_summary(tests, wins) == (
        "Of 11 tests of 2 claims of the paper, 2 support it, 0 contradict it and 9 are "
        "inconclusive, each after Holm's correction within its claim. The noise did "
        "significantly better than its reference in 1 test, listed below."
    )
    apart = audit_summary(tests, wins, primary_chapter="02_b")
    assert apart == (
        "Primary: of the decisive test's 1 test of 1 claim, 1 supports the paper, 0 "
        "contradict it and 0 are inconclusive. Screens and mechanisms: 1 of 10 tests support, "
        "0 contradict, 9 inconclusive. The noise did significantly better than its reference "
        "in 1 test, listed below."
    )
    assert len(apart.split()) <= 60
    waiting = tests.assign(
        measured=[
            NOT_RUN if c == "02_b" else m
            for c, m in zip(tests["chapter"], tests["measured"], strict=True)
        ]
    )
    assert "1 is inconclusive (1 of them not yet run)." in audit_summary(waiting, wins, "02_b")
    check_verdicts(tests, declared)
    forged = tests.assign(verdict=["contradicted", *tests["verdict"].tolist()[1:]])
    with pytest.raises(GniError, match="verdicts that the declared rule does not give"):
        check_verdicts(forged, declared)
