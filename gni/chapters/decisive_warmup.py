"""Chapter 8's exploratory control: is tuned GNI more than a longer learning-rate warmup?

Not pre-registered: run after the verdicts, and read apart from them. GNI's noise is
added before AdamW normalises the step, so while it is large it shrinks the step, as a
warmup does; the envelope tunes the peak learning rate but keeps every arm's schedule
(a linear warmup of the profile's ``warmup_iters``, then cosine decay). Here the baseline
runs at GNI's chosen learning rate, without noise, with a longer warmup
(:data:`WARMUP_STEPS`) on the regime's confirmation seeds, and is paired by seed with
GNI's and the baseline's confirmation runs. ``grids/decisive_warmup.yaml`` names the same
runs for ``gni sweep``.

Conventions: losses and differences in nats per character, treatment - reference
(negative favours the treatment); each test is a paired t-test by seed, uncorrected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from gni import GniError, stats
from gni.config import make_config
from gni.grids import expand
from gni.preregistration import Design
from gni.report import plural
from gni.results import ResultsStore, load_runs
from gni.untrusted import shown

#: The regime whose GNI arm is controlled (its noise outlives its warmup; see the chapter).
REGIME = "cpu-long"
#: The longer warmups, in steps: where GNI's noise at cpu-long's chosen decay (0.9949 a
#: step) has fallen to about a fifth of its start, and to about 1% of it.
WARMUP_STEPS = (300, 900)
#: The arms the longer warmup is compared with: (name on the page, arm of the design).
COMPARED = (("GNI", "gni"), ("baseline", "baseline"))
NOISE_KEYS = ("noise_schedule", "noise_args")
#: The longer-warmup runs' arm, in the pairing.
LONGER = "longer warmup"


def regime_name(design: Design) -> str:
    """The design's regime that is controlled: :data:`REGIME`, or its smoke-size twin."""
    for name in (REGIME, f"smoke-{REGIME}"):
        if name in design.regimes:
            return name
    raise GniError(f"the design has no regime {REGIME!r}: it has {shown(list(design.regimes))}")


def warmup_grids(
    design: Design, regime: str, frozen: Mapping[str, Any], warmups: Sequence[int] = WARMUP_STEPS
) -> list[dict[str, Any]]:
    """One sweep grid per dataset of ``regime`` with a GNI arm: GNI's frozen settings
    without its noise, at each of ``warmups`` (``warmup_iters``), on the frozen seeds."""
    r = design.regime(regime)
    grids = []
    for dataset, arms in r.datasets.items():
        if "gni" not in arms:
            continue
        settings = frozen["chosen"][dataset]["gni"]
        overrides = {k: v for k, v in settings.items() if k not in NOISE_KEYS}
        grids.append(
            {
                "base": {"dataset": dataset, "profile": r.profile, "overrides": overrides},
                "axes": {
                    "warmup": [
                        {"label": f"warmup {w} steps", "warmup_iters": int(w)} for w in warmups
                    ]
                },
                "seeds": list(frozen["seeds"]),
            }
        )
    return grids


def warmup_runs(grids: Sequence[Mapping[str, Any]], store: ResultsStore) -> pd.DataFrame:
    """The recorded runs of ``grids`` (:func:`gni.results.load_runs`); empty if none."""
    ids = [p.config.run_id for g in grids for p in expand(dict(g))]
    ids = [i for i in ids if store.has(i)]
    return load_runs(ids, store=store) if ids else pd.DataFrame()


