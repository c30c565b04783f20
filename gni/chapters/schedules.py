"""Chapter 2, "Does any noise help?": the screen of exponential noise over its scale and
decay, schedule families at matched total noise, anticorrelated noise, noise before and
after clipping, noise under SGD, how Adam absorbs the noise, and the confirmation of the
screen's best settings on fresh seeds, on other datasets and in convergence speed.

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
from gni.claims import largest_detectable
from gni.clustered import Slope, dose_response
from gni.config import make_config
from gni.grids import load_grid
from gni.results import load_curves
from gni.schedules import make_schedule, total_variance
from gni.stats import Estimate
from gni.sweep import run
from gni.train import build_model

BASELINE = "baseline"  # the arm without noise in every grid of the chapter
LOWERED = "lowered learning rate"  # the control: the baseline with a smaller step, no noise
LEVELS = ("low", "mid")  # the two levels of total noise of the families grid
MINUS = "\N{MINUS SIGN}"
# the measures compared: the column of the run summaries -> its name in prose
MEASURES = {"best_val_loss": "best validation loss", "final_val_loss": "final validation loss"}
TRANSFER_MEASURES = {**MEASURES, "final_test_loss": "final test loss"}  # enwik8, text8
PANELS = list(MEASURES.items())  # a forest plot's panels: (measure, title)
# the run fields that make a noise setting; two arms with the same are the same setting
NOISE_KEYS = ("noise_schedule", "noise_args", "noise_scale", "noise_kind", "noise_placement")
# what the placement runs record per evaluation interval -> its name in the figure
CLIPPING = {
    "clipped_fraction": "fraction of steps clipped",
    "update_grad_norm": "\N{DOUBLE VERTICAL LINE}what the optimizer receives"
    "\N{DOUBLE VERTICAL LINE}",
}


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


# ---------------------------------------------------------------- placement and SGD


def placement_settings(placement: pd.DataFrame) -> dict[str, str]:
    """The placement grid's settings, for prose: the noise's decay ``gamma``, its
    half-life in steps, log(1/2) / log(gamma), the clipping norm and the seeds."""
    gamma = noise_value(placement, "post-clip, low", "gamma")
    return {
        "placement_gamma": gamma,
        "half_life": "n/a" if gamma == "n/a" else f"{np.log(0.5) / np.log(float(gamma)):.0f}",
        "grad_clip": values_text(placement["grad_clip"]),
        "placement_seed_list": seeds_of(placement),
    }


def clipping_band(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (quantity of :data:`CLIPPING`, arm) and evaluation, the mean over the seeds of
    what clipping did in the interval; lo = hi = mean (a mechanism, not a test)."""
    curves = curves[curves["iter"] > 0]
    long = curves.melt(
        id_vars=["arm", "seed", "iter"], value_vars=list(CLIPPING), var_name="quantity"
    )
    long["quantity"] = long["quantity"].map(CLIPPING)
    band = stats.curve_band(long, "value", by=["quantity", "arm"])
    band["lo"] = band["hi"] = band["mean"]
    return band


def clipping_figure(band: pd.DataFrame, arm_order: Sequence[str]) -> plots.ResponsiveFigure:
    """:func:`clipping_band` over training, one panel per quantity, one line per arm of
    ``arm_order`` (the baseline included)."""
    return plots.responsive(
        plots.curve_panels,
        band,
        "mean over the interval",
        hue="arm",
        col="quantity",
        hue_order=list(arm_order),
    )


def clipped_share(curves: pd.DataFrame) -> str:
    """The share of the baseline's steps that clipping changed over the run: ``75%``."""
    clipped = curves[curves["iter"] > 0].groupby("arm")["clipped_fraction"].mean()
    return f"{clipped[BASELINE]:.0%}"


