"""Chapter 2, "Does any noise help?", whether the findings hold: the screen's best
settings and the lowered-learning-rate control confirmed on fresh seeds, with the
verdicts of the claims they judge and the chapter's answer; the confirmed best setting
on other datasets (enwik8, text8); and the convergence speed of the picked settings.

One module of three (see :mod:`gni.chapters.schedules`), named for its first section:
the other two explore (the noise's schedule in :mod:`gni.chapters.schedules`, the
optimizer in :mod:`gni.chapters.schedules_optimizers`) and pick from the settings they
ran; this one tests the picks on runs they were not picked from.

Runs, arms, differences and units are :mod:`gni.chapters.schedules`'s: one row per run
with its ``arm`` (:data:`~gni.chapters.schedules.BASELINE` without noise); losses in
nats per character; a difference is arm minus baseline over the seed pairs, negative
when it favours the arm; a noise scale ``sigma`` is a standard deviation per entry of
the gradient. The shared names and helpers are imported from there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from gni import plots, report, stats
from gni.chapters.schedules import (
    BASELINE,
    LOWERED,
    MEASURES,
    MINUS,
    difference,
    effect_rows,
    lowest,
    quoted,
    with_means,
)
from gni.claims import largest_detectable
from gni.stats import Estimate

TRANSFER_MEASURES = {**MEASURES, "final_test_loss": "final test loss"}  # enwik8, text8
# the run fields that make a noise setting; two arms with the same are the same setting
NOISE_KEYS = ("noise_schedule", "noise_args", "noise_scale", "noise_kind", "noise_placement")


# ---------------------------------------------------------------- confirmation


def candidates(
    screen: pd.DataFrame, others: Sequence[pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every noise setting run under AdamW so far, each once (by :data:`NOISE_KEYS`,
    under the label it first had) with its runs, one per seed; and the same with the
    screen's baseline runs: the pool the confirmation picks from."""
    found = pd.concat([screen, *others], ignore_index=True)
    found = found[(found["optimizer"] == "adamw") & (found["noise_schedule"] != "none")].copy()
    keys = list(NOISE_KEYS)
    first_label = found.drop_duplicates(keys).set_index(keys)["arm"]
    found["arm"] = [first_label[tuple(r)] for r in found[keys].itertuples(index=False)]
    found = found.drop_duplicates(["arm", "seed"])
    pool = pd.concat([screen[screen["arm"] == BASELINE], found], ignore_index=True)
    return pool, found


def picks(pool_effects: pd.DataFrame, n_picks: int) -> list[str]:
    """The ``n_picks`` settings with the lowest mean difference in final validation loss,
    and the lowest in best validation loss if it is not among them."""
    final = with_means(pool_effects[pool_effects["measure"] == "final_val_loss"])
    chosen = list(final.nsmallest(n_picks, "mean")["arm"])
    best = lowest(pool_effects, "best_val_loss")["arm"]
    return chosen if best in chosen else [*chosen, best]


def variant(found: pd.DataFrame, label: str) -> dict[str, Any]:
    """The grid variant (a dict of run settings) of setting ``label`` of
    :func:`candidates`: its noise, as its first run had it."""
    r = found[found["arm"] == label].iloc[0]
    return {
        "label": label,
        "noise_schedule": r.noise_schedule,
        "noise_args": json.loads(r.noise_args),
        "noise_scale": r.noise_scale,
        "noise_kind": r.noise_kind,
        "noise_placement": r.noise_placement,
    }


def confirm_spec(
    base: dict[str, Any],
    variants: Sequence[dict[str, Any]],
    control: dict[str, Any],
    seeds: Sequence[int],
) -> dict[str, Any]:
    """The confirmation's grid: the baseline, the picked ``variants`` and the ``control``
    on the fresh ``seeds``, with the screen's ``base``."""
    return {
        "base": base,
        "axes": {"noise": [{"label": BASELINE}, *variants, control]},
        "seeds": list(seeds),
    }


def difference_band(curves: pd.DataFrame) -> pd.DataFrame:
    """Per arm and evaluation, the mean paired difference in validation loss from the
    baseline over the seeds, with its 95% CI (pointwise)."""
    differences = stats.paired_differences(curves, "val_loss", between="arm", baseline=BASELINE)
    return stats.curve_band(differences, "difference", by=["arm"])


