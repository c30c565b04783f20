"""Chapter 2's analysis, its first module (gni.chapters.schedules: the runs, the paired
comparisons, the screen, the schedule families), on small constructed tables whose answers
are known by hand: no training, no records, no notebook. The helpers here (constructed
runs and paired tables, the figure recorder) serve the chapter's other two test modules."""

import json
import math

import pandas as pd
import pytest

from gni import plots
from gni.chapters import schedules
from gni.chapters.schedules import BASELINE
from gni.chapters.schedules_confirmation import TRANSFER_MEASURES
from gni.stats import Estimate

MINUS = "\N{MINUS SIGN}"
LQ, RQ = "\N{LEFT DOUBLE QUOTATION MARK}", "\N{RIGHT DOUBLE QUOTATION MARK}"
TIMES, SIGMA = "\N{MULTIPLICATION SIGN}", "\N{GREEK SMALL LETTER SIGMA}"


def runs(
    values: dict[str, list[float]], measure: str = "final_val_loss", **columns
) -> pd.DataFrame:
    """One run per (arm, seed): ``values[arm][seed]`` of ``measure``; best_val_loss is the
    same minus 0.5 unless ``measure`` is it."""
    rows = []
    for arm, by_seed in values.items():
        for seed, value in enumerate(by_seed):
            row = {"arm": arm, "seed": seed, "dataset": "shakespeare_char", "status": "ok"}
            row |= {"best_val_loss": value - 0.5, "final_val_loss": value} | {measure: value}
            rows.append(row | columns)
    return pd.DataFrame(rows)


def effects(rows: list[tuple]) -> pd.DataFrame:
    """A paired table from (arm, measure, Estimate, p_holm[, dataset]) rows."""
    records = []
    for arm, measure, e, p_holm, *dataset in rows:
        records.append(
            {
                "dataset": dataset[0] if dataset else "shakespeare_char",
                "measure": measure,
                "arm": arm,
                "difference": e,
                "p": p_holm,
                "p_holm": p_holm,
                "family_size": 1,
            }
        )
    return pd.DataFrame(records)


def estimate(mean: float, half: float = 0.01, n: int = 3) -> Estimate:
    return Estimate(mean, mean - half, mean + half, n)


