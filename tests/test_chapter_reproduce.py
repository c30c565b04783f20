"""The analysis of "Reproducing the paper" (gni.chapters.reproduce), on small
constructed tables of runs whose answers can be checked by hand.

The runs of text8 below differ by 0.1, 0.2 and 0.3 on best_val_loss (GNI - baseline,
seeds 0 to 2): mean 0.2, SD 0.1, standard error 0.1 / sqrt(3) = 0.0577, and with
t(0.975, 2 df) = 4.3027 a 95% CI of 0.2 +- 0.2484 = [-0.048, +0.448]. The paired t is
0.2 / 0.0577 = 3.464, whose two-sided p with 2 df is 1 - t / sqrt(2 + t^2) = 0.074. On
final_val_bpc every pair differs by exactly -0.5: no spread, p = 0.
"""

import math

import pandas as pd
import pytest

from gni.chapters import reproduce
from gni.config import make_config
from gni.grids import expand
from gni.results import SUMMARY_FIELDS, ResultsStore
from gni.stats import Race

T_2DF = 4.302653  # t(0.975) with 2 degrees of freedom
FILE_GRID = {  # grids/reproduce.yaml, as the chapter loads it
    "base": {"profile": "cpu"},
    "axes": {
        "dataset": ["shakespeare_char", "enwik8", "text8"],
        "method": [
            {"label": "baseline"},
            {"label": "GNI", "noise_schedule": "exponential", "noise_args": {"sigma0": 0.01}},
        ],
    },
    "seeds": [0, 1, 2],
}


def _runs(dataset="text8", best_val=((1.0, 1.1), (2.0, 2.2), (3.0, 3.3)), **extra):
    """One baseline and one GNI run per seed: (baseline, GNI) best_val_loss per seed, and
    final_val_bpc 0.5 lower with GNI in every seed."""
    rows = []
    for seed, (base, gni) in enumerate(best_val):
        for method, loss in (("baseline", base), ("GNI", gni)):
            bpc = 2.0 + seed / 2 - (0.5 if method == "GNI" else 0.0)
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "seed": seed,
                    "status": "ok",
                    "best_val_loss": loss,
                    "final_val_bpc": bpc,
                    **extra,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def results():
    return reproduce.compare_methods(_runs(), ["best_val_loss", "final_val_bpc"])


def test_the_chapter_grid_applies_the_parameters_to_a_copy():
    grid = reproduce.chapter_grid(FILE_GRID, ["text8"], n_seeds=5, sigma0=0.1, gamma=0.9)
    assert grid["axes"]["dataset"] == ["text8"]
    assert grid["n_seeds"] == 5 and "seeds" not in grid
    gni = grid["axes"]["method"][1]
    assert gni["noise_args"] == {"sigma0": 0.1, "gamma": 0.9}
    assert gni["noise_schedule"] == "exponential"
    assert grid["axes"]["method"][0] == {"label": "baseline"}
    assert FILE_GRID["axes"]["method"][1]["noise_args"] == {"sigma0": 0.01}  # untouched
    assert "seeds" in FILE_GRID and len(expand(grid)) == 1 * 2 * 5


def test_the_runs_left_out_are_named_or_none():
    left_out = pd.DataFrame(
        [
            {"dataset": "text8", "method": "GNI", "seed": 2, "status": "diverged"},
            {"dataset": "enwik8", "method": "baseline", "seed": 0, "status": "diverged"},
        ]
    )
    assert reproduce.excluded_text(left_out) == (
        "text8 GNI seed 2 (diverged); enwik8 baseline seed 0 (diverged)"
    )
    assert reproduce.excluded_text(left_out.iloc[:0]) == "none"