def difference_figure(band: pd.DataFrame, order: Sequence[str]) -> plots.ResponsiveFigure:
    """:func:`difference_band` over training, one panel per arm in ``order``."""
    return plots.responsive(
        plots.difference_panels,
        band,
        f"validation loss: arm {MINUS} baseline",
        col="arm",
        col_order=list(order),
    )


def verdict_text(e: Estimate, p_holm: float, family_size: int) -> str:
    """A comparison's verdict for prose: better or worse than the baseline when its Holm
    p is below the level; otherwise not significant, with what its interval at the
    family's corrected level rules out (nats per character)."""
    clause = stats.p_clause(p_holm, "Holm p")
    if p_holm < stats.ALPHA:
        better = "better" if e.mean < 0 else "worse"
        return f"{better} than the baseline, {report.interval(e)} nats per character, {clause}"
    wide = stats.corrected_interval(e, family_size)
    return (
        f"not significant ({report.interval(e)}, {clause}); the interval at the corrected "
        f"level, {report.interval(wide)}, rules out a gain larger than "
        f"{max(0.0, -wide.lo):.3f} and a loss larger than {max(0.0, wide.hi):.3f} nats "
        "per character"
    )


def verdict_table(
    effects: pd.DataFrame, pool_effects: pd.DataFrame, lowered_effects: pd.DataFrame
) -> pd.DataFrame:
    """Per (measure, setting) of the confirmation (``effects``, with ``p_holm`` and
    ``family_size`` of its families): the difference on the screening seeds (from the
    pool's comparisons, or the control's), on the fresh seeds, the Holm p and the
    verdict (:func:`verdict_text`)."""
    control = lowered_effects[lowered_effects["arm"] == LOWERED]
    screened = pd.concat([pool_effects, control]).set_index(["measure", "arm"])["difference"]
    rows = [
        {
            "setting": r.arm,
            "measure": MEASURES[r.measure],
            "screening seeds": report.interval(screened[(r.measure, r.arm)]),
            "fresh seeds": report.interval(r.difference),
            "p (Holm)": f"{r.p_holm:.3f}",
            "verdict": verdict_text(r.difference, r.p_holm, r.family_size),
        }
        for r in effects.itertuples()
    ]
    return pd.DataFrame(rows).set_index(["measure", "setting"])


def verdict_list(verdicts: pd.DataFrame) -> str:
    """:func:`verdict_table`'s verdicts as one sentence: ``setting (measure): verdict; ...``."""
    return "; ".join(
        f"{label} ({measure}): {v}" for (measure, label), v in verdicts["verdict"].items()
    )


def significant(effects: pd.DataFrame) -> int:
    """How many comparisons have a Holm-adjusted p below the level."""
    return int((effects["p_holm"] < stats.ALPHA).sum())


def confirm_counts(effects: pd.DataFrame) -> str:
    """How many comparisons of the picked settings and of the control are significant."""
    noise = effects[effects["arm"] != LOWERED]
    control = effects[effects["arm"] == LOWERED]
    return (
        f"{significant(noise)} of the {len(noise)} comparisons of a picked setting and "
        f"{significant(control)} of the {len(control)} of the lowered-learning-rate control "
        "are significant after Holm"
    )


def peak(band: pd.DataFrame, arm: str) -> tuple[str, int]:
    """Where ``arm`` trails the baseline most over training (:func:`difference_band`):
    the mean difference with its 95% CI, and the step."""
    top = band[band["arm"] == arm].sort_values("mean").iloc[-1]
    e = Estimate(top["mean"], top["lo"], top["hi"], int(top["n"]))
    return report.interval(e), int(top["iter"])


def ending(effects: pd.DataFrame, arm: str) -> str:
    """Whether ``arm`` ends detectably lower than the baseline in final validation loss
    (Holm p below the level and a negative difference), with the numbers."""
    end = effects[(effects["arm"] == arm) & (effects["measure"] == "final_val_loss")].iloc[0]
    numbers = f"{report.interval(end['difference'])}, {stats.p_clause(end['p_holm'], 'Holm p')}"
    if end["p_holm"] < stats.ALPHA and end["difference"].mean < 0:
        return f"ends lower on the final validation loss ({numbers})"
    return f"does not end detectably lower ({numbers})"


