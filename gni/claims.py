"""The claims audit: the paper's claims, the tests that judge them, one rule for all.

``book/claims.yaml`` declares, before the numbers, every claim of the paper the book
tests: its chapter and section, the measures, the direction and the family over which
Holm's correction runs (one family per claim). A chapter judges its comparisons with
:func:`judge`, which refuses a claim or a measure the file does not declare, corrects
over the family, and words every test alike: :data:`SUPPORTED` (significant in the
claimed direction), :data:`CONTRADICTED` (significant in the other) or
:data:`INCONCLUSIVE` (neither; its number then states the smallest effect the design
detects). The chapter glues the tests (:data:`GLUE_KEY`); the claims chapter reads them
back (:func:`read_claims`), checks them against the rule (:func:`rejudge`) and counts
them (:func:`verdict_counts`), so that no verdict on the page is typed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from gni import GniError, paths, report
from gni.book import glued_values
from gni.stats import (
    Estimate,
    Race,
    corrected_alpha,
    holm,
    minimum_detectable_effect,
    p_clause,
    p_text,
    standard_error,
)
from gni.untrusted import load_yaml, read_text, shown

__all__ = [
    "CONTRADICTED",
    "DIRECTIONS",
    "GLUE_KEY",
    "INCONCLUSIVE",
    "NOT_RUN",
    "ROW_FIELDS",
    "SD_CONFIDENCE",
    "SUPPORTED",
    "TESTS",
    "VERDICTS",
    "Claim",
    "Declarations",
    "Measure",
    "audit_summary",
    "check_verdicts",
    "claim_sections",
    "declarations_path",
    "factor_text",
    "interval_text",
    "judge",
    "judge_all_of",
    "judge_family",
    "largest_detectable",
    "load_declarations",
    "markdown_table",
    "noise_wins",
    "read_claims",
    "rejudge",
    "rows_for_glue",
    "verdict_counts",
    "verdict_sentence",
    "verdict_word",
]

#: The verdict words; significant in the claim's direction, in the other, or neither.
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
#: The three verdicts, in the order the book counts them.
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
#: The tests a claim may declare; a paired t-test, an exact sign test, a one-sample
#: test against a threshold, or an intersection-union test over another claim's tests
#: (the claim holds in every one of them: :func:`judge_all_of`).
TESTS = ("paired-t", "sign", "versus", "all-of")
#: A claim's direction as the sign of the difference it predicts.
DIRECTIONS = {"lower": -1, "higher": 1}
#: What a registered test that has not run yet measured (an inconclusive row, no p-value).
NOT_RUN = "not yet run: not all its registered runs are recorded"
#: The name under which a chapter glues its tests of the claims.
GLUE_KEY = "claims"
#: The upper bound of the SD at which the MDE is stated a second time
SD_CONFIDENCE = 0.8
#: The fields of a test of a claim, as a chapter glues it.
ROW_FIELDS = (
    "claim",
    "test",
    "verdict",
    "measured",
    "where",
    "p",
    "p_holm",
    "sign",
    "family_size",
    "unit",
    "mde",
    "mde_high",
)


def declarations_path() -> Path:
    """The committed declarations of the claims: ``book/claims.yaml`` in the checkout."""
    return paths.home() / "book" / "claims.yaml"


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str  # "ratio": the values are log2 ratios, shown as factors


@dataclass(frozen=True)
class Claim:
    """One declared claim (see ``book/claims.yaml``)."""

    id: str
    chapter: str
    section: str
    claim: str
    source: str
    test: str
    direction: int  # the sign the claim gives to treatment - reference
    measures: tuple[str, ...]
    family: str
    threshold: float | None = None
    of: str | None = None  # all-of: the claim whose every test this one requires


@dataclass(frozen=True)
class Declarations:
    alpha: float
    power: float
    measures: dict[str, Measure]
    claims: dict[str, Claim]

    def claim(self, claim_id: str) -> Claim:
        if claim_id not in self.claims:
            raise GniError(
                f"claim {shown(claim_id)} is not declared in {declarations_path().name}; "
                f"declared: {', '.join(self.claims)}"
            )
        return self.claims[claim_id]


def _field(entry: dict, key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind):
        raise GniError(
            f"{where}: {key}={shown(value)}; allowed: a {getattr(kind, '__name__', kind)}"
        )
    return value


def load_declarations(path: Path | None = None) -> Declarations:
    """Read and check ``book/claims.yaml`` (or ``path``)."""
    path = declarations_path() if path is None else path
    data = load_yaml(read_text(path, str(path)), str(path))
    if not isinstance(data, dict):
        raise GniError(f"{path}: a mapping with alpha, power, measures and claims expected")
    measures = {
        key: Measure(_field(m, "name", f"{path} measure {key}"), _field(m, "unit", f"{path} {key}"))
        for key, m in _field(data, "measures", str(path), dict).items()
    }
    claims = {}
    for key, entry in _field(data, "claims", str(path), dict).items():
        where = f"{path} claim {key}"
        test = _field(entry, "test", where)
        direction = _field(entry, "direction", where)
        listed = tuple(_field(entry, "measures", where, list))
        if test not in TESTS:
            raise GniError(f"{where}: test={shown(test)}; allowed: {', '.join(TESTS)}")
        if direction not in DIRECTIONS:
            raise GniError(f"{where}: direction={shown(direction)}; allowed: lower, higher")
        unknown = [m for m in listed if m not in measures]
        if unknown or not listed:
            raise GniError(f"{where}: measures {shown(unknown)} are not among {list(measures)}")
        threshold = entry.get("threshold")
        if test == "versus" and not isinstance(threshold, int | float):
            raise GniError(f"{where}: a versus test needs a numeric threshold")
        of = entry.get("of")
        if (test == "all-of") != (of is not None) or (of is not None and of not in data["claims"]):
            raise GniError(f"{where}: an all-of test, and only one, names a declared claim in of")
        claims[key] = Claim(
            id=key,
            chapter=_field(entry, "chapter", where),
            section=_field(entry, "section", where),
            claim=_field(entry, "claim", where),
            source=_field(entry, "source", where),
            test=test,
            direction=DIRECTIONS[direction],
            measures=listed,
            family=_field(entry, "family", where),
            threshold=None if threshold is None else float(threshold),
            of=of,
        )
    alpha, power = _field(data, "alpha", str(path), float), _field(data, "power", str(path), float)
    return Declarations(alpha, power, measures, claims)


def verdict_word(p_holm: float, sign: int, claimed: int, alpha: float) -> str:
    """The rule: significant (Holm-adjusted p below ``alpha``) in the claimed direction,
    significant against it, or neither."""
    if math.isnan(p_holm) or p_holm >= alpha or sign == 0:
        return INCONCLUSIVE
    return SUPPORTED if sign == claimed else CONTRADICTED


def interval_text(e: Estimate, unit: str, digits: int = 3) -> str:
    """One number with its interval: ``+0.052 nats/char [-0.032, +0.136]``; a log2
    difference (unit "ratio") as a factor after a times sign, ``0.26 [0.17, 0.38]``; a
    share in percent as ``+3.3 % [+1.9, +4.7]``."""
    if unit == "ratio":
        return report.ratio(e)
    digits = 1 if unit == "%" else 0 if unit == "steps" else digits
    mean = f"{e.mean:+.{digits}f} {unit}"
    if e.n < 2:
        return f"{mean} (one pair: no interval)"
    return f"{mean} [{e.lo:+.{digits}f}, {e.hi:+.{digits}f}]"


def factor_text(factor: float) -> str:
    """A factor for prose: ``2.77``, ``83``, ``1,307``; "over 10,000" beyond that, where
    more digits would claim a precision that three seeds cannot give."""
    if factor < 10:
        return f"{factor:.2f}"
    return f"{factor:,.0f}" if factor < 10_000 else "over 10,000"


def _detectable_text(mde: float, high: float, unit: str, what: str = "detectable") -> str:
    """The minimum detectable effect of a null paired t-test at the corrected level, and
    again at the SD's upper 80% bound (with few pairs the SD is itself uncertain)."""
    if math.isnan(mde):
        return "no detectable effect can be stated with one pair"
    bound = f"at the SD's upper {SD_CONFIDENCE:.0%} bound"
    if unit == "ratio":
        return (
            f"detectable: a factor of {factor_text(2**mde)} either way "
            f"({factor_text(2**high)} {bound})"
        )
    digits = 1 if unit == "%" else 3
    return f"{what}: {mde:.{digits}f} {unit} ({high:.{digits}f} {unit} {bound})"


