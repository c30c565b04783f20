"""Chapter 8, the decisive test: its envelope, its frozen choices, its verdicts.

The chapter reads the pre-registration (:mod:`gni.preregistration`) and what
:mod:`gni.envelope` recorded: every study's trials, each regime's frozen second stage and
its confirmation runs, and judges each hypothesis as declared. This module turns those
into the page's tables and figure rows; :mod:`gni.chapters.decisive_prose` into its
sentences.

Conventions: losses and differences in nats per character, treatment - reference
(negative favours the treatment); Holm's correction runs over a hypothesis's family on
one measure (the primary measure decides the verdict, each secondary measure is its own
family); a null result states its minimum detectable effect at the design's power and the
family's corrected level.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gni import GniError, claims, stats
from gni.data import DATASETS
from gni.envelope import (
    STAGES,
    arm_overrides,
    confirmation_configs,
    load_frozen,
    load_trials,
    on_edge,
    run_stage,
    trials_path,
)
from gni.preregistration import Design
from gni.results import ResultsStore, load_runs

MINUS = "\N{MINUS SIGN}"
EN_DASH = "\N{EN DASH}"
#: What a registered test not yet run measured (:data:`gni.claims.NOT_RUN`).
PENDING = claims.NOT_RUN
SEPARATOR = " \N{MIDDLE DOT} "  # between a regime and a dataset in a row's label
MEASURE_NAMES = {
    "best_val_loss": "best validation loss",
    "final_val_loss": "final validation loss",
    "test_loss_at_best_val": "test loss at the best evaluation",
}

#: Each hypothesis in a few words, for the page's first sentence and its tables.
SHORT = {
    "gni-lowers-loss": "GNI against the baseline",
    "gni-adds-to-template": "GNI added to the template",
    "gni-beats-template": "GNI against the template",
    "gni-robust": "GNI lower in every regime and dataset",
}


def run_design(design: Design, store: ResultsStore, frozen_dir: Path, workers: int) -> None:
    """Every stage of every regime, in order, training what ``store`` lacks; a regime's
    second stage is frozen into ``frozen_dir`` unless it is there. For a design of your
    own (the smoke-size one of :func:`gni.preregistration.at_smoke_size`): the published book
    trains nothing and freezes nothing, it reads. The stages' progress lines (stderr) are
    dropped: they are not the page's, and their order and chunks vary from run to run."""
    with contextlib.redirect_stderr(io.StringIO()):
        for regime in design.regimes:
            frozen = frozen_dir / f"{regime}.yaml"
            for stage in STAGES:
                if stage != "freeze" or not frozen.is_file():
                    run_stage(design, regime, stage, store, frozen, workers)


def load_stages(design: Design, frozen_dir: Path) -> dict[str, dict[str, Any]]:
    """Each regime's frozen second stage that exists in ``frozen_dir``."""
    return {
        regime: load_frozen(regime, frozen_dir / f"{regime}.yaml")
        for regime in design.regimes
        if (frozen_dir / f"{regime}.yaml").is_file()
    }


def confirmation_runs(
    design: Design, stages: Mapping[str, Mapping[str, Any]], store: ResultsStore
) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """The confirmation runs of every frozen regime, one row per run with its regime and
    arm (:func:`gni.results.load_runs`), and per regime (recorded, declared).

    A regime and dataset enters only once every one of its declared runs is recorded:
    the seed count was fixed in advance, so no test looks at a part of it.
    """
    tables, counts = [], {}
    for regime, stage in stages.items():
        pairs = confirmation_configs(design, regime, stage)
        recorded = {c.run_id: (arm, c.dataset) for arm, c in pairs if store.has(c.run_id)}
        counts[regime] = (len(recorded), len(pairs))
        complete = {
            d
            for d in {c.dataset for _, c in pairs}
            if all(c.run_id in recorded for _, c in pairs if c.dataset == d)
        }
        arm_of = {i: arm for i, (arm, d) in recorded.items() if d in complete}
        if arm_of:
            runs = load_runs(list(arm_of), store=store)
            runs.insert(0, "regime", regime)
            runs.insert(1, "arm", runs["run_id"].map(arm_of))
            tables.append(runs)
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()), counts


