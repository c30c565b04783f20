"""Chapter 1, "Reproducing the paper": the baseline against the paper's exponentially
decaying GNI, paired by seed, and the paper's numbers beside ours.

Runs are rows of a table such as :func:`gni.sweep.run` returns (one per run: its
``dataset``, ``method`` and ``seed``, its config and summary); losses are in nats per
character, bpc in bits per character. A difference is always GNI minus baseline over
the seed pairs (:func:`gni.stats.paired_table`), so a negative one favours GNI.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from gni import report, stats
from gni.grids import expand
from gni.results import ResultsStore, load_runs

BASELINE, GNI = "baseline", "GNI"  # the arms' labels in grids/reproduce.yaml
DIFFERENCE = "GNI \N{MINUS SIGN} baseline"  # a column's or comparison's name
# Table 1's measures: the column of the run summaries -> its label
MEASURES = {
    "final_train_loss_eval": "final train loss",
    "best_val_loss": "best val loss",
    "final_val_bpc": "final val bpc",
    "final_test_bpc": "final test bpc",
}
SCALE_DATASET = "shakespeare_char"  # the dataset of the `paper` profile's runs
SCALE_MEASURES = ("best_val_loss", "final_val_bpc")  # the measures compared at that scale


def chapter_grid(
    grid: Mapping[str, Any], datasets: Sequence[str], n_seeds: int, sigma0: float, gamma: float
) -> dict[str, Any]:
    """The grid file's runs at the chapter's parameters: ``datasets``, seeds 0 to
    ``n_seeds`` - 1, and the GNI arm's noise ``sigma0`` (per entry, at step 0) and
    ``gamma`` (its decay per step). A copy: ``grid`` is left as it was."""
    grid = copy.deepcopy(dict(grid))
    grid["axes"]["dataset"] = list(datasets)
    grid.pop("seeds", None)
    grid["n_seeds"] = n_seeds
    arms = {arm["label"]: arm for arm in grid["axes"]["method"]}
    arms[GNI]["noise_args"] = {**arms[GNI]["noise_args"], "sigma0": sigma0, "gamma": gamma}
    return grid


def excluded_text(left_out: pd.DataFrame) -> str:
    """The runs left out of the comparisons, for prose: "text8 GNI seed 2 (diverged)", or
    "none"."""
    runs = [f"{r.dataset} {r.method} seed {r.seed} ({r.status})" for r in left_out.itertuples()]
    return "; ".join(runs) or "none"


def noise_ratio_by_step(curves: pd.DataFrame) -> pd.Series:
    """The GNI runs' noise ratio (the noise's norm over the clipped gradient's, averaged
    over each evaluation interval) at each evaluation step, averaged over the runs;
    steps without one are dropped."""
    gni_runs = curves[curves["method"] == GNI]
    return gni_runs.groupby("iter")["noise_ratio"].mean().dropna()


def experiment_facts(runs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, Any]:
    """The numbers of "The experiment", by glue name, as the prose prints them:

    - ``noise_ratio_start``, ``noise_ratio_end``: :func:`noise_ratio_by_step` at the
      first and last evaluation (two significant digits);
    - ``n_runs``, ``run_minutes``: the runs, and their training time summed, in minutes;
    - ``max_iters``, ``block_size`` (characters), ``dropout``, ``weight_decay``: the
      profile's, read from the first run;
    - ``baseline_best_iters``: the range of the steps at which the baseline runs reach
      their best validation loss ("100 to 500");
    - ``recipe_version``: the newest training recipe among the runs (:mod:`gni.recipe`).
    """
    ratio = noise_ratio_by_step(curves)
    best = runs.loc[runs["method"] == BASELINE, "best_val_iter"]
    first = runs.iloc[0]
    return {
        "noise_ratio_start": f"{ratio.iloc[0]:.2g}",
        "noise_ratio_end": f"{ratio.iloc[-1]:.2g}",
        "n_runs": len(runs),
        "run_minutes": f"{runs['wall_seconds'].sum() / 60:.0f}",
        "max_iters": int(first["max_iters"]),
        "block_size": int(first["block_size"]),
        "dropout": f"{first['dropout']:g}",
        "weight_decay": f"{first['weight_decay']:g}",
        "baseline_best_iters": f"{best.min():.0f} to {best.max():.0f}",
        "recipe_version": f"{runs['recipe_version'].max():.0f}",
    }


def compare_methods(runs: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    """GNI against the baseline on each of ``measures`` (columns of ``runs``) within each
    dataset, paired by seed, Holm-corrected over the whole table: a
    :func:`gni.stats.paired_table`."""
    return stats.paired_table(
        runs, list(measures), between="method", baseline=BASELINE, pair_by="seed", by=["dataset"]
    )


def table_1(results: pd.DataFrame) -> pd.DataFrame:
    """Table 1 from :func:`compare_methods` over :data:`MEASURES`: per dataset and
    measure, the seed pairs that entered, each arm's mean ± half-width of its 95% CI,
    the difference with its 95% CI, and the Holm-adjusted p-value."""
    return pd.DataFrame(
        {
            "dataset": results["dataset"],
            "measure": results["measure"].map(MEASURES),
            "seeds": [d.n for d in results["difference"]],
            "baseline": [e.format(3) for e in results["baseline"]],
            "GNI": [e.format(3) for e in results["treatment"]],
            f"{DIFFERENCE} [95% CI]": [report.interval(d) for d in results["difference"]],
            "p (Holm)": [stats.p_text(p) for p in results["p_holm"]],
        }
    ).set_index(["dataset", "measure"])


def comparison_labels(results: pd.DataFrame) -> list[str]:
    """Each comparison of :func:`compare_methods` in words, for the claims audit:
    :data:`DIFFERENCE`, the measure's label and the dataset ("GNI - baseline, best val
    loss, enwik8", with a minus sign)."""
    return [f"{DIFFERENCE}, {MEASURES[r.measure]}, {r.dataset}" for r in results.itertuples()]