def _race_text(r: Race) -> str:
    first = (
        f"the noise first in {r.treatment_first} of {r.pairs} seed pairs, the baseline in "
        f"{r.baseline_first}"
    )
    if not (r.treatment_never or r.baseline_never):
        return f"{first}; every run got there"
    never = report.and_list(
        [
            report.plural(r.treatment_never, "noise run"),
            report.plural(r.baseline_never, "baseline run"),
        ]
    )
    return f"{first}; {never} never got there"


def _sign(x: float) -> int:
    """-1, 0 or +1; 0 when there is no number (no pair entered the comparison)."""
    return int(np.sign(x)) if math.isfinite(x) else 0


def _sign_reach(r: Race, level: float) -> str:
    """What a sign test of this many pairs can reach against the corrected level."""
    if r.pairs and r.smallest_p > level:
        return (
            f"no result of {r.pairs} pairs could clear the corrected level {level:.3g} (the "
            f"smallest p they can give is {p_text(r.smallest_p)}): the design cannot decide"
        )
    return f"the smallest p {r.pairs} pairs can give is {p_text(r.smallest_p)}"


def _versus_p(e: Estimate, threshold: float, confidence: float = 0.95) -> tuple[float, int]:
    """Two-sided one-sample t-test of the estimate's mean against ``threshold`` (from its
    Student-t interval), and the sign of mean - threshold."""
    sign = _sign(e.mean - threshold)
    if e.n < 2 or math.isnan(e.half_width):
        return math.nan, sign
    se = standard_error(e, confidence)
    if se == 0:
        return (0.0 if sign else 1.0), sign
    return float(2 * scipy_stats.t.sf(abs(e.mean - threshold) / se, e.n - 1)), sign


