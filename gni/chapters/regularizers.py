"""Chapter 3, GNI against standard regularizers: its tables, its sentences, its synergy test.

The chapter tunes every arm alike (:mod:`gni.tuning`, :mod:`gni.regularizers`), trains
the chosen configurations on the report seeds and compares each arm, paired by seed,
with the baseline and with the paper's template (:func:`gni.stats.paired_table`). This
module turns those tables into the page's tables and sentences.

Conventions: losses and their differences are in nats per character (arm - reference:
negative favours the arm); ``p_holm`` is Holm-adjusted within the comparison's family,
whose size is ``family_size``; a difference is "lower" or "higher" only where the
verdict rule of :func:`gni.claims.verdict_word` finds it significant at
:data:`gni.stats.ALPHA`, and a null one states its minimum detectable effect at 80% power
at the family's corrected level (:func:`gni.stats.corrected_alpha`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gni import claims, report, stats
from gni.book import glued_values
from gni.regularizers import BASELINE, GNI_ARMS, REGULARIZERS, TEMPLATE, TEMPLATE_GNI, combined
from gni.stats import Estimate
from gni.tuning import Arm, Protocol, Selection

MINUS = "\N{MINUS SIGN}"
MEASURES = {
    "best_val_loss": "best validation loss",
    "final_val_loss": "final validation loss",
    "final_test_loss": "final test loss",
}
SUMMARY = {  # Table 4's columns: each arm's mean over the report seeds
    "best_val_loss": "best val",
    "final_val_loss": "final val",
    "final_test_loss": "final test",
    "best_val_bpc": "best val (bpc)",
    "final_val_bpc": "final val (bpc)",
    "final_test_bpc": "final test (bpc)",
}
PANEL_NAMES = {**MEASURES, "gap": "generalization gap"}  # the forest plots' panels
BEST = "best_val_loss"  # the paper's measure
INTERACTION = "interaction"  # (X + GNI) - X - GNI + baseline
BEYOND = f"{MINUS} the better alone"  # X + GNI - the better of X and GNI alone
SYNERGY_FIGURES = {  # quantity -> (the figure's name, its x label)
    INTERACTION: ("interaction", f"(X + GNI) {MINUS} X {MINUS} GNI + baseline"),
    BEYOND: ("beyond", f"X + GNI {MINUS} the better of X and GNI alone"),
}
NOT_EXECUTED = "no setting (not executed)"
DIRECTIONS = {  # the verdict rule's words for a difference where lower is better
    claims.SUPPORTED: "lower",
    claims.CONTRADICTED: "higher",
    claims.INCONCLUSIVE: "not significant",
}


# --- the protocol and the tuning ---------------------------------------------------------


def protocol_table(arms: Sequence[Arm], protocols: Mapping[str, Protocol]) -> pd.DataFrame:
    """Table 1: per arm, what it tunes, over which values, what it fixes, how many
    configurations it tries and how many tuning runs that makes on each tuned dataset;
    then the combinations with GNI, which tune nothing. Indexed by arm."""
    any_protocol = next(iter(protocols.values()))
    rows = []
    for arm in arms:
        rows.append(
            {
                "arm": arm.name,
                "tunes": arm.strength or "learning rate only",
                "values": ", ".join(f"{v:g}" for v in arm.values) or "none",
                "fixed": ", ".join(f"{k}={v}" for k, v in arm.settings.items()) or "none",
                "configurations": any_protocol.budget(arm),
                **{
                    f"tuning runs, {d}": p.budget(arm) * len(p.tuning_seeds)
                    for d, p in protocols.items()
                },
            }
        )
    combinations = [(TEMPLATE_GNI, TEMPLATE), *((combined(x), x) for x in REGULARIZERS)]
    for name, part in combinations:
        rows.append(
            {
                "arm": name,
                "tunes": "nothing (its parts' choices)",
                "values": "none",
                "fixed": f"{part} + the chosen GNI",
                "configurations": 0,
                **{f"tuning runs, {d}": 0 for d in protocols},
            }
        )
    return pd.DataFrame(rows).set_index("arm")


def chapter2_best(executed: Path) -> str:
    """The setting chapter 2 confirmed best (its glued ``confirmed_best``), or
    :data:`NOT_EXECUTED` when that chapter's executed notebook is not there."""
    if not executed.is_file():
        return NOT_EXECUTED
    return glued_values(executed).get("confirmed_best", NOT_EXECUTED)