def sgd_tuning(tuning: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SGD's runs without noise by peak learning rate: the runs that finished and each
    measure's mean with its 95% CI, one row per rate; and the chosen rate, the lowest mean
    best validation loss among the rates whose runs all finished."""
    rows, scores, rates = [], [], []
    for lr, group in tuning.groupby("learning_rate"):
        ok = group[group["status"] == "ok"]
        rows.append(
            {
                "peak learning rate": f"{lr:g}",
                "runs ok": f"{len(ok)} of {len(group)}",
                **{name: stats.mean_ci(ok[m]).format(3) for m, name in MEASURES.items()},
            }
        )
        scores.append(ok["best_val_loss"].mean() if len(ok) == len(group) else np.inf)
        rates.append(float(lr))
    return pd.DataFrame(rows).set_index("peak learning rate"), rates[int(np.argmin(scores))]


def sgd_spec(
    sgd_grid: dict[str, Any],
    placement_grid: dict[str, Any],
    tuning: pd.DataFrame,
    learning_rate: float,
) -> dict[str, Any]:
    """The SGD grid at its tuned ``learning_rate`` (and that run's ``min_lr``), on the
    tuning's seeds: the baseline and the placement grid's post-clip noise settings,
    relabelled ``SGD, <level>``."""
    tuned = tuning[tuning["learning_rate"] == learning_rate].iloc[0]
    base = sgd_grid["base"]
    overrides = {
        **base.get("overrides", {}),
        "learning_rate": learning_rate,
        "min_lr": float(tuned["min_lr"]),
    }
    noise = [v for v in placement_grid["axes"]["noise"] if v["label"].startswith("post-clip")]
    return {
        "base": {**base, "overrides": overrides},
        "axes": {
            "noise": [
                {"label": BASELINE},
                *[{**v, "label": v["label"].replace("post-clip", "SGD")} for v in noise],
            ]
        },
        "seeds": sorted(tuning["seed"].unique().tolist()),
    }


def beside_adamw(placement_effects: pd.DataFrame, sgd_effects: pd.DataFrame) -> pd.DataFrame:
    """The same noise under each optimizer: the placement's post-clip comparisons,
    relabelled ``AdamW, <level>``, above SGD's."""
    adamw = placement_effects[placement_effects["arm"].str.startswith("post-clip")].copy()
    adamw["arm"] = adamw["arm"].str.replace("post-clip", "AdamW")
    return pd.concat([adamw, sgd_effects], ignore_index=True)


# ---------------------------------------------------------------- how Adam absorbs noise


def adam_curves(adam: pd.DataFrame) -> pd.DataFrame:
    """The Adam grid's curves after step 0, with each run's constant noise sigma in
    ``sigma_set`` (0 for the baseline), sorted by sigma and step."""
    sigma = adam["noise_args"].map(lambda a: json.loads(a).get("sigma0", 0.0))
    curves = curves_of(adam.assign(sigma_set=sigma), ("arm", "sigma_set"))
    return curves[curves["iter"] > 0].sort_values(["sigma_set", "iter"])


def tensor_sizes(table: pd.DataFrame, profile: str) -> pd.Series:
    """The number of entries of each tensor of the model of the table's runs (its first
    run's dataset and vocabulary at ``profile``), indexed ``adam_v/<tensor>`` as the
    curves' columns of Adam's mean second moment."""
    config = make_config(str(table["dataset"].iloc[0]), profile)
    model = build_model(config, int(table["vocab_size"].iloc[0]))
    return pd.Series({f"adam_v/{n}": p.numel() for n, p in model.named_parameters()})


def absorption(curves: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """Per sigma (0: the baseline), means over the run of: the step along the clean
    gradient relative to the baseline's at the same step (``measured``); that ratio
    predicted from the baseline's second moment v per tensor T (n_T entries),
    sum_T n_T v_T / sqrt(v_T + sigma^2) / sum_T n_T sqrt(v_T) (``predicted``); Adam's mean
    v per entry (``v``); and the noise-to-gradient norm ratio per tensor, its median,
    least and largest over the tensors (``ratio_median``, ``ratio_min``, ``ratio_max``).
    ``curves`` as :func:`adam_curves` gives; ``sizes`` as :func:`tensor_sizes`."""
    base = curves[curves["sigma_set"] == 0].set_index("iter")
    v_cols = [c for c in curves if c.startswith("adam_v/")]
    ratio_cols = [c for c in curves if c.startswith("noise_ratio/")]
    w = sizes[v_cols]
    v0 = base[v_cols]
    rows = []
    for sigma, c in curves.groupby("sigma_set"):
        c = c.set_index("iter")
        factor = c["signal_step"] / base["signal_step"]
        predicted = (w * v0 / np.sqrt(v0 + sigma**2)).sum(axis=1) / (w * np.sqrt(v0)).sum(axis=1)
        ratios = c[ratio_cols].mean()
        rows.append(
            {
                "sigma": sigma,
                "measured": factor.mean(),
                "predicted": predicted.mean(),
                "v": float((c[v_cols] * w).sum(axis=1).mean() / w.sum()),
                "ratio_median": float(ratios.median()),
                "ratio_min": float(ratios.min()),
                "ratio_max": float(ratios.max()),
            }
        )
    return pd.DataFrame(rows)


def absorption_figure(absorb: pd.DataFrame, curves: pd.DataFrame) -> plots.ResponsiveFigure:
    """:func:`absorption` against sigma > 0, with the baseline's minibatch gradient
    spread (the mean of its ``grad_spread_rms``) and its mean second moment."""
    spread = float(curves.loc[curves["sigma_set"] == 0, "grad_spread_rms"].mean())
    v0 = float(absorb.loc[absorb["sigma"] == 0, "v"].iloc[0])
    noisy = absorb[absorb["sigma"] > 0]
    return plots.responsive(plots.absorption_panels, noisy, spread, v0)


def step_ratios(curves: pd.DataFrame) -> dict[float, pd.DataFrame]:
    """Per sigma > 0, indexed by step: the step along the clean gradient relative to
    the baseline's (``step_ratio``) and sigma over the baseline's minibatch gradient
    spread (``sigma_over_spread``), as :func:`gni.plots.step_curves` draws them."""
    base = curves[curves["sigma_set"] == 0].set_index("iter")
    return {
        sigma: pd.DataFrame(
            {
                "step_ratio": c.set_index("iter")["signal_step"] / base["signal_step"],
                "sigma_over_spread": sigma / base["grad_spread_rms"],
            }
        )
        for sigma, c in curves[curves["sigma_set"] > 0].groupby("sigma_set")
    }


def probe_sigma(absorb: pd.DataFrame) -> float:
    """The sigma whose step factor the lowered-learning-rate control copies: the middle
    one of the noisy runs (the lower middle of an even number)."""
    noisy = absorb[absorb["sigma"] > 0]
    return float(noisy["sigma"].iloc[len(noisy) // 2 - 1 if len(noisy) > 1 else 0])


def step_factor(absorb: pd.DataFrame, sigma: float) -> float:
    """The measured step along the gradient at ``sigma``, relative to the baseline's."""
    return float(absorb.set_index("sigma").loc[sigma, "measured"])


def absorption_facts(absorb: pd.DataFrame, curves: pd.DataFrame) -> dict[str, str]:
    """The mechanism in numbers, for prose: the baseline's clipped gradient, its
    minibatch spread and RMS per entry; the step factor, measured and predicted, at
    :func:`probe_sigma`, and measured at the largest sigma."""
    base = curves[curves["sigma_set"] == 0]
    probe = probe_sigma(absorb)
    row = absorb.set_index("sigma").loc[probe]
    high = absorb[absorb["sigma"] > 0].iloc[-1]
    return {
        "grad_spread": f"{float(base['grad_spread_rms'].mean()):.2g}",
        "grad_rms_clean": f"{float(base['grad_rms'].mean()):.2g}",
        "probe_sigma": f"{probe:g}",
        "probe_factor": f"{row['measured']:.2f}",
        "probe_predicted": f"{row['predicted']:.2f}",
        "high_sigma": f"{high['sigma']:g}",
        "high_factor": f"{high['measured']:.2f}",
    }


def lowered_spec(
    screen_grid: dict[str, Any], screen: pd.DataFrame, sigma: float, factor: float
) -> dict[str, Any]:
    """The screen's grid with three arms on its seeds: the baseline; the baseline with its
    peak and minimum learning rate multiplied by ``factor`` (:data:`LOWERED`); and the
    screen's constant noise (gamma = 1) of ``sigma``, which must be screened."""
    base = screen[screen["arm"] == BASELINE].iloc[0]
    noise = screen[(screen["sigma0"] == sigma) & (screen["gamma"] == 1.0)]
    if noise.empty:
        raise ValueError(f"the screen has no constant-noise setting with sigma0={sigma}")
    lowered = {
        "label": LOWERED,
        "learning_rate": float(base["learning_rate"]) * factor,
        "min_lr": float(base["min_lr"]) * factor,
    }
    label = noise["arm"].iloc[0]
    same = next(v for v in screen_grid["axes"]["noise"] if v["label"] == label)
    return {
        "base": screen_grid["base"],
        "axes": {"noise": [{"label": BASELINE}, lowered, same]},
        "seeds": sorted(screen["seed"].unique().tolist()),
    }


def lowered_facts(lowered: pd.DataFrame, effects: pd.DataFrame, noise: str) -> dict[str, str]:
    """The control against the noise of the same step factor, for prose: in final
    validation loss, each minus the baseline (``effects``, :func:`effects_of` of
    ``lowered``), and the ``noise`` minus the control, in final and in best validation
    loss."""
    return {
        "lowered_diff": report.interval(difference(effects, LOWERED)),
        "lowered_noise_diff": report.interval(difference(effects, noise)),
        "noise_vs_lowered": report.interval(versus(lowered, LOWERED, noise)),
        "noise_vs_lowered_best": report.interval(versus(lowered, LOWERED, noise, "best_val_loss")),
    }


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
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text, "s" if len(labels) == 1 else ""


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