def judge(
    claim_id: str,
    comparisons: pd.DataFrame,
    labels: Sequence[str],
    declarations: Declarations | None = None,
    family_size: int | None = None,
) -> pd.DataFrame:
    """Judge every comparison that tests ``claim_id``: the whole family, at once.

    ``comparisons`` has a ``measure`` column (a declared measure of the claim) and, by
    the claim's test: ``difference`` and ``p`` (a :func:`gni.stats.paired_table`;
    paired-t), ``race`` (a :func:`gni.stats.race_table`; sign), or ``difference`` (the
    measured quantity; versus). ``labels`` name each comparison in words. Holm's
    correction runs over all the rows, or over ``family_size`` tests, a family declared
    before its tests ran of which some have not (each counts as p = 1;
    :func:`gni.stats.holm`). Returns one row per comparison with
    :data:`ROW_FIELDS`: the verdict, and ``measured``, which leads with one number (and
    for an inconclusive test, what the design could detect).
    """
    declarations = declarations or load_declarations()
    claim = declarations.claim(claim_id)
    if len(labels) != len(comparisons):
        raise GniError(f"{len(labels)} labels for {len(comparisons)} comparisons")
    undeclared = sorted(set(comparisons["measure"]) - set(claim.measures))
    if undeclared:
        raise GniError(
            f"claim {claim_id} is not declared on the measure(s) {undeclared}; declared: "
            f"{', '.join(claim.measures)} (book/claims.yaml)"
        )
    rows: list[dict[str, Any]] = []
    for label, r in zip(labels, comparisons.itertuples(index=False), strict=True):
        unit = declarations.measures[r.measure].unit
        if claim.test == "sign":
            p, sign, text, estimate = r.race.p, r.race.sign, _race_text(r.race), None
        elif claim.test == "versus":
            p, sign = _versus_p(r.difference, claim.threshold)
            text = f"{interval_text(r.difference, unit)} against {claim.threshold:g} {unit}"
            estimate = r.difference
        else:
            p, sign = float(r.p), _sign(r.difference.mean)
            text, estimate = interval_text(r.difference, unit), r.difference
        rows.append(
            {
                "test": label,
                "p": p,
                "sign": sign,
                "text": text,
                "estimate": estimate,
                "unit": unit,
                "race": getattr(r, "race", None),
            }
        )
    adjusted = holm([row["p"] for row in rows], family_size)
    size = family_size or int(np.sum(~np.isnan([row["p"] for row in rows])))
    judged = []
    for row, p_holm in zip(rows, adjusted, strict=True):
        word = verdict_word(p_holm, row["sign"], claim.direction, declarations.alpha)
        measured = f"{row['text']}; {p_clause(p_holm, 'Holm p')} over {size}"
        level = corrected_alpha(max(size, 1), declarations.alpha)
        mde = mde_high = math.nan
        if claim.test != "sign":  # a t-test: of a paired difference, or against a threshold
            mde = minimum_detectable_effect(row["estimate"], declarations.power, alpha=level)
            mde_high = minimum_detectable_effect(
                row["estimate"], declarations.power, alpha=level, sd_confidence=SD_CONFIDENCE
            )
        if word == INCONCLUSIVE:
            if claim.test == "sign":
                measured += "; " + _sign_reach(row["race"], level)
            else:
                what = "detectable distance from it" if claim.test == "versus" else "detectable"
                measured += "; " + _detectable_text(mde, mde_high, row["unit"], what)
        judged.append(
            {
                "claim": claim_id,
                "test": row["test"],
                "verdict": word,
                "measured": measured,
                "where": claim.section,
                "p": _plain(row["p"]),
                "p_holm": _plain(p_holm),
                "sign": row["sign"],
                "family_size": size,
                "unit": row["unit"],
                "mde": _plain(mde),
                "mde_high": _plain(mde_high),
            }
        )
    return pd.DataFrame(judged, columns=list(ROW_FIELDS))