def best_val_glue(results: pd.DataFrame, datasets: Sequence[str]) -> dict[str, str]:
    """The best validation loss's comparison on each of ``datasets``, by glue name:
    ``<dataset>_val_diff``, the mean difference ("+0.052", nats per character);
    ``<dataset>_val_ci``, its 95% CI ("[-0.032, +0.136]"); ``<dataset>_val_p``, its
    Holm-adjusted p-value (:func:`gni.stats.p_text`)."""
    best_val = results[results["measure"] == "best_val_loss"].set_index("dataset")
    glued = {}
    for dataset in datasets:
        difference = best_val.loc[dataset, "difference"]
        glued[f"{dataset}_val_diff"] = f"{difference.mean:+.3f}"
        glued[f"{dataset}_val_ci"] = report.bounds(difference)
        glued[f"{dataset}_val_p"] = stats.p_text(best_val.loc[dataset, "p_holm"])
    return glued


def race_summary(per_dataset: pd.DataFrame) -> str:
    """Who reaches the near-best level first in each dataset's seed pairs, from a
    :func:`gni.stats.race_table` by dataset: "enwik8: GNI first in 1 of 3 pairs, the
    baseline in 2; every GNI run got there", one clause per dataset."""
    return "; ".join(
        f"{r.dataset}: GNI first in {r.race.treatment_first} of {r.race.pairs} pairs, the "
        f"baseline in {r.race.baseline_first}; "
        + (
            f"{report.plural(r.race.treatment_never, 'GNI run')} never got there"
            if r.race.treatment_never
            else "every GNI run got there"
        )
        for r in per_dataset.itertuples()
    )


def seed_counts_text(template_seeds: Mapping[str, int]) -> str:
    """The seeds behind each of the paper's means, for prose: "3 seeds on
    shakespeare_char, 1 seed on enwik8 and 1 seed on text8"."""
    counts = [f"{n} seed{'s' if n > 1 else ''} on {name}" for name, n in template_seeds.items()]
    return report.and_list(counts)