def warmup_tests(
    probe: pd.DataFrame, runs: pd.DataFrame, regime: str, measure: str
) -> pd.DataFrame:
    """Per dataset, warmup and arm of :data:`COMPARED`: that arm minus the longer-warmup
    baseline on ``measure``, paired by seed (:func:`gni.stats.paired_table`: only pairs
    of ok runs enter; its Holm p is not used, each test is read uncorrected). Columns:
    dataset, warmup, compared, difference (an Estimate), p.

    ``probe`` holds the longer-warmup runs (dataset, seed, status, warmup_iters, the
    measure); ``runs`` the confirmation runs (regime, dataset, arm, seed, status, the
    measure)."""
    columns = ["dataset", "warmup", "compared", "difference", "p"]
    if probe.empty or runs.empty:
        return pd.DataFrame([], columns=columns)
    confirmed = runs[runs["regime"] == regime]
    frames = []
    for (dataset, warmup), group in probe.groupby(["dataset", "warmup_iters"], sort=False):
        frames.append(group.assign(arm=LONGER, warmup=int(warmup)))
        for _, arm in COMPARED:
            other = confirmed[(confirmed["dataset"] == dataset) & (confirmed["arm"] == arm)]
            frames.append(other.assign(warmup=int(warmup)))
    table = stats.paired_table(
        pd.concat(frames, ignore_index=True),
        [measure],
        between="arm",
        baseline=LONGER,
        by=["dataset", "warmup"],
    )
    table["compared"] = table["arm"].map({arm: name for name, arm in COMPARED})
    return table[columns].reset_index(drop=True)


def warmup_table(tests: pd.DataFrame) -> pd.DataFrame:
    """:func:`warmup_tests` for the page: one row per dataset and warmup, one column per
    compared arm ("GNI \N{MINUS SIGN} longer warmup": difference [95% CI]; p, in nats per
    character, the unit left to the caption), and the number of seeds paired (the
    fewest of its arms')."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for t in tests.itertuples(index=False):
        row = rows.setdefault(
            (t.dataset, t.warmup), {"dataset": t.dataset, "warmup (steps)": t.warmup}
        )
        e = t.difference
        row[f"{t.compared} \N{MINUS SIGN} longer warmup"] = (
            f"{e.mean:+.3f} [{e.lo:+.3f}, {e.hi:+.3f}]; {stats.p_clause(t.p)}"
        )
    table = pd.DataFrame(list(rows.values()))
    if not table.empty:  # the pairs: as many as the arm with the fewest
        seeds = tests.groupby(["dataset", "warmup"], sort=False)["difference"]
        table["seeds"] = seeds.agg(lambda d: min(e.n for e in d)).tolist()
    return table


def warmup_sentence(tests: pd.DataFrame, compared: str = "GNI") -> str:
    """How often ``compared`` is below, above or within reach of the longer-warmup
    baseline (its 95% CI wholly below zero, wholly above, or across it), and what that
    says when every comparison is below: "GNI is lower than the longer-warmup baseline in
    4 of 4 comparisons (95% CI below zero), higher in 0, and 0 are unresolved: a longer
    warmup of these lengths does not explain GNI's gain."."""
    rows = tests[tests["compared"] == compared]
    if rows.empty:
        return "No longer-warmup run is recorded yet."
    below = sum(e.hi < 0 for e in rows["difference"])
    above = sum(e.lo > 0 for e in rows["difference"])
    unresolved = len(rows) - below - above
    text = (
        f"{compared} is lower than the longer-warmup baseline in {below} of "
        f"{plural(len(rows), 'comparison')} (95% CI below zero), higher in {above}, and "
        f"{unresolved} {'is' if unresolved == 1 else 'are'} unresolved"
    )
    if below == len(rows):
        return f"{text}: a longer warmup of these lengths does not explain {compared}'s gain."
    return f"{text}."


def noise_life_text(
    design: Design, regime: str, frozen: Mapping[str, Any], fraction: float = 0.01
) -> str:
    """When GNI's chosen noise at ``regime`` has fallen to ``fraction`` of its start,
    against the regime's warmup and length: "by step 901 of 2,400 (its warmup: 100
    steps)", one clause per distinct decay. Empty when no GNI arm decays."""
    r = design.regime(regime)
    clauses = []
    for dataset, arms in r.datasets.items():
        args = (
            frozen["chosen"][dataset].get("gni", {}).get("noise_args", {}) if "gni" in arms else {}
        )
        gamma = args.get("gamma")
        if gamma is None or not 0 < gamma < 1:
            continue
        config = make_config(dataset, r.profile, seed=0)
        step = math.log(fraction) / math.log(gamma)
        clause = (
            f"by step {step:,.0f} of {config.max_iters:,} "
            f"(its warmup: {config.warmup_iters:,} steps)"
        )
        if clause not in clauses:
            clauses.append(clause)
    return "; ".join(clauses)