def gains(effects: pd.DataFrame, measure: str) -> list[str]:
    """The picked settings that beat the baseline on ``measure`` after Holm."""
    rows = effects[
        (effects["arm"] != LOWERED)
        & (effects["measure"] == measure)
        & (effects["p_holm"] < stats.ALPHA)
    ]
    return [r.arm for r in rows.itertuples() if r.difference.mean < 0]


def listing(labels: Sequence[str]) -> tuple[str, str]:
    """Setting labels (which hold commas themselves) as a quoted list, and the verb's
    ending: ('“a” and “b”', '')."""
    names = [quoted(a) for a in labels]
    return report.and_list(names), "s" if len(labels) == 1 else ""


def answer(effects: pd.DataFrame, vs_lowered: pd.DataFrame) -> str:
    """The chapter's answer in one sentence: which picked settings lower the best and the
    final validation loss on the fresh seeds (``effects``, Holm-corrected), and whether
    they lower the final one by more than the control does (``vs_lowered``: each picked
    setting minus the control)."""
    best_gains, final_gains = gains(effects, "best_val_loss"), gains(effects, "final_val_loss")
    if best_gains:
        names, s = listing(best_gains)
        text = f"{names} lower{s} the best validation loss on the fresh seeds"
    else:
        text = (
            "no picked setting lowers the best validation loss (the paper's measure) on the "
            "fresh seeds"
        )
    if final_gains:
        final = vs_lowered[vs_lowered["measure"] == "final_val_loss"]
        beaten = set(final.loc[final["p_holm"] < stats.ALPHA, "arm"])
        beyond = [a for a in final_gains if a in beaten and difference(vs_lowered, a).mean < 0]
        names, s = listing(final_gains)
        text += f"; {names} lower{s} the final validation loss of the overfitting run, " + (
            "by more than the lowered learning rate does"
            if beyond
            else "but not detectably more than a lowered learning rate does"
        )
    else:
        text += "; none lowers the final validation loss either"
    return text[0].upper() + text[1:] + "."


def confirm_facts(
    effects: pd.DataFrame,
    judged: pd.DataFrame,
    band: pd.DataFrame,
    best: str,
    vs_lowered: pd.DataFrame,
) -> dict[str, Any]:
    """The confirmation in numbers and sentences, for prose: where ``best`` trails the
    baseline most (``peak_diff``, ``peak_step``), the significant comparisons, how
    ``best`` ends, the largest 95% half-width (``confirm_mde``) and the largest effect
    the claim's tests (``judged``) could miss (``confirm_mde80``), each picked setting
    minus the control (``confirm_vs_lowered``) and the chapter's :func:`answer`."""
    peak_diff, peak_step = peak(band, best)
    return {
        "peak_diff": peak_diff,
        "peak_step": peak_step,
        "n_confirm_significant": significant(effects),
        "confirm_counts": confirm_counts(effects),
        "confirmed_end": ending(effects, best),
        "n_confirm_rows": len(effects),
        "confirm_mde": f"{max(e.half_width for e in effects['difference']):.3f}",
        "confirm_mde80": largest_detectable(judged),
        "confirm_vs_lowered": "; ".join(
            f"{r.arm} ({MEASURES[r.measure]}) {report.interval(r.difference)}"
            for r in vs_lowered.itertuples()
        ),
        "answer": answer(effects, vs_lowered),
    }


# ---------------------------------------------------------------- other datasets, speed


def transfer_spec(
    screen_grid: dict[str, Any],
    best: dict[str, Any],
    control: dict[str, Any],
    datasets: Sequence[str],
    seeds: Sequence[int],
) -> dict[str, Any]:
    """The baseline, the ``best`` setting and the ``control`` on each of ``datasets``,
    with the screen's profile (each dataset its own settings of it), on ``seeds``."""
    return {
        "base": {"profile": screen_grid["base"]["profile"]},
        "axes": {"noise": [{"label": BASELINE}, best, control], "dataset": list(datasets)},
        "seeds": list(seeds),
    }


def transfer_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`effect_rows` of the datasets' comparisons, with the dataset first."""
    rows = effect_rows(effects, measures=TRANSFER_MEASURES).reset_index()
    rows.insert(0, "dataset", effects["dataset"].to_numpy())
    return rows.set_index(["dataset", "measure", "setting"])