def tuning_plan(tuning: Mapping[str, Sequence[int]]) -> str:
    """Each tuned dataset with its seeds: "shakespeare_char with tuning seeds 0, 1"."""
    return "; ".join(
        f"{d} with tuning seed{'s' * (len(s) > 1)} {', '.join(map(str, s))}"
        for d, s in tuning.items()
    )


def transfer_plan(transfers: Mapping[str, str]) -> str:
    """The datasets (keys) that report another's (values) choices, grouped by that one:
    "enwik8 and text8 report the configurations chosen on shakespeare_char"."""
    borrowers: dict[str, list[str]] = {}
    for dataset, source in transfers.items():
        borrowers.setdefault(source, []).append(dataset)
    return (
        "; ".join(
            f"{' and '.join(ds)} report{'s' * (len(ds) == 1)} the configurations chosen on {s}"
            for s, ds in borrowers.items()
        )
        or "no dataset borrows a choice"
    )


def choices_text(dataset: str, transfers: Mapping[str, str]) -> str:
    """Where ``dataset``'s configurations were chosen: on its own seeds or another's."""
    if dataset in transfers:
        return f"with {transfers[dataset]}'s choices"
    return "tuned on its own seeds"


def chosen_table(selections: Mapping[str, Selection]) -> pd.DataFrame:
    """Table 2: each arm's chosen configuration per tuned dataset, its tuning score (the
    mean best validation loss over the tuning seeds, nats/char) and how far behind the
    arm's next-best configuration was ("n/a" for an arm with one configuration)."""
    rows = []
    for dataset, selection in selections.items():
        scores = selection.scores
        for r in scores[scores["chosen"]].itertuples():
            others = scores[(scores["arm"] == r.arm) & ~scores["chosen"]]["mean"]
            rows.append(
                {
                    "tuned on": dataset,
                    "arm": r.arm,
                    "learning rate": f"{r.learning_rate:g}",
                    "strength": "none" if pd.isna(r.value) else f"{r.strength} = {r.value:g}",
                    "tuning score (best val)": f"{r.mean:.4f}",
                    "runner-up margin": f"{others.min() - r.mean:+.4f}" if len(others) else "n/a",
                }
            )
    return pd.DataFrame(rows).set_index(["tuned on", "arm"])


def edge_text(selections: Mapping[str, Selection], learning_rates: Sequence[float]) -> str:
    """How many chosen configurations took the largest and the smallest learning rate
    of the grid ``learning_rates``: a choice at an edge may have a better rate beyond."""
    rates = sorted(learning_rates)
    chosen = [
        lr for s in selections.values() for lr in s.scores.loc[s.scores["chosen"], "learning_rate"]
    ]
    at_top = sum(lr == rates[-1] for lr in chosen)
    at_bottom = sum(lr == rates[0] for lr in chosen)
    return (
        f"of the {len(chosen)} chosen configurations, {at_top} took the largest "
        f"learning rate of the grid, {rates[-1]:g}, and {at_bottom} the smallest, {rates[0]:g}; "
        f"with {len(rates)} rates, {'every' if len(rates) == 2 else 'a'} choice lies at an "
        "edge of the grid, so a better rate may lie beyond it"
    )


def tuning_scores(selections: Mapping[str, Selection]) -> pd.DataFrame:
    """Table 3: every configuration's tuning score (4 decimals), its finished tuning runs
    and whether it was chosen, indexed by (dataset, label)."""
    scores = pd.concat([s.scores.assign(dataset=d) for d, s in selections.items()])
    scores = scores.assign(
        score=scores["mean"].map(lambda v: f"{v:.4f}"),
        chosen=scores["chosen"].map({True: "chosen", False: ""}),
    )
    return scores.set_index(["dataset", "label"])[["score", "runs_ok", "chosen"]]


def gni_choice(gni_of: Mapping[str, str]) -> str:
    """The GNI arm that joins the combinations, per reported dataset (once if the same)."""
    if len(set(gni_of.values())) == 1:
        return f"{next(iter(gni_of.values()))}, on every dataset"
    return "; ".join(f"{d}: {g}" for d, g in gni_of.items())


# --- the report runs ---------------------------------------------------------------------