def _curves():
    """Two GNI runs and a baseline: no noise ratio at step 0, then 7 and 8 at step 50,
    0.03 and 0.02 at step 100 (the baseline has none)."""
    rows = [
        {"method": "GNI", "iter": 0, "noise_ratio": math.nan},
        {"method": "GNI", "iter": 50, "noise_ratio": 7.0},
        {"method": "GNI", "iter": 100, "noise_ratio": 0.03},
        {"method": "GNI", "iter": 0, "noise_ratio": math.nan},
        {"method": "GNI", "iter": 50, "noise_ratio": 8.0},
        {"method": "GNI", "iter": 100, "noise_ratio": 0.02},
        {"method": "baseline", "iter": 50, "noise_ratio": math.nan},
    ]
    return pd.DataFrame(rows)


def test_the_noise_ratio_is_averaged_over_the_gni_runs_at_each_step():
    ratio = reproduce.noise_ratio_by_step(_curves())
    assert list(ratio.index) == [50, 100]
    assert list(ratio) == pytest.approx([7.5, 0.025])


def test_the_experiments_facts_are_read_from_the_runs():
    runs = pd.DataFrame(
        {
            "method": ["baseline", "GNI", "baseline", "GNI"],
            "best_val_iter": [100.0, 600.0, 500.0, 250.0],
            "wall_seconds": [600.0, 660.0, 540.0, 600.0],  # 40 minutes
            "max_iters": 600,
            "block_size": 64,
            "dropout": 0.0,
            "weight_decay": 0.1,
            "recipe_version": [1, 2, 2, 2],
        }
    )
    assert reproduce.experiment_facts(runs, _curves()) == {
        "noise_ratio_start": "7.5",
        "noise_ratio_end": "0.025",
        "n_runs": 4,
        "run_minutes": "40",
        "max_iters": 600,
        "block_size": 64,
        "dropout": "0",
        "weight_decay": "0.1",
        "baseline_best_iters": "100 to 500",  # the GNI runs' steps do not count
        "recipe_version": "2",
    }


def test_methods_are_compared_within_each_dataset_paired_by_seed(results):
    assert list(results["measure"]) == ["best_val_loss", "final_val_bpc"]
    first, second = results["difference"]
    assert (first.mean, first.n) == (pytest.approx(0.2), 3)
    assert first.hi - first.mean == pytest.approx(T_2DF * 0.1 / math.sqrt(3), abs=1e-6)
    assert (second.mean, second.lo, second.hi) == (-0.5, -0.5, -0.5)
    t = 0.2 / (0.1 / math.sqrt(3))
    assert results["p"].iloc[0] == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert list(results["p_holm"]) == pytest.approx([results["p"].iloc[0], 0.0])


def test_table_1_prints_each_arm_the_difference_and_holms_p(results):
    table = reproduce.table_1(results)
    assert list(table.index) == [("text8", "best val loss"), ("text8", "final val bpc")]
    assert table.loc[("text8", "best val loss")].to_dict() == {
        "seeds": 3,
        "baseline": "2.000 ± 2.484",  # SD 1: 4.3027 / sqrt(3)
        "GNI": "2.200 ± 2.733",  # SD 1.1
        "GNI \N{MINUS SIGN} baseline [95% CI]": "+0.200 [-0.048, +0.448]",
        "p (Holm)": "0.074",
    }
    assert table.loc[("text8", "final val bpc"), "p (Holm)"] == "< 0.001"


def test_a_diverged_run_takes_its_pair_out_of_table_1():
    runs = _runs()
    runs.loc[(runs["seed"] == 2) & (runs["method"] == "GNI"), "status"] = "diverged"
    table = reproduce.table_1(reproduce.compare_methods(runs, ["best_val_loss"]))
    assert table["seeds"].tolist() == [2]
    assert table.iloc[0]["GNI \N{MINUS SIGN} baseline [95% CI]"].startswith("+0.150 [")


def test_comparisons_are_labelled_by_measure_and_dataset(results):
    assert reproduce.comparison_labels(results) == [
        "GNI \N{MINUS SIGN} baseline, best val loss, text8",
        "GNI \N{MINUS SIGN} baseline, final val bpc, text8",
    ]


