"""Chapter 2, "Does any noise help?": the runs and their tables, the paired comparisons
every section makes, the screen of exponential noise over its scale and decay (with its
dose-response), and the schedule families at matched total noise (with the test of the
claim that exponential decay is best); anticorrelated noise needs only the comparisons.

The chapter's analysis is three modules, one per question the chapter asks of the noise.
This one asks what the noise does as a schedule (its scale, decay and shape), and holds
the names the three share: the arms' labels, the measures, the run tables and the paired
comparisons, which the other two import from here. :mod:`gni.chapters.schedules_optimizers`
asks what the optimizer does with the noise: before or after clipping, under SGD, how
Adam absorbs it, and the lowered-learning-rate control that mechanism suggests.
:mod:`gni.chapters.schedules_confirmation` asks whether the screen's best settings hold:
on fresh seeds (the claims it judges), on other datasets and in convergence speed.

Runs are rows of a table such as :func:`sweep_table` returns: one per run, with ``arm``
the label of its grid's first axis (:data:`BASELINE` for the run without noise), its
``seed`` and ``dataset``, its config and its summary; ``noise_args`` holds the noise's
arguments as JSON text. Losses are in nats per character. A difference is always arm
minus baseline over the seed pairs (:func:`gni.stats.paired_table`), so a negative one
favours the arm; a noise scale ``sigma`` is a standard deviation per entry of the
gradient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gni import paths, plots, report, stats
from gni.clustered import Slope, dose_response
from gni.grids import load_grid
from gni.results import load_curves
from gni.schedules import make_schedule, total_variance
from gni.stats import Estimate
from gni.sweep import run

BASELINE = "baseline"  # the arm without noise in every grid of the chapter
LOWERED = "lowered learning rate"  # the control: the baseline with a smaller step, no noise
LEVELS = ("low", "mid")  # the two levels of total noise of the families grid
MINUS = "\N{MINUS SIGN}"
# the measures compared: the column of the run summaries -> its name in prose
MEASURES = {"best_val_loss": "best validation loss", "final_val_loss": "final validation loss"}
PANELS = list(MEASURES.items())  # a forest plot's panels: (measure, title)


# ---------------------------------------------------------------- runs and their tables


def grid_spec(name: str) -> dict[str, Any]:
    """The grid file ``grids/<name>.yaml`` of the project, as a dict."""
    return load_grid(paths.home() / "grids" / f"{name}.yaml")


def sweep_table(
    grid: str | dict[str, Any],
    profile: str,
    executor: str = "local",
    workers: int = 1,
    runs: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Train what the store lacks of ``grid`` (a grid file's name or a grid) with the
    ``profile``, on ``workers`` of the ``executor``; one row per run, with ``arm`` the
    label of the grid's first axis. A failed run raises. The table (before the rename)
    is appended to ``runs``, the page's list of every run it shows, when given."""
    spec = grid_spec(grid) if isinstance(grid, str) else grid
    table = run(
        spec,
        profile=profile,
        executor=executor,
        workers=workers,
        progress=False,
        raise_on_failure=True,
    )
    if runs is not None:
        runs.append(table)
    return table.rename(columns={next(iter(spec["axes"])): "arm"})