def with_measures(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the losses in bits per character (``*_bpc``: loss / ln 2) and the
    generalization gap ``gap``: validation - training loss at each run's last evaluation
    in ``curves`` (columns ``run_id``, ``iter``, ``val_loss``, ``train_loss``; nats/char)."""
    runs = runs.copy()
    for name in ("final_val", "final_test", "best_val"):
        runs[f"{name}_bpc"] = runs[f"{name}_loss"] / math.log(2)
    last = curves.sort_values("iter").groupby("run_id").last()
    runs["gap"] = runs["run_id"].map(last["val_loss"] - last["train_loss"])
    return runs


def arm_order(arms: Sequence[Arm], runs: pd.DataFrame) -> list[str]:
    """The page's order of arms: the tuned arms, the template with GNI, then each
    regularizer with GNI; only those that ``runs`` (column ``arm``) holds."""
    order = [a.name for a in arms] + [TEMPLATE_GNI] + [combined(x) for x in REGULARIZERS]
    present = set(runs["arm"])
    return [a for a in order if a in present]


def diverged_text(runs: pd.DataFrame) -> str:
    """The diverged runs, "dropout on enwik8 (seed 3), ...", or "none"."""
    diverged = runs[runs["status"] == "diverged"]
    return (
        ", ".join(f"{r.arm} on {r.dataset} (seed {r.seed})" for r in diverged.itertuples())
        or "none"
    )


def held_out_measures(runs: pd.DataFrame, datasets: Sequence[str]) -> dict[str, str]:
    """Each dataset's held-out measure: the final test loss where its runs have a test
    split, else the final validation loss (shakespeare_char)."""
    out = {}
    for dataset in datasets:
        has_test = runs.loc[runs["dataset"] == dataset, "final_test_loss"].notna().any()
        out[dataset] = "final_test_loss" if has_test else "final_val_loss"
    return out


def results_table(ok: pd.DataFrame, datasets: Sequence[str], order: Sequence[str]) -> pd.DataFrame:
    """Table 4: per (dataset, arm), its seeds and each :data:`SUMMARY` measure's mean
    ± 95% CI half-width over them (3 decimals; "n/a" where no run has the measure)."""
    rows = []
    for dataset in datasets:
        for arm in order:
            group = ok[(ok["dataset"] == dataset) & (ok["arm"] == arm)]
            if group.empty:
                continue
            row = {"dataset": dataset, "arm": arm, "seeds": len(group)}
            for column, name in SUMMARY.items():
                values = group[column].dropna()
                row[name] = stats.mean_ci(values).format(3) if len(values) else "n/a"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "arm"])


def best_arms(ok: pd.DataFrame, datasets: Sequence[str]) -> str:
    """Per dataset, the arm with the lowest mean best validation loss, and that mean."""
    means = ok.groupby(["dataset", "arm"])[BEST].mean()
    return "; ".join(f"{d}: {means[d].idxmin()} ({means[d].min():.3f})" for d in datasets)


def third_evaluation(iters: Sequence[int]) -> int:
    """The step of the third evaluation (the last if fewer): the curves are shown from
    there, after the first drop from a uniform guess that every arm shares."""
    steps = np.sort(pd.unique(np.asarray(iters)))
    return int(steps[min(2, len(steps) - 1)])


# --- the comparisons ---------------------------------------------------------------------


def detectable(e: Estimate, family_size: int) -> float:
    """The minimum detectable effect of ``e``'s paired t-test (80% power) at the
    strictest level of Holm's correction over ``family_size`` comparisons."""
    return stats.minimum_detectable_effect(e, alpha=stats.corrected_alpha(int(family_size)))


def direction(p_holm: float, mean: float) -> str:
    """The verdict of :func:`gni.claims.verdict_word` on a difference that claims lower,
    at :data:`gni.stats.ALPHA`, in words: "lower", "higher" or "not significant"."""
    sign = int(np.sign(mean)) if math.isfinite(mean) else 0
    return DIRECTIONS[claims.verdict_word(p_holm, sign, -1, stats.ALPHA)]


def per_question(effects: pd.DataFrame) -> pd.DataFrame:
    """``effects`` (a paired table) with Holm's correction redone within each (dataset,
    measure): the family is the arms compared on one question; sets ``family_size``."""
    effects = effects.copy()
    for rows in effects.groupby(["dataset", "measure"]).groups.values():
        effects.loc[rows, "p_holm"] = stats.holm(effects.loc[rows, "p"].to_numpy())
        effects.loc[rows, "family_size"] = len(rows)
    effects["family_size"] = effects["family_size"].astype(int)
    return effects


def claim_labels(effects: pd.DataFrame, reference: str) -> list[str]:
    """The words naming each comparison of ``effects`` in the claims audit:
    "GNI (anticorrelated) - tuned baseline, best validation loss, enwik8"."""
    return [
        f"{r.arm} {MINUS} {reference}, {MEASURES[r.measure]}, {r.dataset}"
        for r in effects.itertuples()
    ]


def panels(effects: pd.DataFrame, names: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (measure, title) panels of a forest plot: those of ``names`` (in its order)
    that ``effects`` has."""
    present = set(effects["measure"])
    return [(m, title) for m, title in names.items() if m in present]


def forest_rows(
    effects: pd.DataFrame, dataset: str, order: Sequence[str]
) -> tuple[pd.DataFrame, list[tuple[str, str]], list[str]]:
    """What one dataset's forest plot against the baseline shows: its rows of
    ``effects``, its panels (:data:`PANEL_NAMES`) and its arms in ``order``."""
    rows = effects[effects["dataset"] == dataset]
    present = set(rows["arm"])
    return rows, panels(rows, PANEL_NAMES), [a for a in order if a != BASELINE and a in present]


def _holm_text(p: float) -> str:
    return "n/a" if pd.isna(p) else f"{p:.3f}"


def _detectable_column(effects: pd.DataFrame) -> list[str]:
    return [
        f"{detectable(e, n):.3f}"
        for e, n in zip(effects["difference"], effects["family_size"], strict=True)
    ]


def effect_table(effects: pd.DataFrame, label: str = "arm") -> pd.DataFrame:
    """Tables 5 and 6: one row per (dataset, measure, arm) of a paired table, with the
    difference and its 95% CI, the Holm p, the minimum detectable effect and the seeds."""
    return pd.DataFrame(
        {
            "dataset": effects["dataset"],
            "measure": effects["measure"].map(MEASURES),
            label: effects["arm"],
            "difference [95% CI]": [report.interval(e) for e in effects["difference"]],
            "p (Holm)": [_holm_text(p) for p in effects["p_holm"]],
            "detectable (80%)": _detectable_column(effects),
            "seeds": [e.n for e in effects["difference"]],
        }
    ).set_index(["dataset", "measure", label])


def verdict(row: Any) -> str:
    """A comparison (a row of a paired table, with ``family_size``) in words: its
    direction, its interval in nats per character and its Holm p, and for a null result
    the smallest effect the design would have detected."""
    e = row.difference
    word = direction(row.p_holm, e.mean)
    text = f"{word}, {report.interval(e)} nats/char ({stats.p_clause(row.p_holm, 'Holm p')}"
    if word == DIRECTIONS[claims.INCONCLUSIVE]:
        return f"{text}; detectable: {detectable(e, row.family_size):.3f} nats/char)"
    return f"{text})"


def template_summary(effects: pd.DataFrame, held_out: Mapping[str, str]) -> str:
    """The template with GNI - the template (``effects``, a paired table against the
    template) on each dataset of ``held_out``, in best validation loss and then in its
    held-out measure, each in words (:func:`verdict`)."""
    parts = []
    for dataset, measure_held_out in held_out.items():
        for measure in (BEST, measure_held_out):
            rows = effects[
                (effects["dataset"] == dataset)
                & (effects["arm"] == TEMPLATE_GNI)
                & (effects["measure"] == measure)
            ]
            parts.append(f"{dataset} ({MEASURES[measure]}) {verdict(rows.iloc[0])}")
    return "; ".join(parts)


def detectable_range(effects: pd.DataFrame) -> str:
    """The smallest and largest minimum detectable effect of ``effects``' rows: "0.052 to
    0.704" (nats/char; rows without one are skipped)."""
    mdes = [
        detectable(e, n) for e, n in zip(effects["difference"], effects["family_size"], strict=True)
    ]
    return f"{np.nanmin(mdes):.3f} to {np.nanmax(mdes):.3f}"


def evidence_line(effects: pd.DataFrame, dataset: str, measure: str, arms: Sequence[str]) -> str:
    """The ``arms`` significantly lower, then higher, than the comparison's reference on
    ``measure``, with their intervals; then the others, with the range of their minimum
    detectable effects."""
    rows = effects[
        (effects["dataset"] == dataset)
        & (effects["measure"] == measure)
        & effects["arm"].isin(arms)
    ]
    words = [direction(r.p_holm, r.difference.mean) for r in rows.itertuples()]
    parts = []
    for word in ("lower", "higher"):
        group = [r for r, w in zip(rows.itertuples(), words, strict=True) if w == word]
        if group:
            parts.append(
                f"{word}: " + ", ".join(f"{r.arm} {report.interval(r.difference)}" for r in group)
            )
    null = rows[[w == DIRECTIONS[claims.INCONCLUSIVE] for w in words]]
    if not null.empty:
        parts.append(
            "not significant: "
            + ", ".join(null["arm"])
            + f" (detectable effects {detectable_range(null)})"
        )
    return "; ".join(parts) or "no comparison"


def significant(
    effects: pd.DataFrame, measure: str, arms: Sequence[str], word: str = "lower"
) -> list[tuple[str, str]]:
    """The (dataset, arm) pairs of ``arms`` whose difference on ``measure`` is
    significantly ``word`` ("lower" or "higher"; :func:`direction`)."""
    rows = effects[(effects["measure"] == measure) & effects["arm"].isin(arms)]
    return [
        (r.dataset, r.arm)
        for r in rows.itertuples()
        if direction(r.p_holm, r.difference.mean) == word
    ]


def _listing(pairs: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{arm} on {dataset}" for dataset, arm in pairs)


def _in_brackets(pairs: Sequence[tuple[str, str]]) -> str:
    return f" ({_listing(pairs)})" if pairs else ""


def answer_text(
    versus_baseline: pd.DataFrame,
    versus_template: pd.DataFrame,
    judged_gni: pd.DataFrame,
    n_report_seeds: int,
) -> str:
    """The chapter's "In short": how many comparisons with the tuned baseline lower the
    best validation loss after Holm (the regularizers and template, then the GNI arms),
    what adding GNI to the template does, how many of the GNI claim's tests
    (``judged_gni``, :func:`gni.claims.judge`) are supported on any measure, and the
    range of the minimum detectable effects in best validation loss."""
    others = [*REGULARIZERS, TEMPLATE]
    regular_wins = significant(versus_baseline, BEST, others)
    gni_wins = significant(versus_baseline, BEST, GNI_ARMS)
    gni_losses = significant(versus_baseline, BEST, GNI_ARMS, "higher")
    best = versus_baseline[versus_baseline["measure"] == BEST]
    n_others, n_gni = best["arm"].isin(others).sum(), best["arm"].isin(GNI_ARMS).sum()
    helps = [d for d, _ in significant(versus_template, BEST, [TEMPLATE_GNI])]
    hurts = [d for d, _ in significant(versus_template, BEST, [TEMPLATE_GNI], "higher")]
    gains = judged_gni[judged_gni["verdict"] == claims.SUPPORTED]["test"].tolist()
    return (
        "With every arm tuned alike on shakespeare_char (enwik8 and text8 reuse its "
        f"choices) and {n_report_seeds} report seeds, {len(regular_wins)} of {n_others} "
        "comparisons of dropout, weight decay, label smoothing or the paper's template with "
        f"the tuned baseline{_in_brackets(regular_wins)}, and {len(gni_wins)} of {n_gni} of a "
        f"GNI arm{_in_brackets(gni_wins)}, lower the best validation loss after Holm's "
        f"correction{'; ' + _listing(gni_losses) + ' raises it' if gni_losses else ''}; "
        "adding GNI to the paper's template lowers it on "
        + (", ".join(helps) or "no dataset")
        + (" and raises it on " + ", ".join(hurts) if hurts else "")
        + ". On any measure, best or final, a GNI arm is significantly better than the "
        f"tuned baseline in {len(gains)} of {len(judged_gni)} tests"
        + (f" ({'; '.join(gains)})" if gains else "")
        + f". In best validation loss, differences smaller than {detectable_range(best)} "
        "nats per character (the minimum detectable effects) could be missed; the held-out "
        "losses are in this chapter's last section."
    )


# --- the generalization gap --------------------------------------------------------------


def gap_table(gap_effects: pd.DataFrame) -> pd.DataFrame:
    """Table 7: per (dataset, arm), the baseline's and the arm's gap (mean ± CI
    half-width), their paired difference with its CI and the Holm p."""
    rows = [
        {
            "dataset": r.dataset,
            "arm": r.arm,
            "baseline's gap": r.baseline.format(3),
            "arm's gap": r.treatment.format(3),
            "difference [95% CI]": report.interval(r.difference),
            "p (Holm)": _holm_text(r.p_holm),
        }
        for r in gap_effects.itertuples()
    ]
    return pd.DataFrame(rows).set_index(["dataset", "arm"])


def baseline_gap(ok: pd.DataFrame, datasets: Sequence[str]) -> str:
    """The baseline's mean gap on each dataset: "shakespeare_char 0.70; enwik8 1.64"."""
    gap = ok[ok["arm"] == BASELINE].groupby("dataset")["gap"].mean()
    return "; ".join(f"{d} {gap[d]:.2f}" for d in datasets)


def narrowest_gap(gap_effects: pd.DataFrame) -> str:
    """Per dataset, the arm whose gap is narrowest against the baseline's (the lowest
    mean difference), with its interval."""
    means = gap_effects.assign(mean=[e.mean for e in gap_effects["difference"]])
    parts = []
    for dataset, group in means.groupby("dataset", sort=False):
        first = group.sort_values("mean").iloc[0]
        parts.append(f"{dataset}: {first['arm']} ({report.interval(first['difference'])})")
    return "; ".join(parts)


# --- does GNI add to a regularizer? ------------------------------------------------------


def synergy_effects(
    ok: pd.DataFrame, datasets: Sequence[str], gni_of: Mapping[str, str]
) -> pd.DataFrame:
    """For each regularizer X on ``datasets`` and each measure, paired by seed over the
    seeds that have all four runs (X + GNI, X, GNI = ``gni_of[dataset]``, baseline):

    - :data:`INTERACTION`: (X + GNI) - X - GNI + baseline (negative: together they do
      more than their two effects added);
    - :data:`BEYOND`: X + GNI - the better of X and GNI alone (the lower mean).

    One row per (dataset, measure, arm = X, quantity), with ``better alone``,
    ``difference`` (an Estimate), ``p``, and ``p_holm`` and ``family_size`` over all rows.
    """
    rows = []
    for dataset in datasets:
        gni = gni_of[dataset]
        runs = ok[ok["dataset"] == dataset]
        for measure in MEASURES:
            if runs[measure].isna().all():
                continue
            wide = runs.pivot(index="seed", columns="arm", values=measure)
            for x in REGULARIZERS:
                both = combined(x)
                if not {both, x, gni, BASELINE} <= set(wide.columns):
                    continue
                w = wide[[both, x, gni, BASELINE]].dropna()
                better = x if w[x].mean() <= w[gni].mean() else gni
                compared = {
                    INTERACTION: stats.paired_comparison(w[x] + w[gni], w[both] + w[BASELINE]),
                    BEYOND: stats.paired_comparison(w[better], w[both]),
                }
                for quantity, c in compared.items():
                    rows.append(
                        {
                            "dataset": dataset,
                            "measure": measure,
                            "arm": x,
                            "quantity": quantity,
                            "better alone": better,
                            "difference": c.difference,
                            "p": c.p_value,
                        }
                    )
    columns = ["dataset", "measure", "arm", "quantity", "better alone", "difference", "p"]
    synergy = pd.DataFrame(rows, columns=columns)
    synergy["p_holm"] = stats.holm(synergy["p"].to_numpy(dtype=float))
    synergy["family_size"] = len(synergy)
    return synergy


def synergy_table(synergy: pd.DataFrame) -> pd.DataFrame:
    """Table 8: :func:`synergy_effects` with the difference's CI, the Holm p and the
    minimum detectable effect, indexed by (dataset, measure, X, quantity)."""
    return pd.DataFrame(
        {
            "dataset": synergy["dataset"],
            "measure": synergy["measure"].map(MEASURES),
            "X": synergy["arm"],
            "quantity": synergy["quantity"],
            "better alone": synergy["better alone"],
            "difference [95% CI]": [report.interval(e) for e in synergy["difference"]],
            "p (Holm)": [_holm_text(p) for p in synergy["p_holm"]],
            "detectable (80%)": _detectable_column(synergy),
        }
    ).set_index(["dataset", "measure", "X", "quantity"])


def synergy_summary(synergy: pd.DataFrame, quantity: str) -> str:
    """One ``quantity`` of :func:`synergy_effects` in best validation loss, per
    regularizer, in words (:func:`verdict`): "dropout + GNI not significant, ..." for
    :data:`BEYOND`, "dropout not significant, ..." for :data:`INTERACTION`."""
    rows = synergy[(synergy["quantity"] == quantity) & (synergy["measure"] == BEST)]
    suffix = " + GNI" if quantity == BEYOND else ""
    return "; ".join(f"{r.arm}{suffix} {verdict(r)}" for r in rows.itertuples())