def test_the_summary_glues_each_datasets_best_val_difference():
    runs = pd.concat([_runs(), _runs("enwik8", ((1.0, 0.75), (2.0, 1.75), (3.0, 2.75)))])
    results = reproduce.compare_methods(runs, ["best_val_loss"])
    assert reproduce.best_val_glue(results, ["enwik8", "text8"]) == {
        "enwik8_val_diff": "-0.250",
        "enwik8_val_ci": "[-0.250, -0.250]",
        "enwik8_val_p": "< 0.001",
        "text8_val_diff": "+0.200",
        "text8_val_ci": "[-0.048, +0.448]",
        "text8_val_p": "0.074",  # 0.074 and 0 over two comparisons (Holm): unchanged
    }


def test_the_race_summary_has_a_clause_per_dataset():
    def race(gni_first, baseline_first, gni_never):
        return Race(3, gni_first, baseline_first, 3 - gni_first - baseline_first, gni_never, 0, 1.0)

    per_dataset = pd.DataFrame(
        {"dataset": ["enwik8", "text8"], "method": "GNI", "race": [race(1, 2, 0), race(0, 2, 2)]}
    )
    assert reproduce.race_summary(per_dataset) == (
        "enwik8: GNI first in 1 of 3 pairs, the baseline in 2; every GNI run got there; "
        "text8: GNI first in 0 of 3 pairs, the baseline in 2; 2 GNI runs never got there"
    )


def test_the_paper_seeds_are_counted_in_words():
    seeds = {"shakespeare_char": 3, "enwik8": 1, "text8": 1}
    assert reproduce.seed_counts_text(seeds) == (
        "3 seeds on shakespeare_char, 1 seed on enwik8 and 1 seed on text8"
    )
    assert reproduce.seed_counts_text({"text8": 2}) == "2 seeds on text8"


def test_the_papers_differences_are_set_in_our_prediction_intervals(results):
    paper = {
        "table_1": [
            {"dataset": "text8", "measure": "best_val_loss", "baseline": 1.0, "GNI": 1.5},
            {"dataset": "text8", "measure": "final_train_loss", "baseline": 1.0, "GNI": 2.0},
            {"dataset": "enwik8", "measure": "best_val_loss", "baseline": 1.0, "GNI": 1.5},
        ],
        "template_seeds": {"text8": 1, "enwik8": 1},
        "our_columns": {"best_val_loss": "best_val_loss", "final_train_loss": "final_val_bpc"},
    }
    table = reproduce.beside_the_paper(paper, results, ["text8"])  # enwik8 is not run
    assert list(table.index) == [("text8", "best val loss"), ("text8", "final train loss")]
    # a mean of one new seed: 0.2 +- 4.3027 * 0.1 * sqrt(1 + 1/3) = [-0.297, +0.697]
    assert table.iloc[0].to_dict() == {
        "paper: baseline → GNI (seeds)": "1.0000 → 1.5000 (1)",
        "paper: difference": "+0.5000",
        "ours: difference [95% CI]": "+0.200 [-0.048, +0.448]",
        "ours: 95% prediction interval": "[-0.297, +0.697]",
        "inside": True,
    }
    # without spread the interval is the difference itself: +1.0 is far outside -0.5
    assert table.iloc[1]["ours: 95% prediction interval"] == "[-0.500, -0.500]"
    assert not table.iloc[1]["inside"]


def test_the_scale_grid_keeps_only_shakespeare_char():
    grid = reproduce.chapter_grid(FILE_GRID, ["enwik8", "text8"], 3, 0.1, 0.9)
    scaled = reproduce.scale_grid(grid)
    assert scaled["axes"]["dataset"] == ["shakespeare_char"]
    assert scaled["axes"]["method"] == grid["axes"]["method"]
    assert grid["axes"]["dataset"] == ["enwik8", "text8"]


def _at_scale():
    """The `paper` profile's runs: GNI 0.25 lower on best_val_loss and 0.5 on bpc."""
    runs = _runs("shakespeare_char", ((1.0, 0.75), (1.25, 1.0), (1.5, 1.25)))
    return runs.assign(device=["NVIDIA H100"] * 4 + ["NVIDIA H200"] * 2)