def run_time(runs: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """The page's runs (each once, by ``run_id``) and their run time: ``n_runs``, and
    the sum of ``wall_seconds`` in minutes on one worker and on two."""
    every = pd.concat(runs, ignore_index=True).drop_duplicates("run_id")
    minutes = every["wall_seconds"].sum() / 60
    return {
        "n_runs": len(every),
        "run_minutes": f"{minutes:.0f}",
        "run_minutes_two": f"{minutes / 2:.0f}",
    }


def quoted(label: str) -> str:
    """A setting's label in curly double quotes, as prose names it (labels hold commas)."""
    return f"\N{LEFT DOUBLE QUOTATION MARK}{label}\N{RIGHT DOUBLE QUOTATION MARK}"


def seeds_of(table: pd.DataFrame) -> str:
    """The seeds of a table's runs, as the captions name them: ``0, 1``."""
    return ", ".join(map(str, sorted(table["seed"].unique())))


def values_text(values: pd.Series) -> str:
    """The distinct values, sorted, in their shortest form: ``0.9, 1``."""
    return ", ".join(f"{v:g}" for v in sorted(values.unique()))


def noise_value(table: pd.DataFrame, arm: str, key: str) -> str:
    """Noise argument ``key`` of arm ``arm``'s runs in ``table``, as text (``n/a`` when
    the grid has no such arm or argument: a grid of your own)."""
    args = [json.loads(a) for a in table.loc[table["arm"] == arm, "noise_args"]]
    return f"{args[0][key]:g}" if args and key in args[0] else "n/a"


def arms(table: pd.DataFrame) -> list[str]:
    """The arms other than the baseline, in the order of the table."""
    return list(dict.fromkeys(table.loc[table["arm"] != BASELINE, "arm"]))


def baseline_text(table: pd.DataFrame, measure: str = "best_val_loss") -> str:
    """The baseline's mean ``measure`` over its runs: ``2.585 ± 0.078`` (95% CI)."""
    return stats.mean_ci(table.loc[table["arm"] == BASELINE, measure]).format(3)


def curves_of(table: pd.DataFrame, columns: Sequence[str] = ("arm",)) -> pd.DataFrame:
    """The recorded curves of the table's runs (one row per run and evaluation), with
    the table's ``columns`` beside them."""
    return load_curves(table["run_id"]).merge(table[["run_id", *columns]], on="run_id")


def first_interval(curves: pd.DataFrame) -> pd.DataFrame:
    """The curves' rows of the first evaluation after step 0: the means over the first
    evaluation interval."""
    return curves[curves["iter"] == curves["iter"][curves["iter"] > 0].min()]


# ---------------------------------------------------------------- paired comparisons


def effects_of(
    table: pd.DataFrame, baseline: str = BASELINE, measures: Mapping[str, str] = MEASURES
) -> pd.DataFrame:
    """Each arm minus ``baseline`` on each of the ``measures``, paired by seed within
    each dataset, Holm over the table's rows (:func:`gni.stats.paired_table`)."""
    return stats.paired_table(
        table, list(measures), between="arm", baseline=baseline, pair_by="seed", by=["dataset"]
    )


def difference(effects: pd.DataFrame, arm: str, measure: str = "final_val_loss") -> Estimate:
    """The Estimate of ``arm`` - baseline on ``measure`` in a paired table."""
    rows = effects[(effects["arm"] == arm) & (effects["measure"] == measure)]
    return rows["difference"].iloc[0]


def versus(
    table: pd.DataFrame, reference: str, arm: str, measure: str = "final_val_loss"
) -> Estimate:
    """``arm`` - ``reference`` on ``measure``, paired by seed: two arms of one table."""
    pair = table[table["arm"].isin([reference, arm])]
    return difference(effects_of(pair, reference, {measure: measure}), arm, measure)


def with_means(effects: pd.DataFrame) -> pd.DataFrame:
    """A paired table with the mean difference of each row in a column ``mean``."""
    return effects.assign(mean=[e.mean for e in effects["difference"]])


def lowest(effects: pd.DataFrame, measure: str = "final_val_loss") -> pd.Series:
    """The row of a paired table with the lowest mean difference on ``measure`` (the
    first such row on a tie)."""
    return with_means(effects[effects["measure"] == measure]).nsmallest(1, "mean").iloc[0]


def effect_rows(
    effects: pd.DataFrame, label: str = "setting", measures: Mapping[str, str] = MEASURES
) -> pd.DataFrame:
    """A paired table as the page's table: one row per (measure, arm), the difference
    with its 95% CI, the Holm-adjusted p-value and the pairs."""
    return pd.DataFrame(
        {
            "measure": effects["measure"].map(measures),
            label: effects["arm"],
            "difference [95% CI]": [report.interval(e) for e in effects["difference"]],
            "p (Holm)": ["n/a" if pd.isna(p) else f"{p:.3f}" for p in effects["p_holm"]],
            "seeds": [e.n for e in effects["difference"]],
        }
    ).set_index(["measure", label])


def forest_figure(
    effects: pd.DataFrame, order: Sequence[str] | None = None
) -> plots.ResponsiveFigure:
    """The forest plot of a paired table, one panel per measure; arms in ``order``."""
    return plots.responsive(plots.forest_panels, effects, "arm", PANELS, order=order)


def claim_labels(
    comparisons: pd.DataFrame,
    measures: Mapping[str, str] | None = MEASURES,
    where: str | None = "fresh seeds",
) -> list[str]:
    """The comparisons' names for the claims audit: ``“arm” - baseline, best validation
    loss, fresh seeds`` (with a minus sign); without ``measures`` no measure, without
    ``where`` the row's dataset."""
    labels = []
    for r in comparisons.itertuples():
        parts = [f"{quoted(r.arm)} {MINUS} baseline"]
        if measures is not None:
            parts.append(measures[r.measure])
        parts.append(r.dataset if where is None else where)
        labels.append(", ".join(parts))
    return labels


# ---------------------------------------------------------------- the screen


def with_settings(screen: pd.DataFrame) -> pd.DataFrame:
    """The screen's runs with their noise's ``sigma0`` (0 without noise) and ``gamma``
    (NaN without noise) in columns of their own."""
    args = screen["noise_args"].map(json.loads)
    return screen.assign(
        sigma0=args.map(lambda a: a.get("sigma0", 0.0)),
        gamma=args.map(lambda a: a.get("gamma", np.nan)),
    )


def screen_facts(screen: pd.DataFrame, curves: pd.DataFrame) -> dict[str, Any]:
    """The screen's scale, for prose: the baseline's per-entry gradient RMS over the first
    evaluation interval before clipping (``grad_rms``), the most clipping leaves,
    1/sqrt(n) (``rms_cap``), the screened sigma0 over that RMS (``sigma_low``,
    ``sigma_high``), the settings, the seeds and the diverged runs."""
    first = first_interval(curves)
    base = first[first["arm"] == BASELINE]
    n_params = int(screen["n_params"].iloc[0])
    grad_rms = float((base["grad_norm"] / np.sqrt(n_params)).mean())
    noisy = screen[screen["arm"] != BASELINE]
    diverged = screen[screen["status"] == "diverged"]
    return {
        "grad_rms": f"{grad_rms:.2g}",
        "screen_seed_list": seeds_of(screen),
        "rms_cap": f"{1 / np.sqrt(n_params):.2g}",
        "sigma_low": f"{noisy['sigma0'].min() / grad_rms:.2g}",
        "sigma_high": f"{noisy['sigma0'].max() / grad_rms:.2g}",
        "n_settings": noisy["arm"].nunique(),
        "n_screen_seeds": screen["seed"].nunique(),
        "diverged_runs": ", ".join(f"{r.arm} (seed {r.seed})" for r in diverged.itertuples())
        or "none",
    }


def screen_cells(screen: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """One row per screened setting (``arm``, ``sigma0``, ``gamma``): per measure its
    mean paired difference and, in ``text_<measure>``, the mean over its 95% CI."""
    settings = screen.drop_duplicates("arm").set_index("arm")[["sigma0", "gamma"]]
    cells = settings.loc[effects["arm"].unique()].reset_index()
    for measure in MEASURES:
        d = effects[effects["measure"] == measure].set_index("arm")["difference"]
        d = d.reindex(cells["arm"])
        cells[measure] = [e.mean for e in d]
        cells[f"text_{measure}"] = [report.interval(e).replace(" ", "\n", 1) for e in d]
    return cells


def screen_figure(cells: pd.DataFrame) -> plots.ResponsiveFigure:
    """The screen's heatmaps over sigma0 and gamma, one per measure (:func:`screen_cells`)."""
    panels = [(m, f"{name}: noise {MINUS} baseline") for m, name in MEASURES.items()]
    return plots.responsive(
        plots.heatmap_panels, cells, panels, row="sigma0", col="gamma", annotate="text"
    )


def noise_ratio_cells(cells: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """:func:`screen_cells` with each setting's noise-to-gradient norm ratio, averaged
    over the first evaluation interval (``start``) and the whole run (``run``), as its
    base-10 logarithm (``log10_ratio_<when>``) and as text (``text_log10_ratio_<when>``)."""
    ratios = {
        "start": first_interval(curves).groupby("arm")["noise_ratio"].mean(),
        "run": curves[curves["iter"] > 0].groupby("arm")["noise_ratio"].mean(),
    }
    cells = cells.copy()
    for when, ratio in ratios.items():
        ratio = ratio.reindex(cells["arm"])
        cells[f"log10_ratio_{when}"] = np.log10(ratio.to_numpy())
        cells[f"text_log10_ratio_{when}"] = [f"{r:.2g}" for r in ratio]
    return cells


def noise_ratio_figure(cells: pd.DataFrame) -> plots.ResponsiveFigure:
    """Heatmaps of :func:`noise_ratio_cells`: the first interval's, and the whole run's."""
    panels = [
        ("log10_ratio_start", "first interval (log10)"),
        ("log10_ratio_run", "whole run (log10)"),
    ]
    return plots.responsive(
        plots.heatmap_panels, cells, panels, row="sigma0", col="gamma", annotate="text"
    )


def screen_picks(effects: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The ``n`` settings with the lowest mean difference on each measure, with the
    difference and its 95% CI: one row per (measure, setting)."""
    picks = []
    for measure, name in MEASURES.items():
        rows = with_means(effects[effects["measure"] == measure])
        for r in rows.nsmallest(n, "mean").itertuples():
            picks.append(
                {
                    "measure": name,
                    "setting": r.arm,
                    f"noise {MINUS} baseline [95% CI]": report.interval(r.difference),
                    "seeds": r.difference.n,
                }
            )
    return pd.DataFrame(picks).set_index(["measure", "setting"])


def screen_counts(effects: pd.DataFrame) -> dict[str, Any]:
    """The screen's best setting in final validation loss and its mean difference
    (``top_setting``, ``top_diff``), and how many of the comparisons have a 95% interval
    wholly below zero (``n_below``) and wholly above (``n_above``), of ``n_cells``."""
    top = lowest(effects)
    return {
        "top_setting": top["arm"],
        "top_diff": f"{top['difference'].mean:+.3f}",
        "n_cells": len(effects),
        "n_below": sum(e.hi < 0 for e in effects["difference"]),
        "n_above": sum(e.lo > 0 for e in effects["difference"]),
    }


def dose_responses(screen: pd.DataFrame, effects: pd.DataFrame) -> dict[str, Slope]:
    """Per measure, the slope of the screen's paired differences against log10 sigma0,
    every cell pooled, one intercept per seed (:func:`gni.clustered.dose_response`)."""
    sigma0 = screen.drop_duplicates("arm").set_index("arm")["sigma0"]
    long = stats.differences_long(effects, keys=["measure", "arm"])
    long["log_sigma0"] = np.log10(long["arm"].map(sigma0))
    return {
        m: dose_response(g["difference"], g["log_sigma0"], g["pair"])
        for m, g in long.groupby("measure", sort=False)
    }


def robust_facts(screen: pd.DataFrame, effects: pd.DataFrame) -> dict[str, str]:
    """The dose-response slopes as prose (``robust_summary``: nats per character per
    tenfold sigma0, with the 95% CI and p) and what they pool (``robust_cells``)."""
    slopes = dose_responses(screen, effects)
    summary = "; ".join(
        f"{MEASURES[m]} {report.interval(Estimate(s.slope, s.lo, s.hi, s.n))} nats/char per "
        f"tenfold \N{GREEK SMALL LETTER SIGMA}\N{SUBSCRIPT ZERO} ({stats.p_clause(s.p)})"
        for m, s in slopes.items()
    )
    pooled = stats.differences_long(effects, keys=["arm"])["arm"].nunique()
    cells = f"{pooled} settings \N{MULTIPLICATION SIGN} {screen['seed'].nunique()} seeds"
    return {"robust_summary": summary, "robust_cells": cells}


# ---------------------------------------------------------------- schedule families


def family_settings(families: pd.DataFrame) -> dict[str, str]:
    """The families grid's settings, for prose: the exponential family's sigma0 at each
    level and its gamma, and the polynomial family's power."""
    settings = {
        f"families_sigma0_{level}": noise_value(families, f"exponential, {level}", "sigma0")
        for level in LEVELS
    }
    settings["families_gamma"] = noise_value(families, "exponential, low", "gamma")
    settings["polynomial_power"] = noise_value(families, "polynomial, low", "gamma")
    return settings


def family_totals(families: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Each noisy arm's total noise, sum over steps of sigma_t^2 per entry (the mean over
    its runs), and its sigma at step 0. For the relative scale sigma multiplies the
    clipped gradient's RMS, min(grad_norm, grad_clip) / sqrt(n_params), read from the
    curves per evaluation interval, so its total is approximate."""
    n_params = int(families["n_params"].iloc[0])
    steps = int(families["max_iters"].iloc[0]) + 1
    totals: dict[str, list[float]] = {}
    start: dict[str, str] = {}
    for r in families[families["arm"] != BASELINE].itertuples():
        args = json.loads(r.noise_args)
        schedule = make_schedule(r.noise_schedule, **args)
        relative = r.noise_scale == "relative"
        if relative:
            c = curves[(curves["run_id"] == r.run_id) & (curves["iter"] > 0)]
            rms = np.minimum(c["grad_norm"], r.grad_clip) / np.sqrt(n_params)
            width = c["iter"].diff().fillna(c["iter"].iloc[0])
            total = float((args["sigma0"] * rms) ** 2 @ width)
        else:
            total = total_variance(schedule, steps)
        totals.setdefault(r.arm, []).append(total)
        start.setdefault(
            r.arm, f"{schedule(0):.3g}" + (" \N{MULTIPLICATION SIGN} RMS" if relative else "")
        )
    sigma = "\N{GREEK SMALL LETTER SIGMA}"
    return pd.DataFrame(
        {
            "setting": list(totals),
            f"total noise \N{GREEK CAPITAL LETTER SIGMA}{sigma}\N{SUPERSCRIPT TWO}": [
                f"{np.mean(v):.3g}" for v in totals.values()
            ],
            f"{sigma} at step 0": list(start.values()),
        }
    ).set_index("setting")


def family_summary(effects: pd.DataFrame) -> dict[str, Any]:
    """The families' comparisons, for prose: the lowest in final validation loss
    (``best_family``, ``best_family_diff``); how many have a 95% interval wholly below
    or above zero and a Holm p below the level; and, at each level and measure, the
    range of the families' means (the largest: ``family_range``) and their median
    half-width (the smallest: ``family_half``)."""
    best = lowest(effects)
    spread = []
    levels = effects["arm"].str.split(", ").str[-1]
    for _, group in effects.assign(level=levels).groupby(["measure", "level"]):
        means = [e.mean for e in group["difference"]]
        half = float(np.median([e.half_width for e in group["difference"]]))
        spread.append({"range": max(means) - min(means), "half": half})
    spread = pd.DataFrame(spread)
    return {
        "best_family": best["arm"],
        "best_family_diff": report.interval(best["difference"]),
        "n_family_rows": len(effects),
        "n_family_below": sum(e.hi < 0 for e in effects["difference"]),
        "n_family_above": sum(e.lo > 0 for e in effects["difference"]),
        "n_family_holm": int((effects["p_holm"] < stats.ALPHA).sum()),
        "family_range": f"{spread['range'].max():.3f}",
        "family_half": f"{spread['half'].min():.3f}",
    }


def exponential_tests(families: pd.DataFrame) -> pd.DataFrame | None:
    """The claim that exponential decay is the best schedule: per measure, a paired t-test over the
    (seed, level) units of the other families' mean difference from exponential decay at
    the same total noise (columns ``measure``, ``difference``, ``p``); None when no level
    has exponential decay and another family."""
    versus_exponential = []
    for level in LEVELS:
        exponential = f"exponential, {level}"
        same = [a for a in dict.fromkeys(families["arm"]) if a.endswith(f", {level}")]
        if exponential in same and len(same) > 1:
            effects = effects_of(families[families["arm"].isin(same)], baseline=exponential)
            versus_exponential.append(effects.assign(reference=exponential))
    if not versus_exponential:
        return None
    others = stats.differences_long(pd.concat(versus_exponential), keys=["measure", "reference"])
    units = others.groupby(["measure", "reference", "pair"], sort=False)["difference"].mean()
    tests = [
        {"measure": m, **vars(stats.paired_comparison(np.zeros(len(d)), d.to_numpy()))}
        for m, d in units.groupby(level="measure", sort=False)
    ]
    return pd.DataFrame(tests).rename(columns={"p_value": "p"})


def exponential_labels(tests: pd.DataFrame) -> list[str]:
    """The names of :func:`exponential_tests`' tests for the claims audit."""
    return [
        f"the other families' mean {MINUS} exponential decay, {MEASURES[m]}, per seed and level"
        for m in tests["measure"]
    ]