def where(regime: str, dataset: str) -> str:
    """A test's place, as rows and sentences name it: ``cpu · enwik8``."""
    return f"{regime}{SEPARATOR}{dataset}"


def studies(design: Design) -> list[tuple[str, str, str]]:
    """(regime, dataset, arm) of every study the design declares, in its order."""
    return [
        (r.name, dataset, arm)
        for r in design.regimes.values()
        for dataset, arms in r.datasets.items()
        for arm in arms
    ]


def trials_table(design: Design, root: Path) -> pd.DataFrame:
    """Every trial of every study whose trials record exists: one row per trial.

    Columns: regime, dataset, arm, number, value (the primary measure; NaN for a failed
    trial), best_so_far (the lowest value up to this trial), the trial's settings as run
    (learning_rate, family, sigma0, gamma; NaN or "" where the arm has none), its range
    (lr_low, lr_high) and run_id.
    """
    rows = []
    for regime, dataset, arm in studies(design):
        if not trials_path(regime, dataset, arm, root).is_file():
            continue
        best = math.inf
        for trial in load_trials(regime, dataset, arm, root)["trials"]:
            overrides = arm_overrides(design, arm, trial["params"])
            value = math.nan if trial["value"] is None else float(trial["value"])
            best = min(best, value) if not math.isnan(value) else best
            args = overrides.get("noise_args", {})
            rows.append(
                {
                    "regime": regime,
                    "dataset": dataset,
                    "arm": arm,
                    "number": int(trial["number"]),
                    "value": value,
                    "best_so_far": best if math.isfinite(best) else math.nan,
                    "learning_rate": overrides["learning_rate"],
                    "family": trial["params"].get("family", ""),
                    "sigma0": args.get("sigma0", math.nan),
                    "gamma": args.get("gamma", math.nan),
                    "lr_low": float(trial["lr_range"][0]),
                    "lr_high": float(trial["lr_range"][1]),
                    "run_id": trial["run_id"],
                }
            )
    return pd.DataFrame(rows)


def noise_text(family: str, sigma0: float, gamma: float) -> str:
    """A trial's noise in words: ``no noise``, or its family with sigma0 (3 significant
    digits, no exponent: ``0.0000126``; and gamma for the exponential family) in Greek
    letters."""
    if not family:
        return "no noise"
    sigma = np.format_float_positional(sigma0, precision=3, fractional=False, trim="-")
    text = f"{family}, \N{GREEK SMALL LETTER SIGMA}\N{SUBSCRIPT ZERO} = {sigma}"
    if not math.isnan(gamma):
        text += f", \N{GREEK SMALL LETTER GAMMA} = {gamma:.4g}"
    return text


def choices_table(trials: pd.DataFrame, edge_factor: float) -> pd.DataFrame:
    """Each study's choice: the trial with the lowest value (the earliest among equals).

    Columns: regime, dataset, arm, trials, trial (its number), value, learning_rate,
    lr_low, lr_high (the range it was chosen from, after any extension), extended (True
    when the range was extended), interior (the rate is more than ``edge_factor`` inside
    both edges), noise (:func:`noise_text`).
    """
    rows = []
    for (regime, dataset, arm), study in trials.groupby(["regime", "dataset", "arm"], sort=False):
        done = study.dropna(subset=["value"]).sort_values(["value", "number"])
        if done.empty:
            raise GniError(f"no trial of {regime} {dataset} {arm} finished")
        best = done.iloc[0]
        last = study.iloc[-1]
        low, high = float(last["lr_low"]), float(last["lr_high"])
        rows.append(
            {
                "regime": regime,
                "dataset": dataset,
                "arm": arm,
                "trials": len(study),
                "trial": int(best["number"]),
                "value": float(best["value"]),
                "learning_rate": float(best["learning_rate"]),
                "lr_low": low,
                "lr_high": high,
                "extended": bool(
                    (study["lr_low"] != study["lr_low"].iloc[0]).any()
                    or (study["lr_high"] != study["lr_high"].iloc[0]).any()
                ),
                "interior": on_edge(float(best["learning_rate"]), (low, high), edge_factor) is None,
                "noise": noise_text(best["family"], best["sigma0"], best["gamma"]),
            }
        )
    return pd.DataFrame(rows)