def _all_of(
    p: Sequence[float], p_holm: Sequence[float], signs: Sequence[int], claimed: int, alpha: float
) -> tuple[float, int]:
    """The all-of claim's p-value and sign, from its tests' p, Holm p (within the claim
    they test) and signs. Where some test is significant against the claim after Holm,
    the claim fails there: the smallest such Holm p, and the other sign. Otherwise the
    intersection-union test's p, the largest of its tests' (Berger 1982), where a test of
    the other sign counts as p = 1 (it gives the claim no support), and the claimed sign
    when every test has it, else the other."""
    if len(p) == 0:
        return math.nan, 0
    held = [int(s) == claimed for s in signs]
    against = [q for q, same in zip(p_holm, held, strict=True) if not same and q < alpha]
    if against:
        return float(min(against)), -claimed
    largest = max(float(q) if same else 1.0 for q, same in zip(p, held, strict=True))
    return largest, claimed if all(held) else -claimed


def judge_all_of(
    claim_id: str, judged: pd.DataFrame, expected: int, declarations: Declarations | None = None
) -> pd.DataFrame:
    """Judge an ``all-of`` claim from the judged tests of the claim it names (``judged``):
    one row, supported only when every one of the ``expected`` tests is significant in
    the claimed direction at alpha uncorrected (Berger's intersection-union test, whose
    p-value is the largest of its tests' and needs no correction), contradicted when
    some test is significant against the claim after Holm's correction within the claim
    it names (the claim fails there), else inconclusive. Fewer than ``expected`` tests (a
    regime not yet run) leave it inconclusive, unless one already contradicts it, and
    say so."""
    declarations = declarations or load_declarations()
    claim = declarations.claim(claim_id)
    if claim.test != "all-of" or set(judged["claim"]) - {claim.of}:
        raise GniError(
            f"claim {claim_id} is not an all-of claim over {shown(set(judged['claim']))}"
        )
    ran = judged[judged["p"].notna()]  # a test not yet run has no p
    alpha = declarations.alpha
    p, sign = _all_of(
        ran["p"].astype(float).tolist(),
        ran["p_holm"].astype(float).tolist(),
        ran["sign"].tolist(),
        claim.direction,
        alpha,
    )
    complete = len(ran) >= expected
    failed = sign == -claim.direction and p < alpha  # a test contradicts it: it failed
    word = verdict_word(p if complete or failed else math.nan, sign, claim.direction, alpha)
    lower = int(((ran["p"].astype(float) < alpha) & (ran["sign"] == claim.direction)).sum())
    words = ("lower", "higher") if claim.direction < 0 else ("higher", "lower")
    measured = (
        f"significantly {words[0]} in {lower} of {expected} tests, each at "
        f"\N{GREEK SMALL LETTER ALPHA} = {alpha:g} uncorrected; "
    )
    if failed:
        against = ran[(ran["p_holm"].astype(float) < alpha) & (ran["sign"] == -claim.direction)]
        measured += (
            f"significantly {words[1]} in {len(against)} after Holm's correction within its "
            f"claim ({'; '.join(against['test'].astype(str))}; {p_clause(p, 'Holm p')})"
        )
    else:
        measured += p_clause(p, "largest uncorrected p")
    if not complete:
        measured += f" ({expected - len(ran)} not yet run)"
    if ran.empty:
        measured = NOT_RUN
    row = {
        "claim": claim_id,
        "test": "every regime and dataset",
        "verdict": word,
        "measured": measured,
        "where": claim.section,
        "p": _plain(p),
        "p_holm": _plain(p) if complete or failed else None,
        "sign": sign,
        "family_size": expected,
        "unit": declarations.measures[claim.measures[0]].unit,
        "mde": None,
        "mde_high": None,
    }
    return pd.DataFrame([row], columns=list(ROW_FIELDS))