def beside_the_paper(
    paper: Mapping[str, Any], template: pd.DataFrame, datasets: Sequence[str]
) -> pd.DataFrame:
    """Table 2: each of the paper's quoted results on ``datasets`` beside ours.

    ``paper`` is ``book/paper_numbers.yaml``: ``table_1`` (the quoted means of each arm,
    nats per character), ``template_seeds`` (the seeds behind each dataset's means) and
    ``our_columns`` (the column of our runs that measures what each quoted measure
    does); ``template`` is :func:`compare_methods` over those columns. Per quoted
    result: the paper's arms and difference, our mean difference with its 95% CI, the
    95% prediction interval of a mean difference over as many seeds as the paper's
    (:func:`gni.stats.prediction_interval`), and ``inside``: whether the paper's
    difference falls in it.
    """
    rows = []
    for quoted in paper["table_1"]:
        dataset, measure = quoted["dataset"], quoted["measure"]
        if dataset not in datasets:
            continue
        seeds = paper["template_seeds"][dataset]
        column = paper["our_columns"][measure]
        ours = template[(template["dataset"] == dataset) & (template["measure"] == column)]
        difference, per_seed = ours["difference"].iloc[0], ours["differences"].iloc[0]
        predicted = stats.prediction_interval(per_seed, new_draws=seeds)
        paper_difference = quoted["GNI"] - quoted["baseline"]
        rows.append(
            {
                "dataset": dataset,
                "measure": measure.replace("_", " "),
                "paper: baseline → GNI (seeds)": (
                    f"{quoted['baseline']:.4f} → {quoted['GNI']:.4f} ({seeds})"
                ),
                "paper: difference": f"{paper_difference:+.4f}",
                "ours: difference [95% CI]": report.interval(difference),
                "ours: 95% prediction interval": report.bounds(predicted),
                "inside": predicted.lo <= paper_difference <= predicted.hi,
            }
        )
    return pd.DataFrame(rows).set_index(["dataset", "measure"])


def scale_grid(grid: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter's grid on :data:`SCALE_DATASET` alone (the runs at the paper's scale)."""
    return {**grid, "axes": {**grid["axes"], "dataset": [SCALE_DATASET]}}


def scale_table(at_scale: pd.DataFrame, results: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The paired comparison of the `paper` profile's runs ``at_scale`` (with a ``method``
    column) on :data:`SCALE_MEASURES`, beside the chapter's own difference on the same
    dataset and measure at ``profile`` (from ``results``, :func:`compare_methods`;
    "n/a" where it has none). Indexed by the measure's label."""
    scale = compare_methods(at_scale[at_scale["status"] == "ok"], SCALE_MEASURES)
    here = results[results["dataset"] == SCALE_DATASET].set_index("measure")
    rows = []
    for r in scale.itertuples():
        ours = here.loc[r.measure, "difference"] if r.measure in here.index else None
        rows.append(
            {
                "measure": MEASURES[r.measure],
                "seeds": r.difference.n,
                "baseline": r.baseline.format(3),
                "GNI": r.treatment.format(3),
                f"{DIFFERENCE} [95% CI]": report.interval(r.difference),
                f"{profile} profile": "n/a" if ours is None else report.interval(ours),
            }
        )
    return pd.DataFrame(rows).set_index("measure")


def scale_text(at_scale: pd.DataFrame, results: pd.DataFrame, profile: str) -> str:
    """What the `paper` profile's runs ``at_scale`` show, in markdown: how many there
    are and on which devices, then :func:`scale_table`."""
    devices = ", ".join(sorted(at_scale["device"].astype(str).unique()))
    table = scale_table(at_scale, results, profile).to_markdown()
    return (
        f"{len(at_scale)} runs of the `paper` profile on {SCALE_DATASET} are in the results "
        f"store, trained on {devices}. The same paired comparison, with the {profile} "
        f"profile's difference beside it:\n\n{table}"
    )


def paper_scale_text(
    grid: Mapping[str, Any],
    profile: str,
    results: pd.DataFrame,
    store: ResultsStore | None = None,
) -> str:
    """The section "At the paper's scale", in markdown: the `paper` profile's runs of
    the chapter's ``grid`` on :data:`SCALE_DATASET`, read from the results store (the
    chapter never trains them itself: they need a GPU). Says that this chapter ran at
    that profile, or that none of them is in the store, or :func:`scale_text`."""
    if profile == "paper":
        return "This chapter ran at the `paper` profile itself: the numbers above are its."
    store = store or ResultsStore()
    points = [p for p in expand(scale_grid(grid), profile="paper") if store.has(p.config.run_id)]
    if not points:
        return (
            "Not run yet: the `paper` profile (the AI Scientist template's model, context and "
            "steps) needs a GPU, and no run of it is in the results store. Trained on a GPU "
            "with `gni sweep grids/reproduce.yaml --profile paper`, its shakespeare_char runs "
            f"at this chapter's setting appear here, beside the {profile} profile's and "
            "labelled with their device."
        )
    methods = pd.DataFrame(
        [{"run_id": p.config.run_id, "method": p.labels["method"]} for p in points]
    )
    at_scale = load_runs(methods["run_id"], store=store).merge(methods, on="run_id")
    return scale_text(at_scale, results, profile)