def test_the_paper_scale_table_sets_the_chapters_difference_beside_it():
    here = reproduce.compare_methods(_runs("shakespeare_char"), ["best_val_loss"])
    table = reproduce.scale_table(_at_scale(), here, "cpu")
    assert list(table.index) == ["best val loss", "final val bpc"]
    assert table.loc["best val loss"].to_dict() == {
        "seeds": 3,
        "baseline": "1.250 ± 0.621",  # SD 0.25: 4.3027 * 0.25 / sqrt(3)
        "GNI": "1.000 ± 0.621",
        "GNI \N{MINUS SIGN} baseline [95% CI]": "-0.250 [-0.250, -0.250]",
        "cpu profile": "+0.200 [-0.048, +0.448]",
    }
    assert table.loc["final val bpc", "cpu profile"] == "n/a"  # the chapter has none


def test_the_paper_scale_text_names_the_runs_and_their_devices():
    here = reproduce.compare_methods(_runs("shakespeare_char"), ["best_val_loss"])
    text = reproduce.scale_text(_at_scale(), here, "cpu")
    assert text.startswith(
        "6 runs of the `paper` profile on shakespeare_char are in the results store, trained "
        "on NVIDIA H100, NVIDIA H200. The same paired comparison, with the cpu profile's "
        "difference beside it:\n\n"
    )
    assert "| best val loss" in text and "-0.250 [-0.250, -0.250]" in text


def test_the_paper_scale_section_without_its_runs(tmp_path, results):
    grid = reproduce.chapter_grid(FILE_GRID, ["shakespeare_char"], 3, 0.01, 0.99)
    empty = ResultsStore(tmp_path / "store")
    text = reproduce.paper_scale_text(grid, "cpu", results, store=empty)
    assert text.startswith("Not run yet: the `paper` profile")
    assert "beside the cpu profile's" in text
    here = reproduce.paper_scale_text(grid, "paper", results, store=empty)
    assert here == "This chapter ran at the `paper` profile itself: the numbers above are its."


def _summary(run_id, **values):
    """A run's summary with every field a record needs, ``values`` set."""
    fields = {f: None for f in SUMMARY_FIELDS} | {"iters_done": 11, "recipe_version": 2}
    return fields | {"run_id": run_id, "status": "ok"} | values


def test_the_paper_scale_section_reads_the_runs_from_the_store(tmp_path):
    grid = reproduce.chapter_grid(FILE_GRID, ["text8"], 2, 0.01, 0.99)
    store = ResultsStore(tmp_path / "store")
    curves = pd.DataFrame({"iter": [0, 10], "train_loss": [3.0, 2.0], "val_loss": [3.0, 2.0]})
    points = expand(reproduce.scale_grid(grid), profile="paper")
    for p in points:  # best_val_loss 0.25 lower with GNI in both seeds
        loss = 1.0 + p.config.seed / 4 - (0.25 if p.labels["method"] == "GNI" else 0.0)
        summary = _summary(p.config.run_id, best_val_loss=loss, final_val_bpc=2.0)
        store.write(p.config, curves, summary | {"device": "NVIDIA H100"})
    other = make_config("shakespeare_char", "smoke", 0)  # not a run at the paper's scale
    store.write(other, curves, _summary(other.run_id, best_val_loss=9.0))
    here = reproduce.compare_methods(_runs("shakespeare_char"), ["best_val_loss"])
    text = reproduce.paper_scale_text(grid, "cpu", here, store=store)
    assert len(points) == 4
    assert text.startswith("4 runs of the `paper` profile on shakespeare_char")
    assert "trained on NVIDIA H100." in text
    assert "-0.250 [-0.250, -0.250]" in text  # best val loss, 2 seed pairs
    assert "+0.000 [+0.000, +0.000]" in text  # final val bpc: the same in every run