def verdict_sentence(judged: pd.DataFrame, treatment: str = "GNI") -> str:
    """What a chapter's judged tests say, for prose: how many are significant after Holm
    and in whose favour, naming the tests in the claim's favour."""
    counts = verdict_counts(judged)
    significant = counts[SUPPORTED] + counts[CONTRADICTED]
    if not significant:
        return "none is significant at the 5% level (Holm)"
    favour = judged[judged["verdict"] == SUPPORTED]["test"].tolist()
    which = f" ({'; '.join(favour)})" if favour else ""
    return (
        f"{significant} {'is' if significant == 1 else 'are'} significant "
        f"at the 5% level (Holm): {counts[SUPPORTED]} in favour of {treatment}{which} and "
        f"{counts[CONTRADICTED]} against"
    )


def largest_detectable(judged: pd.DataFrame) -> str:
    """The largest minimum detectable effect among the inconclusive tests, per unit, and
    at the SD's upper 80% bound: "0.311 nats/char (0.652 nats/char at the SD's upper 80%
    bound)"."""
    null = judged[(judged["verdict"] == INCONCLUSIVE) & judged["mde"].notna()]
    if null.empty:
        return "n/a"
    parts = []
    for unit, group in null.groupby("unit", sort=False):
        mde, high = group["mde"].astype(float).max(), group["mde_high"].astype(float).max()
        if unit == "ratio":
            parts.append(
                f"a factor of {factor_text(2**mde)} either way ({factor_text(2**high)} at the "
                "SD's upper 80% bound)"
            )
        else:
            parts.append(f"{mde:.3f} {unit} ({high:.3f} {unit} at the SD's upper 80% bound)")
    return " and ".join(parts)