def per_dataset(effects: pd.DataFrame, arm: str) -> str:
    """``arm``'s difference in final validation loss on each dataset:
    ``enwik8 -0.006 [-0.102, +0.090]; text8 ...``."""
    return "; ".join(
        f"{dataset} {report.interval(difference(group, arm))}"
        for dataset, group in effects.groupby("dataset", sort=False)
    )


def lowered_helps(effects: pd.DataFrame) -> str:
    """What the control says of the baseline: the datasets where the lowered learning rate
    alone lowers the final validation loss significantly (Holm), in a clause."""
    final = effects[(effects["arm"] == LOWERED) & (effects["measure"] == "final_val_loss")]
    helped = [
        r.dataset for r in final.itertuples() if r.p_holm < stats.ALPHA and r.difference.mean < 0
    ]
    if not helped:
        return "a lower learning rate alone helps on neither significantly"
    return (
        f"that a lower learning rate alone helps on {' and '.join(helped)} (Holm p < "
        f"{stats.ALPHA:g}) says that the untuned baseline overfits "
        f"{'it' if len(helped) == 1 else 'them'} at the profile's rate"
    )


def transfer_facts(effects: pd.DataFrame, best: str) -> dict[str, str]:
    """The datasets' comparisons (Holm-corrected), for prose: ``best`` - baseline in final
    validation loss with its Holm p, the control - baseline, and :func:`lowered_helps`."""
    parts = []
    for dataset, group in effects.groupby("dataset", sort=False):
        row = group[(group["arm"] == best) & (group["measure"] == "final_val_loss")].iloc[0]
        clause = stats.p_clause(row["p_holm"], "Holm p")
        parts.append(f"{dataset} {report.interval(row['difference'])} ({clause})")
    return {
        "transfer_summary": "; ".join(parts),
        "transfer_lowered": per_dataset(effects, LOWERED),
        "transfer_lowered_helps": lowered_helps(effects),
    }


def speed_rows(
    reach: pd.DataFrame, races: pd.DataFrame, judged: pd.DataFrame, picked: Sequence[str]
) -> pd.DataFrame:
    """Per arm, which run of each seed pair reaches the baseline's near-best level first
    (``races``, :func:`gni.stats.race_table`), the seeds whose run never did, the mean
    steps of those that did (``reach``, :func:`gni.stats.time_to_near_best`) and the sign
    test's Holm p (``judged``: the claims audit of the ``picked`` arms' races, in order)."""
    tested = races.loc[races["arm"].isin(picked), "arm"]
    p_holm = races["arm"].map(dict(zip(tested, judged["p_holm"], strict=True)))
    reached = reach[reach["reached"]].groupby("arm")["steps"].mean()
    never = reach[~reach["reached"]].groupby("arm")["seed"].apply(list)
    return pd.DataFrame(
        {
            "setting": races["arm"],
            "pairs": [r.pairs for r in races["race"]],
            "setting first": [r.treatment_first for r in races["race"]],
            "baseline first": [r.baseline_first for r in races["race"]],
            "never reached (seeds)": [
                ", ".join(map(str, never.get(a, []))) or "none" for a in races["arm"]
            ],
            "mean steps of those that reached": [
                f"{reached.get(a, float('nan')):.0f}" for a in races["arm"]
            ],
            "p (Holm)": ["n/a (a control)" if pd.isna(p) else stats.p_text(p) for p in p_holm],
        }
    ).set_index("setting")


def speed_facts(reach: pd.DataFrame, races: pd.DataFrame, judged: pd.DataFrame) -> dict[str, str]:
    """The race, for prose: the baseline's mean steps to its near-best level, which run
    of each pair got there first, and the sign tests' verdicts."""
    first = "; ".join(
        f"{quoted(r.arm)} first in {r.race.treatment_first} of {r.race.pairs} seed pairs"
        for r in races.itertuples()
    )
    return {
        "baseline_steps": f"{reach[reach['arm'] == BASELINE]['steps'].mean():.0f}",
        "speed_summary": first,
        "speed_verdict": "; ".join(judged["verdict"] + " for " + judged["test"]),
    }