def hypothesis_rows(design: Design, runs: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Every test of every two-arm hypothesis on ``measure``: its treatment against its
    reference, paired by seed (:func:`gni.stats.paired_table`), in each regime and
    dataset where ``runs`` holds both arms.

    ``runs`` has columns regime, dataset, arm, seed, status and the measure. Returns the
    paired rows with a ``hypothesis`` and a ``where`` column; ``p_holm`` is left to the
    hypothesis's family (:func:`judge`).
    """
    if runs.empty:
        return pd.DataFrame()
    tables = []
    for name, h in design.hypotheses.items():
        if "treatment" not in h:
            continue
        both = runs[runs["arm"].isin([h["treatment"], h["reference"]])]
        paired = both.groupby(["regime", "dataset"], sort=False).filter(
            lambda g, h=h: {h["treatment"], h["reference"]} <= set(g["arm"])
        )
        if paired.empty or paired[measure].isna().all():
            continue
        table = stats.paired_table(
            paired, [measure], between="arm", baseline=h["reference"], by=["regime", "dataset"]
        )
        table = table[table["arm"] == h["treatment"]].copy()
        table.insert(0, "hypothesis", name)
        table["where"] = [
            where(r, d) for r, d in zip(table["regime"], table["dataset"], strict=True)
        ]
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def judge(
    design: Design, rows: pd.DataFrame, declarations: claims.Declarations | None = None
) -> pd.DataFrame:
    """Each hypothesis's tests judged as one family (:func:`gni.claims.judge`, Holm over the
    family), labelled by regime and dataset; the hypotheses are the claims of the same
    names in ``book/claims.yaml``. Holm runs over the declared family
    (:func:`declared_size`): a test not yet run counts as p = 1. A significant test's
    ``measured`` ends, as an inconclusive one's does, with the smallest effect its seeds
    detect. A registered test not yet run is a row of its own (:func:`pending_rows`)."""
    judged = [
        claims.judge(
            name,
            group,
            [test_label(name, w) for w in group["where"]],
            declarations,
            declared_size(design, name),
        )
        for name, group in (rows.groupby("hypothesis", sort=False) if not rows.empty else [])
    ]
    judged.append(pending_rows(design, rows, declarations))
    out = pd.concat(judged, ignore_index=True)
    # a significant test states what its seeds detect too, as an inconclusive one does
    significant = (out["verdict"] != claims.INCONCLUSIVE) & out["mde"].notna()
    out.loc[significant, "measured"] = [
        f"{m}; detectable: {d:.3f} {u}"
        for m, d, u in zip(
            out.loc[significant, "measured"],
            out.loc[significant, "mde"],
            out.loc[significant, "unit"],
            strict=True,
        )
    ]
    return order_rows(out, design)


def judge_all_of_rows(
    design: Design, judged: pd.DataFrame, declarations: claims.Declarations | None = None
) -> pd.DataFrame:
    """Each ``all_of`` hypothesis of the design judged from the tests of the hypothesis it
    names (:func:`gni.claims.judge_all_of`, over that hypothesis's declared family), its
    test labelled by its short name (:data:`SHORT`)."""
    rows = []
    for name, h in design.hypotheses.items():
        if "all_of" in h:
            of = judged[judged["claim"] == h["all_of"]]
            row = claims.judge_all_of(name, of, declared_size(design, h["all_of"]), declarations)
            rows.append(row.assign(test=SHORT.get(name, name)))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def test_label(hypothesis: str, place: str) -> str:
    """A test's name in the tables: its hypothesis in a few words (:data:`SHORT`), then
    its regime and dataset."""
    return f"{SHORT.get(hypothesis, hypothesis)}: {place}"


def pending_rows(
    design: Design, rows: pd.DataFrame, declarations: claims.Declarations | None = None
) -> pd.DataFrame:
    """A row for each registered test of a two-arm hypothesis that ``rows`` lacks (its
    regime and dataset not yet confirmed in full): inconclusive, without a p-value, and
    counted in its family's declared size."""
    declarations = declarations or claims.load_declarations()
    have = set() if rows.empty else set(zip(rows["hypothesis"], rows["where"], strict=True))
    out = []
    for name, h in design.hypotheses.items():
        if "treatment" not in h:
            continue
        claim = declarations.claim(name)
        for regime, dataset in design.family(name):
            if (name, where(regime, dataset)) in have:
                continue
            out.append(
                {
                    "claim": name,
                    "test": test_label(name, where(regime, dataset)),
                    "verdict": claims.INCONCLUSIVE,
                    "measured": PENDING,
                    "where": claim.section,
                    "p": None,
                    "p_holm": None,
                    "sign": 0,
                    "family_size": declared_size(design, name),
                    "unit": declarations.measures[claim.measures[0]].unit,
                    "mde": None,
                    "mde_high": None,
                }
            )
    return pd.DataFrame(out, columns=list(claims.ROW_FIELDS))


def order_rows(judged: pd.DataFrame, design: Design) -> pd.DataFrame:
    """The judged tests in the design's order: hypothesis, then regime and dataset."""
    order = {
        (name, test_label(name, where(r, d))): i
        for i, (name, (r, d)) in enumerate(
            (name, rd)
            for name, h in design.hypotheses.items()
            if "treatment" in h
            for rd in design.family(name)
        )
    }
    key = [
        order.get((c, t), len(order)) for c, t in zip(judged["claim"], judged["test"], strict=True)
    ]
    return (
        judged.assign(_order=key)
        .sort_values("_order", kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def declared_size(design: Design, hypothesis: str, measure: str | None = None) -> int:
    """How many tests ``hypothesis``'s family declares on ``measure`` (default: the
    primary): every regime and dataset where both its arms run, and for a measure of the
    test split only the datasets that have one."""
    family = design.family(hypothesis)
    if measure is not None and measure.startswith("test_"):
        family = [(r, d) for r, d in family if DATASETS[d].split_fractions[2] > 0]
    return len(family)


def with_family(rows: pd.DataFrame, design: Design) -> pd.DataFrame:
    """``rows`` with ``p_holm`` and ``family_size`` set within each hypothesis on each
    measure (a secondary measure's family is its hypothesis on that measure), over the
    declared family (:func:`declared_size`)."""
    out = rows.reset_index(drop=True)
    for (name, measure), index in out.groupby(["hypothesis", "measure"], sort=False).groups.items():
        size = declared_size(design, name, measure)
        out.loc[index, "p_holm"] = stats.holm(out.loc[index, "p"].to_numpy(dtype=float), size)
        out.loc[index, "family_size"] = size
    out["family_size"] = out["family_size"].astype(int)
    return out


def effect_label(row: Mapping[str, Any], standing: Mapping[str, tuple[float, float]]) -> str:
    """A figure row's label: the regime and dataset, then the baseline's best validation
    loss against the n-gram yardstick's (``standing``: where -> (baseline, n-gram))."""
    base, ngram = standing.get(row["where"], (math.nan, math.nan))
    if math.isnan(base):
        return row["where"]
    return f"{row['where']} (baseline {base:.2f}, n-gram {ngram:.2f})"


def standing_table(
    runs: pd.DataFrame, ngram: Mapping[tuple[str, str], float], measure: str
) -> pd.DataFrame:
    """Each regime and dataset: every arm's mean ``measure`` over the confirmation seeds
    and the n-gram yardstick's validation loss (``ngram``: (profile, dataset) -> loss),
    with how far the best arm is above it (signed text, 3 decimals)."""
    rows = []
    for (regime, profile, dataset), group in runs.groupby(
        ["regime", "profile", "dataset"], sort=False
    ):
        ok = group[group["status"] == "ok"]
        means = ok.groupby("arm", sort=False)[measure].mean()
        best = float(means.min())
        kn = ngram.get((profile, dataset), math.nan)
        rows.append(
            {
                "regime": regime,
                "dataset": dataset,
                **{a: float(v) for a, v in means.items()},
                "n-gram": kn,
                # as the losses beside it show, to 3 decimals
                "best arm \N{MINUS SIGN} n-gram": f"{best - kn:+.3f}",
            }
        )
    return pd.DataFrame(rows)


def verdict_table(judged: pd.DataFrame, design: Design) -> pd.DataFrame:
    """The page's first table: each hypothesis's tests, their verdict and what they measured."""
    rows = []
    for r in judged.itertuples(index=False):
        rows.append(
            {
                "hypothesis": design.hypotheses[r.claim]["claim"],
                "where": r.test,
                "verdict": r.verdict,
                "measured": r.measured,
            }
        )
    return pd.DataFrame(rows)


def secondary_table(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The secondary measures: the word the verdict rule gives each test (second, so
    that a phone shows it without scrolling), its difference with its CI and its
    Holm-adjusted p within its hypothesis on that measure."""
    out = []
    for r in rows.itertuples(index=False):
        word = claims.verdict_word(float(r.p_holm), int(np.sign(r.difference.mean)), -1, alpha)
        out.append(
            {
                "hypothesis": SHORT.get(r.hypothesis, r.hypothesis),
                "reading": word,
                "measure": MEASURE_NAMES.get(r.measure, r.measure),
                "where": r.where,
                "difference": claims.interval_text(r.difference, "nats/char"),
                "Holm p": stats.p_text(float(r.p_holm)),
            }
        )
    return pd.DataFrame(out)


def compute_minutes(runs: pd.DataFrame) -> float:
    """Minutes of one core that ``runs`` took, as each record measured (``wall_seconds``)."""
    return float(runs.drop_duplicates("run_id")["wall_seconds"].sum() / 60)


def stages_table(stages: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Each frozen regime's second stage: the seed count and the MDE it reaches first (what
    a phone shows before the table scrolls), the seeds, then the pilot's pooled paired SD,
    its upper bound and the family size the seed count allows for."""
    rows = [
        {
            "regime": regime,
            "n": int(s["n_seeds"]),
            "MDE": float(s["mde"]),
            "seeds": f"{s['seeds'][0]}{EN_DASH}{s['seeds'][-1]}",
            "pilot SD": float(s["pilot_paired_sd"]),
            "df": int(s["pilot_df"]),
            "SD, 80% bound": float(s["sd_bound"]),
            "family": int(s["family_size"]),
        }
        for regime, s in stages.items()
    ]
    return pd.DataFrame(rows)


def tuning_band(trials: pd.DataFrame) -> pd.DataFrame:
    """Each study's best value so far against its trial number, as the columns a curve
    panel draws (mean = lo = hi: one study, no band), one panel per regime and dataset."""
    band = trials[["regime", "dataset", "arm", "number", "best_so_far"]].copy()
    band["where"] = [where(r, d) for r, d in zip(band["regime"], band["dataset"], strict=True)]
    band["trial"] = band["number"] + 1
    for column in ("mean", "lo", "hi"):
        band[column] = band["best_so_far"]
    return band


def ngram_losses(runs: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The n-gram yardstick's best validation loss (modified Kneser-Ney, its best order)
    for each (profile, dataset) of ``runs`` whose record exists."""
    from gni.yardstick import best_ngram, load_record

    losses = {}
    for profile, dataset in runs[["profile", "dataset"]].drop_duplicates().itertuples(index=False):
        record = load_record(dataset, profile)
        if record is not None:
            losses[(profile, dataset)] = best_ngram(record, "val")[1]
    return losses


def labelled_effects(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    ngram: Mapping[tuple[str, str], float],
    design: Design,
) -> pd.DataFrame:
    """The primary tests as the effects figure draws them: ``measure`` set to the
    hypothesis (one panel each), ``label`` to the row's place with the baseline's mean
    best validation loss and the n-gram's (:func:`effect_label`), ``family_size`` to the
    hypothesis's family, for the MDE spans."""
    if rows.empty:
        return rows
    ok = runs[(runs["status"] == "ok") & (runs["arm"] == "baseline")]
    standing = {}
    for (regime, profile, dataset), group in ok.groupby(["regime", "profile", "dataset"]):
        standing[where(regime, dataset)] = (
            float(group[design.primary_measure].mean()),
            ngram.get((profile, dataset), math.nan),
        )
    out = with_family(rows, design)
    out["measure"] = out["hypothesis"]
    out["label"] = [effect_label(r, standing) for r in out.to_dict("records")]
    return out


def hypothesis_panels(design: Design, effects: pd.DataFrame) -> list[tuple[str, str]]:
    """(hypothesis, its treatment - reference as a title) for each hypothesis with tests."""
    present = set(effects["measure"])
    return [
        (name, f"{h['treatment']} {MINUS} {h['reference']}")
        for name, h in design.hypotheses.items()
        if name in present
    ]


def choices_view(choices: pd.DataFrame) -> pd.DataFrame:
    """Table 2's columns: where, arm, the trial (1-based) of the choice out of the study's
    ("3/16"), its value, learning rate, range (no exponents) and noise."""
    if choices.empty:
        return choices
    return pd.DataFrame(
        {
            "where": [
                where(r, d) for r, d in zip(choices["regime"], choices["dataset"], strict=True)
            ],
            "arm": choices["arm"],
            "trial": [
                f"{t + 1}/{n}" for t, n in zip(choices["trial"], choices["trials"], strict=True)
            ],
            "best val (nats/char)": choices["value"],
            "learning rate": [f"{x:.3g}" for x in choices["learning_rate"]],
            "range": [
                f"{_no_exponent(lo)}{EN_DASH}{_no_exponent(hi)}" + (" (extended)" if grown else "")
                for lo, hi, grown in zip(
                    choices["lr_low"], choices["lr_high"], choices["extended"], strict=True
                )
            ],
            "noise": choices["noise"],
        }
    )


def page_runs(
    trials: pd.DataFrame,
    design: Design,
    stages: Mapping[str, Mapping[str, Any]],
    store: ResultsStore,
) -> pd.DataFrame:
    """Every recorded run of the page, once: the trials, the pilots and the confirmations."""
    from gni.envelope import pilot_configs

    ids = list(trials["run_id"]) if not trials.empty else []
    for regime in design.regimes:
        if all(
            trials_path(regime, d, a, store.root).is_file() for d, a in _arms_of(design, regime)
        ):
            ids += [c.run_id for c in pilot_configs(design, regime, store.root)]
        if regime in stages:
            ids += [c.run_id for _, c in confirmation_configs(design, regime, stages[regime])]
    ids = [i for i in dict.fromkeys(ids) if store.has(i)]
    return load_runs(ids, store=store) if ids else pd.DataFrame({"run_id": [], "wall_seconds": []})


def _no_exponent(x: float) -> str:
    """A number without an exponent: ``0.0000625``, ``0.008``."""
    return np.format_float_positional(x, trim="-")


def _arms_of(design: Design, regime: str) -> list[tuple[str, str]]:
    return [(d, a) for d, arms in design.regime(regime).datasets.items() for a in arms]