def judge_family(
    claim_id: str,
    effects: pd.DataFrame,
    is_claim: Sequence[bool],
    labels: Sequence[str],
    declarations: Declarations | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge the rows of a paired table that test ``claim_id`` (where ``is_claim``;
    ``labels`` names them) as the claim's family, and correct the table's other rows,
    which test no claim (a control, a regularizer), as one family of their own.

    Returns the table with ``p_holm`` and ``family_size`` set by those two families, and
    the judged tests (:func:`judge`).
    """
    mask = np.asarray(is_claim, dtype=bool)
    judged = judge(claim_id, effects[mask], labels, declarations)
    out = effects.copy()
    out.loc[mask, "p_holm"] = judged["p_holm"].astype(float).to_numpy()
    out.loc[~mask, "p_holm"] = holm(out.loc[~mask, "p"].to_numpy(dtype=float))
    out["family_size"] = np.where(mask, int(mask.sum()), int((~mask).sum()))
    return out, judged


def _plain(x: float) -> float | None:
    """A float for glue (which reads values back as Python literals): NaN as None."""
    return None if x is None or math.isnan(x) else float(x)


def rows_for_glue(judged: Sequence[pd.DataFrame]) -> list[dict[str, Any]]:
    """The judged tables of a chapter as one list of plain dicts, for ``glue("claims", ...)``."""
    return [
        {k: _plain(v) if isinstance(v, float) else v for k, v in row.items()}
        for table in judged
        for row in table.to_dict("records")
    ]


def read_claims(executed: Path, chapters: Sequence[str]) -> pd.DataFrame:
    """The tests the executed ``chapters`` (in ``executed``) glued, in chapter order,
    with a ``chapter`` column first. A chapter that was not executed, or glued no
    tests, adds no row; a row that lacks a field or has a verdict not in
    :data:`VERDICTS` raises GniError naming it."""
    rows = []
    for chapter in chapters:
        path = executed / f"{chapter}.ipynb"
        if not path.is_file():
            continue
        for row in glued_values(path).get(GLUE_KEY, []):
            if not isinstance(row, dict) or set(row) != set(ROW_FIELDS):
                raise GniError(f"{path}: a claims row must have {ROW_FIELDS}; got {shown(row)}")
            if row["verdict"] not in VERDICTS:
                raise GniError(
                    f"{path}: verdict {shown(row['verdict'])}; allowed: {', '.join(VERDICTS)}"
                )
            rows.append({"chapter": chapter, **row})
    return pd.DataFrame(rows, columns=["chapter", *ROW_FIELDS])


def rejudge(rows: pd.DataFrame, declarations: Declarations | None = None) -> pd.DataFrame:
    """The verdicts the declared rule gives ``rows`` (as :func:`read_claims` returns
    them), recomputed from their raw p-values and signs alone: Holm within each claim,
    the verdict from the adjusted p and the sign. Raises GniError for a row whose claim
    is not declared or whose chapter is not the claim's."""
    declarations = declarations or load_declarations()
    out = rows.copy()
    for claim_id, group in rows.groupby("claim", sort=False):
        claim = declarations.claim(claim_id)
        wrong = sorted(set(group["chapter"]) - {claim.chapter})
        if wrong:
            raise GniError(f"claim {claim_id} is declared for {claim.chapter}, tested in {wrong}")
        p = group["p"].astype(float).to_numpy()
        declared = int(group["family_size"].max()) if claim.test != "all-of" else None
        adjusted = holm(p, max(declared, int(np.sum(~np.isnan(p)))) if declared else None)
        if claim.test == "all-of":  # from the tests of the claim it names, as they stand
            of = rows[(rows["claim"] == claim.of) & rows["p"].notna()]  # the tests run
            of_p = of["p"].astype(float).to_numpy()
            of_holm = holm(of_p, max(int(of["family_size"].max()), len(of_p))) if len(of) else of_p
            q, s = _all_of(
                of_p.tolist(),
                of_holm.tolist(),
                of["sign"].tolist(),
                claim.direction,
                declarations.alpha,
            )
            complete = len(of) >= int(group["family_size"].iloc[0])  # the tests it requires
            failed = s == -claim.direction and q < declarations.alpha
            adjusted = np.full(len(group), q if complete or failed else math.nan)
            group = group.assign(sign=s)
            out.loc[group.index, "sign"] = s
        out.loc[group.index, "p_holm"] = adjusted
        out.loc[group.index, "verdict"] = [
            verdict_word(q, int(s), claim.direction, declarations.alpha)
            for q, s in zip(adjusted, group["sign"], strict=True)
        ]
    return out


def check_verdicts(tests: pd.DataFrame, declarations: Declarations | None = None) -> None:
    """GniError listing every test whose verdict is not the one the declared rule gives
    (:func:`rejudge`): a page shows no verdict the rule does not."""
    again = rejudge(tests, declarations)
    differ = tests[again["verdict"] != tests["verdict"]]
    if not differ.empty:
        listed = differ[["chapter", "claim", "test", "verdict"]].head(20).to_string()
        raise GniError(f"verdicts that the declared rule does not give:\n{listed}")


def _cell(text: str) -> str:
    return " ".join(str(text).split())


def markdown_table(rows: pd.DataFrame) -> str:
    """``rows`` (tests) as a MyST list-table of class ``claims-table`` (which the book's
    CSS stacks into one block per test on narrow screens): the verdict in bold, the
    measured number, and what was compared (a link to its section)."""
    lines = [
        ":::{list-table}",
        ":header-rows: 1",
        ":class: claims-table",
        ":widths: 14 52 34",
        "",
        "* - Verdict",
        "  - Measured",
        "  - Test",
    ]
    for r in rows.itertuples():
        lines += [
            f"* - **{r.verdict}**",
            f"  - {_cell(r.measured)}",
            f"  - {{ref}}`{_cell(r.test)} <{r.where}>`",
        ]
    return "\n".join([*lines, ":::"]) + "\n"


def claim_sections(
    tests: pd.DataFrame, titles: dict[str, str], declarations: Declarations | None = None
) -> str:
    """The claims page's body (MyST): per claim, a heading, its tally, its chapter (by
    ``titles``), what it rests on and its family, then its tests (:func:`markdown_table`);
    a family of more than 8 tests folds into a dropdown, its tally still in view."""
    declarations = declarations or load_declarations()
    sections = []
    for claim_id, rows in tests.groupby("claim", sort=False):
        claim, counts = declarations.claim(claim_id), verdict_counts(rows)
        tally = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
        table = markdown_table(rows)
        if len(rows) > 8:
            table = f"::::{{dropdown}} The {len(rows)} tests\n{table}::::\n"
        sections.append(
            f"### {claim.claim}\n\n**{len(rows)} test{'s' * (len(rows) > 1)}: {tally}.** "
            f"[{titles[claim.chapter]}]({claim.chapter}.ipynb); rests on {claim.source}; "
            f"family: {claim.family}.\n\n{table}"
        )
    return "\n".join(sections)


def noise_wins(tests: pd.DataFrame, declarations: Declarations | None = None) -> pd.DataFrame:
    """The supported tests of comparisons (not of a threshold, as the overhead's): where
    the noise did significantly better than its reference."""
    declarations = declarations or load_declarations()
    compared = tests["claim"].map(lambda c: declarations.claim(c).test != "versus")
    return tests[(tests["verdict"] == SUPPORTED) & compared]


def _agree(n: int, one: str, many: str) -> str:
    """``n`` with the words that agree with it: ``1 test supports``, ``2 tests support``."""
    return f"{n} {one if n == 1 else many}"


def audit_summary(
    tests: pd.DataFrame, wins: pd.DataFrame, primary_chapter: str | None = None
) -> str:
    """The claims page's "In short" (under 60 words): the tally and the wins' count; with
    ``primary_chapter``, that chapter's tests (the primary verdicts) tallied apart from
    the others (screens and mechanisms)."""
    counts = verdict_counts(tests)
    found = f"The noise did significantly better than its reference in {len(wins)} " + (
        f"test{'s' * (len(wins) != 1)}, listed below."
    )
    if primary_chapter is None:
        return (
            f"Of {_agree(len(tests), 'test', 'tests')} of "
            f"{_agree(tests['claim'].nunique(), 'claim', 'claims')} of the paper, "
            f"{_agree(counts[SUPPORTED], 'supports', 'support')} it, "
            f"{_agree(counts[CONTRADICTED], 'contradicts', 'contradict')} it and "
            f"{_agree(counts[INCONCLUSIVE], 'is', 'are')} inconclusive, each after Holm's "
            f"correction within its claim. {found}"
        )
    is_primary = tests["chapter"] == primary_chapter
    not_run = is_primary & (tests["measured"] == NOT_RUN)
    first = verdict_counts(tests[is_primary & ~not_run])
    rest = verdict_counts(tests[~is_primary])
    open_ = first[INCONCLUSIVE] + int(not_run.sum())
    waiting = f" ({int(not_run.sum())} of them not yet run)" if not_run.any() else ""
    return (
        f"Primary: of the decisive test's {_agree(int(is_primary.sum()), 'test', 'tests')} "
        f"of {_agree(tests[is_primary]['claim'].nunique(), 'claim', 'claims')}, "
        f"{_agree(first[SUPPORTED], 'supports', 'support')} the paper, "
        f"{_agree(first[CONTRADICTED], 'contradicts', 'contradict')} it and "
        f"{_agree(open_, 'is', 'are')} inconclusive{waiting}. "
        f"Screens and mechanisms: {rest[SUPPORTED]} of {int((~is_primary).sum())} tests "
        f"support, {rest[CONTRADICTED]} contradict, {rest[INCONCLUSIVE]} inconclusive. {found}"
    )


def verdict_counts(rows: pd.DataFrame) -> dict[str, int]:
    """How many rows have each verdict, every verdict listed (0 where none)."""
    counts = rows["verdict"].value_counts()
    return {word: int(counts.get(word, 0)) for word in VERDICTS}