def record_drawing(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """What the figure functions ask gni.plots.responsive to draw, instead of drawing it:
    (plot, args, kwargs) per call."""
    calls = []

    def responsive(plot, *args, **kwargs):
        calls.append((plot, args, kwargs))
        return "figure"

    monkeypatch.setattr(plots, "responsive", responsive)
    return calls


@pytest.fixture
def drawn(monkeypatch):
    """:func:`record_drawing`, for the tests of this module."""
    return record_drawing(monkeypatch)


# ---------------------------------------------------------------- runs and their tables


def test_grid_spec_reads_the_projects_grid_file():
    spec = schedules.grid_spec("schedules_adam")
    assert spec["axes"]["noise"][0] == {"label": BASELINE}
    assert spec["seeds"] == [0]


def test_sweep_table_names_the_first_axis_arm_and_keeps_the_page_runs(monkeypatch):
    asked = {}

    def fake_run(spec, **kwargs):
        asked.update(kwargs, spec=spec)
        return pd.DataFrame({"noise": ["baseline"], "seed": [0], "run_id": ["r0"]})

    monkeypatch.setattr(schedules, "run", fake_run)
    page_runs = []
    spec = {"axes": {"noise": [{"label": "baseline"}], "dataset": ["enwik8"]}, "seeds": [0]}
    table = schedules.sweep_table(spec, "cpu", "dask", 2, runs=page_runs)
    assert list(table.columns) == ["arm", "seed", "run_id"]
    assert list(page_runs[0].columns) == ["noise", "seed", "run_id"]
    assert asked == {
        "spec": spec,
        "profile": "cpu",
        "executor": "dask",
        "workers": 2,
        "progress": False,
        "raise_on_failure": True,
    }
    schedules.sweep_table("schedules_adam", "cpu")  # a grid file by name; no list to keep
    assert asked["spec"]["seeds"] == [0]


def test_run_time_counts_each_run_once():
    a = pd.DataFrame({"run_id": ["r0", "r1"], "wall_seconds": [180.0, 60.0]})
    b = pd.DataFrame({"run_id": ["r1"], "wall_seconds": [60.0]})
    assert schedules.run_time([a, b]) == {"n_runs": 2, "run_minutes": "4", "run_minutes_two": "2"}


def test_small_texts():
    table = pd.DataFrame(
        {
            "arm": ["baseline", "a", "b", "a"],
            "seed": [1, 0, 1, 0],
            "clip": [1.0, 0.9, 1.0, 0.9],
            "noise_args": ["{}", '{"sigma0": 0.001, "gamma": 0.92}', '{"sigma0": 3e-05}', "{}"],
        }
    )
    assert schedules.quoted("a, low") == f"{LQ}a, low{RQ}"
    assert schedules.seeds_of(table) == "0, 1"
    assert schedules.values_text(table["clip"]) == "0.9, 1"
    assert schedules.noise_value(table, "a", "gamma") == "0.92"
    assert schedules.noise_value(table, "b", "sigma0") == "3e-05"
    assert schedules.noise_value(table, "b", "gamma") == "n/a"  # no such argument
    assert schedules.noise_value(table, "c", "gamma") == "n/a"  # no such arm
    assert schedules.arms(table) == ["a", "b"]


def test_baseline_text_is_the_mean_with_its_95_percent_half_width():
    table = runs({BASELINE: [1.5, 3.5], "a": [0.0, 0.0]}, measure="best_val_loss")
    # t(0.975, 1 df) = 12.706; sd = sqrt(2), so the half-width is 12.706 * sqrt(2) / sqrt(2)
    assert schedules.baseline_text(table) == "2.500 ± 12.706"


def test_curves_of_puts_the_tables_columns_beside_the_curves(monkeypatch):
    curves = pd.DataFrame({"run_id": ["r0", "r0", "r1"], "iter": [0, 10, 0]})
    monkeypatch.setattr(schedules, "load_curves", lambda ids: curves[curves["run_id"].isin(ids)])
    table = pd.DataFrame({"run_id": ["r0", "r1"], "arm": ["baseline", "a"], "x": [1, 2]})
    merged = schedules.curves_of(table)
    assert merged["arm"].tolist() == ["baseline", "baseline", "a"]
    assert "x" not in merged
    assert schedules.curves_of(table, ("x",))["x"].tolist() == [1, 1, 2]


def test_first_interval_is_the_first_evaluation_after_step_0():
    curves = pd.DataFrame({"iter": [0, 20, 10, 0, 10], "run_id": list("aaabb")})
    assert schedules.first_interval(curves).index.tolist() == [2, 4]


# ---------------------------------------------------------------- paired comparisons

# final validation loss by arm and seed: a is 0.1 and 0.2 below the baseline, b 0.1 above
TABLE = {BASELINE: [2.0, 2.2], "a": [1.9, 2.0], "b": [2.1, 2.3]}


def test_effects_difference_and_versus():
    table = runs(TABLE)
    found = schedules.effects_of(table)
    assert found[["measure", "arm"]].values.tolist() == [
        ["best_val_loss", "a"],
        ["best_val_loss", "b"],
        ["final_val_loss", "a"],
        ["final_val_loss", "b"],
    ]
    assert schedules.difference(found, "a").mean == pytest.approx(-0.15)
    assert schedules.difference(found, "b", "best_val_loss").mean == pytest.approx(0.1)
    b_minus_a = schedules.versus(table, "a", "b")
    assert (b_minus_a.mean, b_minus_a.n) == (pytest.approx(0.25), 2)
    assert schedules.with_means(found)["mean"].tolist() == pytest.approx([-0.15, 0.1] * 2)
    assert schedules.lowest(found)["arm"] == "a"
    assert schedules.lowest(found.iloc[::-1], "best_val_loss")["arm"] == "a"


def test_effect_rows_is_the_pages_table():
    rows = schedules.effect_rows(
        effects(
            [
                ("a", "final_val_loss", estimate(-0.15), 0.0123),
                ("b", "best_val_loss", estimate(0.1, n=1), math.nan),
            ]
        ),
        label="optimizer, level",
    )
    assert rows.index.names == ["measure", "optimizer, level"]
    assert rows.loc[("final validation loss", "a")].tolist() == [
        "-0.150 [-0.160, -0.140]",
        "0.012",
        3,
    ]
    assert rows.loc[("best validation loss", "b")].tolist() == ["+0.100 (n/a: 1 pair)", "n/a", 1]


def test_claim_labels_name_each_comparison():
    table = effects([("a, low", "final_val_loss", estimate(0.0), 0.5, "enwik8")])
    assert schedules.claim_labels(table) == [
        f"{LQ}a, low{RQ} {MINUS} baseline, final validation loss, fresh seeds"
    ]
    measures = TRANSFER_MEASURES
    assert schedules.claim_labels(table, measures, where=None) == [
        f"{LQ}a, low{RQ} {MINUS} baseline, final validation loss, enwik8"
    ]
    assert schedules.claim_labels(table, None) == [f"{LQ}a, low{RQ} {MINUS} baseline, fresh seeds"]


def test_figures_draw_what_the_captions_say(drawn):
    frame = pd.DataFrame({"x": [1]})
    schedules.forest_figure(frame, order=["b", "a"])
    schedules.screen_figure(frame)
    schedules.noise_ratio_figure(frame)
    (forest, forest_args, forest_kw), (screen, screen_args, screen_kw) = drawn[:2]
    assert forest is plots.forest_panels and forest_args[1:] == ("arm", schedules.PANELS)
    assert forest_kw == {"order": ["b", "a"]}
    assert screen is plots.heatmap_panels
    assert screen_args[1] == [
        ("best_val_loss", f"best validation loss: noise {MINUS} baseline"),
        ("final_val_loss", f"final validation loss: noise {MINUS} baseline"),
    ]
    assert screen_kw == {"row": "sigma0", "col": "gamma", "annotate": "text"}
    assert [c for c, _ in drawn[2][1][1]] == ["log10_ratio_start", "log10_ratio_run"]


# ---------------------------------------------------------------- the screen


def screen_runs() -> pd.DataFrame:
    """A screen of three constant settings, sigma0 = 0.001, 0.01, 0.1, on two seeds, whose
    difference from the baseline is 0.1 per tenfold sigma0 (0 at 0.001) on both
    measures; seed 1's baseline is one nat higher than seed 0's."""
    rows = [(BASELINE, 0, 2.0, "{}"), (BASELINE, 1, 3.0, "{}")]
    for k, sigma in enumerate((0.001, 0.01, 0.1)):
        args = json.dumps({"sigma0": sigma, "gamma": 1.0})
        rows += [(f"s{k}", 0, 2.0 + 0.1 * k, args), (f"s{k}", 1, 3.0 + 0.1 * k, args)]
    table = pd.DataFrame(rows, columns=["arm", "seed", "final_val_loss", "noise_args"])
    table["best_val_loss"] = table["final_val_loss"]
    return schedules.with_settings(table.assign(dataset="d", status="ok", n_params=100))


def test_with_settings_reads_sigma0_and_gamma():
    table = screen_runs()
    assert table.loc[0, "sigma0"] == 0.0 and math.isnan(table.loc[0, "gamma"])
    assert table["sigma0"].tolist()[2:] == [0.001, 0.001, 0.01, 0.01, 0.1, 0.1]
    assert (table["gamma"][2:] == 1.0).all()


def test_screen_facts_measure_the_noise_against_the_gradient():
    table = screen_runs()
    table.loc[3, "status"] = "diverged"  # s0, seed 1
    curves = pd.DataFrame(
        {
            "arm": [BASELINE] * 4 + ["s0"],
            "iter": [0, 10, 10, 20, 10],
            "grad_norm": [9.0, 2.0, 4.0, 9.0, 9.0],
        }
    )
    assert schedules.screen_facts(table, curves) == {
        "grad_rms": "0.3",  # (2 + 4) / 2 / sqrt(100)
        "screen_seed_list": "0, 1",
        "rms_cap": "0.1",
        "sigma_low": "0.0033",
        "sigma_high": "0.33",
        "n_settings": 3,
        "n_screen_seeds": 2,
        "diverged_runs": "s0 (seed 1)",
    }


def test_screen_cells_and_their_noise_ratios():
    table = screen_runs()
    found = schedules.effects_of(table)
    cells = schedules.screen_cells(table, found)
    assert cells["arm"].tolist() == ["s0", "s1", "s2"]
    assert cells["sigma0"].tolist() == [0.001, 0.01, 0.1]
    assert cells["final_val_loss"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert cells["text_final_val_loss"].iloc[0] == "+0.000\n[+0.000, +0.000]"
    curves = pd.DataFrame(
        {
            "arm": ["s0", "s0", "s1", "s1", "s2", "s2"],
            "iter": [10, 20] * 3,
            "noise_ratio": [10.0, 1000.0, 100.0, 100.0, 1.0, 1.0],
        }
    )
    ratios = schedules.noise_ratio_cells(cells, curves)
    assert ratios["log10_ratio_start"].tolist() == pytest.approx([1.0, 2.0, 0.0])
    assert ratios["text_log10_ratio_run"].tolist() == ["5e+02", "1e+02", "1"]
    assert "log10_ratio_start" not in cells  # a copy


def test_screen_picks_and_counts():
    found = effects(
        [
            ("s0", "final_val_loss", estimate(-0.02), 0.5),
            ("s1", "final_val_loss", estimate(-0.05), 0.5),
            ("s2", "final_val_loss", estimate(0.03, half=0.05), 0.5),
            ("s0", "best_val_loss", estimate(0.02), 0.5),
            ("s1", "best_val_loss", estimate(0.01, half=0.02), 0.5),
        ]
    )
    picks = schedules.screen_picks(found, n=1)
    assert picks.index.tolist() == [("best validation loss", "s1"), ("final validation loss", "s1")]
    assert picks.iloc[1].tolist() == ["-0.050 [-0.060, -0.040]", 3]
    assert schedules.screen_counts(found) == {
        "top_setting": "s1",
        "top_diff": "-0.050",
        "n_cells": 5,
        "n_below": 2,
        "n_above": 1,
    }


def test_dose_response_of_the_screen():
    table = screen_runs()
    found = schedules.effects_of(table)
    slopes = schedules.dose_responses(table, found)
    assert list(slopes) == ["best_val_loss", "final_val_loss"]
    assert slopes["final_val_loss"].slope == pytest.approx(0.1)
    assert slopes["final_val_loss"].n == 6
    facts = schedules.robust_facts(table, found)
    assert facts["robust_summary"].startswith(
        "best validation loss +0.100 [+0.100, +0.100] nats/char per tenfold "
        f"{SIGMA}\N{SUBSCRIPT ZERO} (p < 0.001); "
    )
    assert facts["robust_cells"] == f"3 settings {TIMES} 2 seeds"


# ---------------------------------------------------------------- schedule families


def test_family_settings():
    table = pd.DataFrame(
        {
            "arm": ["exponential, low", "exponential, mid", "polynomial, low"],
            "noise_args": [
                '{"sigma0": 0.001, "gamma": 0.92}',
                '{"sigma0": 0.003, "gamma": 0.92}',
                '{"eta": 1e-07, "gamma": 0.55}',
            ],
        }
    )
    assert schedules.family_settings(table) == {
        "families_sigma0_low": "0.001",
        "families_sigma0_mid": "0.003",
        "families_gamma": "0.92",
        "polynomial_power": "0.55",
    }


def test_family_totals_sum_the_variance_over_the_steps():
    rows = [
        ("r0", BASELINE, "none", "{}", "absolute"),
        ("r1", "constant, low", "constant", '{"sigma0": 0.1}', "absolute"),
        ("r2", "constant, low", "constant", '{"sigma0": 0.1}', "absolute"),
        ("r3", "relative, low", "constant", '{"sigma0": 0.5}', "relative"),
    ]
    table = pd.DataFrame(
        rows, columns=["run_id", "arm", "noise_schedule", "noise_args", "noise_scale"]
    )
    table = table.assign(n_params=4, max_iters=9, grad_clip=1.0)
    # the relative run: clipped gradient norms 1 and 0.5 over two intervals of 5 steps
    curves = pd.DataFrame({"run_id": ["r3"] * 3, "iter": [0, 5, 10], "grad_norm": [7.0, 2.0, 0.5]})
    totals = schedules.family_totals(table, curves)
    assert totals.index.tolist() == ["constant, low", "relative, low"]
    # 10 steps of 0.1**2; (0.5 * 1 / 2)**2 * 5 + (0.5 * 0.5 / 2)**2 * 5 = 0.390625
    assert totals.iloc[:, 0].tolist() == ["0.1", "0.391"]
    assert totals.iloc[:, 1].tolist() == ["0.1", f"0.5 {TIMES} RMS"]
    assert list(totals.columns) == [
        f"total noise \N{GREEK CAPITAL LETTER SIGMA}{SIGMA}\N{SUPERSCRIPT TWO}",
        f"{SIGMA} at step 0",
    ]


def test_family_summary():
    found = effects(
        [
            ("constant, low", "final_val_loss", estimate(-0.01, half=0.05), 0.01),
            ("linear, low", "final_val_loss", estimate(0.02, half=0.07), 0.2),
            ("constant, mid", "final_val_loss", estimate(-0.03, half=0.02), 0.3),
            ("linear, mid", "final_val_loss", estimate(0.05, half=0.01), 0.4),
        ]
    )
    assert schedules.family_summary(found) == {
        "best_family": "constant, mid",
        "best_family_diff": "-0.030 [-0.050, -0.010]",
        "n_family_rows": 4,
        "n_family_below": 1,
        "n_family_above": 1,
        "n_family_holm": 1,
        "family_range": "0.080",  # mid: 0.05 - (-0.03)
        "family_half": "0.015",  # mid: median of 0.02 and 0.01
    }


def test_exponential_tests_pool_the_other_families_per_seed_and_level():
    table = runs(
        {
            BASELINE: [3.0, 3.0, 3.0],
            "exponential, low": [2.0, 2.0, 2.0],
            "constant, low": [2.1, 2.2, 2.0],
            "linear, low": [2.3, 2.4, 2.2],
        }
    )
    tests = schedules.exponential_tests(table)
    assert tests["measure"].tolist() == ["best_val_loss", "final_val_loss"]
    final = tests.iloc[1]["difference"]  # per seed the others' mean minus exponential: .2 .3 .1
    assert (final.mean, final.n) == (pytest.approx(0.2), 3)
    assert 0 < tests.iloc[1]["p"] < 0.1
    assert schedules.exponential_labels(tests)[1] == (
        f"the other families' mean {MINUS} exponential decay, final validation loss, "
        "per seed and level"
    )
    assert schedules.exponential_tests(table[table["arm"] != "exponential, low"]) is None
