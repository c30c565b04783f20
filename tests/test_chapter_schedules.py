"""Chapter 2's analysis (gni.chapters.schedules) on small constructed tables whose answers
are known by hand: no training, no records, no notebook."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from gni import plots
from gni.chapters import schedules
from gni.chapters.schedules import BASELINE, LOWERED
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


@pytest.fixture
def drawn(monkeypatch):
    """What the figure functions ask gni.plots.responsive to draw, instead of drawing it."""
    calls = []

    def responsive(plot, *args, **kwargs):
        calls.append((plot, args, kwargs))
        return "figure"

    monkeypatch.setattr(plots, "responsive", responsive)
    return calls


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
    measures = schedules.TRANSFER_MEASURES
    assert schedules.claim_labels(table, measures, where=None) == [
        f"{LQ}a, low{RQ} {MINUS} baseline, final validation loss, enwik8"
    ]
    assert schedules.claim_labels(table, None) == [f"{LQ}a, low{RQ} {MINUS} baseline, fresh seeds"]


def test_figures_draw_what_the_captions_say(drawn):
    frame = pd.DataFrame({"x": [1]})
    schedules.forest_figure(frame, order=["b", "a"])
    schedules.screen_figure(frame)
    schedules.noise_ratio_figure(frame)
    schedules.clipping_figure(frame, np.array(["baseline", "a"]))
    schedules.difference_figure(frame, ("a", LOWERED))
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
    assert drawn[3][0] is plots.curve_panels and drawn[3][2]["hue_order"] == ["baseline", "a"]
    assert drawn[4][0] is plots.difference_panels and drawn[4][2]["col_order"] == ["a", LOWERED]


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


# ---------------------------------------------------------------- placement and SGD


def test_placement_settings():
    table = pd.DataFrame(
        {
            "arm": ["baseline", "post-clip, low"],
            "seed": [0, 0],
            "grad_clip": [1.0, 1.0],
            "noise_args": ["{}", '{"sigma0": 0.001, "gamma": 0.5}'],
        }
    )
    assert schedules.placement_settings(table) == {
        "placement_gamma": "0.5",
        "half_life": "1",
        "grad_clip": "1",
        "placement_seed_list": "0",
    }
    assert schedules.placement_settings(table.iloc[:1])["half_life"] == "n/a"


def test_clipping_band_and_the_baselines_share():
    curves = pd.DataFrame(
        {
            "arm": [BASELINE] * 4,
            "seed": [0, 0, 1, 1],
            "iter": [0, 10, 0, 10],
            "clipped_fraction": [0.0, 0.5, 0.0, 1.0],
            "update_grad_norm": [9.0, 1.0, 9.0, 3.0],
        }
    )
    band = schedules.clipping_band(curves).set_index("quantity")
    assert band["iter"].tolist() == [10, 10]
    assert band.loc["fraction of steps clipped", ["mean", "lo", "hi"]].tolist() == [0.75] * 3
    assert band.loc["‖what the optimizer receives‖", "mean"] == 2.0
    assert schedules.clipped_share(curves) == "75%"


def test_sgd_tuning_chooses_the_lowest_rate_whose_runs_all_finished():
    rows = [
        (0.1, 0.01, "ok", 2.0),
        (0.1, 0.01, "ok", 2.2),
        (0.3, 0.03, "ok", 1.9),
        (0.3, 0.03, "ok", 2.1),
        (1.0, 0.1, "ok", 1.0),
        (1.0, 0.1, "diverged", math.nan),
    ]
    tuning = pd.DataFrame(rows, columns=["learning_rate", "min_lr", "status", "best_val_loss"])
    tuning = tuning.assign(final_val_loss=tuning["best_val_loss"], seed=[0, 1] * 3)
    table, lr = schedules.sgd_tuning(tuning)
    assert lr == 0.3
    assert table.index.tolist() == ["0.1", "0.3", "1"]
    assert table["runs ok"].tolist() == ["2 of 2", "2 of 2", "1 of 2"]
    assert table.loc["1", "best validation loss"] == "1.000"
    spec = schedules.sgd_spec(
        {"base": {"dataset": "d", "overrides": {"optimizer": "sgd"}}},
        {
            "axes": {
                "noise": [
                    {"label": "baseline"},
                    {"label": "post-clip, low", "x": 1},
                    {"label": "pre-clip, low", "x": 2},
                ]
            }
        },
        tuning,
        lr,
    )
    assert spec == {
        "base": {
            "dataset": "d",
            "overrides": {"optimizer": "sgd", "learning_rate": 0.3, "min_lr": 0.03},
        },
        "axes": {"noise": [{"label": BASELINE}, {"label": "SGD, low", "x": 1}]},
        "seeds": [0, 1],
    }


def test_beside_adamw_relabels_the_post_clip_comparisons():
    adamw = effects(
        [
            ("post-clip, low", "final_val_loss", estimate(0.0), 0.5),
            ("pre-clip, low", "final_val_loss", estimate(0.0), 0.5),
        ]
    )
    sgd = effects([("SGD, low", "final_val_loss", estimate(0.1), 0.5)])
    assert schedules.beside_adamw(adamw, sgd)["arm"].tolist() == ["AdamW, low", "SGD, low"]


# ---------------------------------------------------------------- how Adam absorbs noise


def test_adam_curves_carry_each_runs_sigma(monkeypatch):
    curves = pd.DataFrame({"run_id": ["b", "b", "n", "n"], "iter": [0, 10, 10, 0]})
    monkeypatch.setattr(schedules, "load_curves", lambda ids: curves)
    table = pd.DataFrame(
        {"run_id": ["n", "b"], "arm": ["sigma", BASELINE], "noise_args": ['{"sigma0": 0.01}', "{}"]}
    )
    found = schedules.adam_curves(table)
    assert found[["run_id", "iter", "sigma_set"]].values.tolist() == [
        ["b", 10, 0.0],
        ["n", 10, 0.01],
    ]


def test_tensor_sizes_count_every_entry_of_the_model():
    table = pd.DataFrame({"dataset": ["shakespeare_char"], "vocab_size": [65]})
    sizes = schedules.tensor_sizes(table, "smoke")
    assert sizes["adam_v/transformer.wte.weight"] == 65 * 32  # vocabulary x n_embd (smoke)
    assert all(name.startswith("adam_v/") for name in sizes.index)


def adam_run() -> pd.DataFrame:
    """One tensor w of 2 entries whose Adam v is 1 without noise; noise of sigma^2 = 3
    and of sigma = 1, 2 and 3 (the first two not recorded beyond what the tests need)."""
    rows = []
    for sigma, step, v in ((0.0, 1.0, 1.0), (math.sqrt(3), 0.4, 4.0), (1.0, 0.8, 2.0)):
        for it in (10, 20):
            rows.append(
                {
                    "sigma_set": sigma,
                    "iter": it,
                    "signal_step": step * it,  # relative to the baseline: step
                    "adam_v/w": v,
                    "noise_ratio/w": 10 * sigma,
                    "noise_ratio/u": 20 * sigma,
                    "grad_spread_rms": 0.5,
                    "grad_rms": 0.25,
                }
            )
    return pd.DataFrame(rows).sort_values(["sigma_set", "iter"])


def test_absorption_measures_and_predicts_the_step_along_the_gradient():
    absorb = schedules.absorption(adam_run(), pd.Series({"adam_v/w": 2, "adam_v/x": 5}))
    assert absorb["sigma"].tolist() == pytest.approx([0.0, 1.0, math.sqrt(3)])
    row = absorb.iloc[2]
    assert row["measured"] == pytest.approx(0.4)
    assert row["predicted"] == pytest.approx(0.5)  # 1 / sqrt(1 + 3)
    assert absorb.iloc[1]["predicted"] == pytest.approx(1 / math.sqrt(2))
    assert row["v"] == pytest.approx(4.0)
    assert row[["ratio_median", "ratio_min", "ratio_max"]].tolist() == pytest.approx(
        [15 * math.sqrt(3), 10 * math.sqrt(3), 20 * math.sqrt(3)]
    )


def test_step_ratios_probe_and_facts():
    curves = adam_run()
    ratios = schedules.step_ratios(curves)
    assert list(ratios) == pytest.approx([1.0, math.sqrt(3)])
    assert ratios[1.0]["step_ratio"].tolist() == pytest.approx([0.8, 0.8])
    assert ratios[1.0]["sigma_over_spread"].tolist() == [2.0, 2.0]
    absorb = pd.DataFrame(
        {
            "sigma": [0.0, 1.0, 2.0, 3.0, 4.0],
            "measured": [1, 0.9, 0.8, 0.7, 0.6],
            "predicted": [1, 0.8, 0.6, 0.4, 0.2],
            "v": [1.0] * 5,
        }
    )
    assert schedules.probe_sigma(absorb) == 2.0  # the lower middle of four
    assert schedules.probe_sigma(absorb.iloc[:2]) == 1.0
    assert schedules.step_factor(absorb, 3.0) == 0.7
    assert schedules.absorption_facts(absorb, curves) == {
        "grad_spread": "0.5",
        "grad_rms_clean": "0.25",
        "probe_sigma": "2",
        "probe_factor": "0.80",
        "probe_predicted": "0.60",
        "high_sigma": "4",
        "high_factor": "0.60",
    }


def test_absorption_figure_draws_the_noisy_runs(drawn):
    absorb = pd.DataFrame({"sigma": [0.0, 1.0], "v": [2.0, 3.0]})
    schedules.absorption_figure(absorb, adam_run())
    plot, (noisy, spread, v0), _ = drawn[0]
    assert plot is plots.absorption_panels
    assert (noisy["sigma"].tolist(), spread, v0) == ([1.0], 0.5, 2.0)


def test_lowered_spec_lowers_the_baselines_learning_rate():
    screen = screen_runs().assign(learning_rate=1e-3, min_lr=1e-4)
    grid = {
        "base": {"dataset": "d"},
        "axes": {"noise": [{"label": "s0", "v": 0}, {"label": "s1", "v": 1}]},
    }
    spec = schedules.lowered_spec(grid, screen, 0.01, 0.5)
    assert spec == {
        "base": {"dataset": "d"},
        "axes": {
            "noise": [
                {"label": BASELINE},
                {"label": LOWERED, "learning_rate": 5e-4, "min_lr": 5e-5},
                {"label": "s1", "v": 1},
            ]
        },
        "seeds": [0, 1],
    }
    with pytest.raises(ValueError, match=r"no constant-noise setting with sigma0=0\.02"):
        schedules.lowered_spec(grid, screen, 0.02, 0.5)


def test_lowered_facts_compare_the_control_with_the_noise():
    lowered = runs({BASELINE: [2.0, 2.2], LOWERED: [1.9, 2.2], "s": [2.0, 2.0]})
    facts = schedules.lowered_facts(lowered, schedules.effects_of(lowered), "s")
    # control - baseline: -0.1, 0; noise - baseline: 0, -0.2; noise - control: +0.1, -0.2
    assert {k: v.split(" [")[0] for k, v in facts.items()} == {
        "lowered_diff": "-0.050",
        "lowered_noise_diff": "-0.100",
        "noise_vs_lowered": "-0.050",
        "noise_vs_lowered_best": "-0.050",
    }


# ---------------------------------------------------------------- confirmation

NOISE = {"noise_scale": "absolute", "noise_kind": "independent", "noise_placement": "post_clip"}


def test_candidates_are_each_adamw_setting_once():
    screen = runs({BASELINE: [2.0, 2.0], "s": [1.9, 1.9]}, optimizer="adamw", **NOISE)
    screen["noise_schedule"] = ["none", "none", "constant", "constant"]
    screen["noise_args"] = ["{}", "{}", '{"sigma0": 0.1}', '{"sigma0": 0.1}']
    other = runs(
        {BASELINE: [2.0], "same, low": [1.8], "new": [1.7], "sgd": [1.6]},
        optimizer="adamw",
        **NOISE,
    )
    other["noise_schedule"] = ["none", "constant", "constant", "constant"]
    other["noise_args"] = ["{}", '{"sigma0": 0.1}', '{"sigma0": 0.2}', '{"sigma0": 0.2}']
    other.loc[3, "optimizer"] = "sgd"
    pool, found = schedules.candidates(screen, [other])
    assert found[["arm", "seed"]].values.tolist() == [["s", 0], ["s", 1], ["new", 0]]
    assert pool["arm"].tolist() == [BASELINE, BASELINE, "s", "s", "new"]
    assert schedules.variant(found, "new") == {
        "label": "new",
        "noise_schedule": "constant",
        "noise_args": {"sigma0": 0.2},
        **NOISE,
    }


def test_picks_add_the_best_by_best_validation_loss():
    found = effects(
        [
            ("a", "final_val_loss", estimate(-0.01), 0.5),
            ("b", "final_val_loss", estimate(-0.03), 0.5),
            ("c", "final_val_loss", estimate(0.02), 0.5),
            ("a", "best_val_loss", estimate(0.01), 0.5),
            ("c", "best_val_loss", estimate(-0.01), 0.5),
        ]
    )
    assert schedules.picks(found, 2) == ["b", "a", "c"]
    assert schedules.picks(found, 3) == ["b", "a", "c"]


def test_confirm_and_transfer_specs():
    control = {"label": LOWERED}
    assert schedules.confirm_spec({"profile": "cpu"}, [{"label": "a"}], control, (2, 3)) == {
        "base": {"profile": "cpu"},
        "axes": {"noise": [{"label": BASELINE}, {"label": "a"}, control]},
        "seeds": [2, 3],
    }
    grid = {"base": {"dataset": "d", "profile": "cpu"}}
    assert schedules.transfer_spec(grid, {"label": "a"}, control, ("enwik8",), [0]) == {
        "base": {"profile": "cpu"},
        "axes": {"noise": [{"label": BASELINE}, {"label": "a"}, control], "dataset": ["enwik8"]},
        "seeds": [0],
    }


def test_difference_band_is_the_mean_paired_difference_per_step():
    curves = pd.DataFrame(
        {
            "dataset": "d",
            "seed": [0, 0, 1, 1],
            "iter": [10] * 4,
            "arm": [BASELINE, "a"] * 2,
            "val_loss": [2.0, 2.1, 3.0, 3.3],
        }
    )
    band = schedules.difference_band(curves)
    assert band[["arm", "iter", "n"]].values.tolist() == [["a", 10, 2]]
    assert band["mean"].iloc[0] == pytest.approx(0.2)


def test_verdict_text():
    assert schedules.verdict_text(estimate(-0.05), 0.01, 4) == (
        "better than the baseline, -0.050 [-0.060, -0.040] nats per character, Holm p = 0.010"
    )
    assert schedules.verdict_text(estimate(0.05), 0.0001, 4).startswith("worse than the baseline")
    e = Estimate(0.01, -0.02, 0.04, 3)  # a family of one: the corrected interval is the 95% one
    assert schedules.verdict_text(e, 0.5, 1) == (
        "not significant (+0.010 [-0.020, +0.040], Holm p = 0.50); the interval at the "
        "corrected level, +0.010 [-0.020, +0.040], rules out a gain larger than 0.020 and a "
        "loss larger than 0.040 nats per character"
    )


def confirmation() -> pd.DataFrame:
    """Two picked settings and the control on fresh seeds: a lowers both measures, b
    only the final loss (significantly), and the control lowers the final loss."""
    return effects(
        [
            ("a", "best_val_loss", estimate(-0.02), 0.01),
            ("b", "best_val_loss", estimate(0.01), 0.6),
            ("a", "final_val_loss", estimate(-0.04), 0.001),
            ("b", "final_val_loss", estimate(-0.05), 0.02),
            (LOWERED, "best_val_loss", estimate(0.0), 0.9),
            (LOWERED, "final_val_loss", estimate(-0.03), 0.04),
        ]
    )


def test_verdict_table_sets_the_screening_seeds_beside_the_fresh_ones():
    confirm = confirmation()
    screened = [(arm, m, estimate(-0.1), 0.5) for arm in ("a", "b") for m in schedules.MEASURES]
    lowered = effects(
        [(LOWERED, m, estimate(0.2), 0.5) for m in schedules.MEASURES]
        + [("s", "best_val_loss", estimate(0.3), 0.5)]
    )
    verdicts = schedules.verdict_table(confirm, effects(screened), lowered)
    row = verdicts.loc[("final validation loss", LOWERED)]
    assert row[["screening seeds", "fresh seeds", "p (Holm)"]].tolist() == [
        "+0.200 [+0.190, +0.210]",
        "-0.030 [-0.040, -0.020]",
        "0.040",
    ]
    assert row["verdict"].startswith("better than the baseline")
    listed = schedules.verdict_list(verdicts)
    assert listed.startswith("a (best validation loss): better than the baseline, -0.020")
    assert listed.count(" (best validation loss): ") == listed.count(" (final validation loss): ")
    assert listed.count(" (final validation loss): ") == 3


def test_confirmation_counts_and_sentences():
    confirm = confirmation()
    assert schedules.significant(confirm) == 4
    assert schedules.confirm_counts(confirm) == (
        "3 of the 4 comparisons of a picked setting and 1 of the 2 of the "
        "lowered-learning-rate control are significant after Holm"
    )
    assert schedules.ending(confirm, "b") == (
        "ends lower on the final validation loss (-0.050 [-0.060, -0.040], Holm p = 0.020)"
    )
    worse = effects([("a", "final_val_loss", estimate(0.04), 0.001)])
    assert schedules.ending(worse, "a").startswith("does not end detectably lower (+0.040")
    assert schedules.gains(confirm, "best_val_loss") == ["a"]
    assert schedules.gains(confirm, "final_val_loss") == ["a", "b"]  # not the control


def test_listing_quotes_labels_that_hold_commas():
    assert schedules.listing(["a, low"]) == (f"{LQ}a, low{RQ}", "s")
    assert schedules.listing(["a", "b", "c"]) == (f"{LQ}a{RQ}, {LQ}b{RQ} and {LQ}c{RQ}", "")


def test_answer():
    confirm = confirmation()
    not_beyond = effects(
        [
            ("a", "final_val_loss", estimate(-0.01), 0.3),
            ("b", "final_val_loss", estimate(-0.02), 0.01),
        ]
    )
    not_beyond.loc[1, "difference"] = estimate(0.02)  # significant, but worse than the control
    assert schedules.answer(confirm, not_beyond) == (
        f"{LQ}a{RQ} lowers the best validation loss on the fresh seeds; {LQ}a{RQ} and "
        f"{LQ}b{RQ} lower the final validation loss of the overfitting run, but not "
        "detectably more than a lowered learning rate does."
    )
    beyond = effects([("b", "final_val_loss", estimate(-0.02), 0.01)])
    assert schedules.answer(confirm, beyond).endswith(
        "run, by more than the lowered learning rate does."
    )
    nothing = confirm.assign(p_holm=0.5)
    assert schedules.answer(nothing, beyond) == (
        "No picked setting lowers the best validation loss (the paper's measure) on the fresh "
        "seeds; none lowers the final validation loss either."
    )


def test_peak_and_confirm_facts(monkeypatch):
    band = pd.DataFrame(
        {
            "arm": ["a", "a", "a", "b"],
            "iter": [10, 20, 30, 20],
            "mean": [0.01, 0.05, -0.01, 0.9],
            "lo": [0.0, 0.04, -0.02, 0.8],
            "hi": [0.02, 0.06, 0.0, 1.0],
            "n": 6,
        }
    )
    assert schedules.peak(band, "a") == ("+0.050 [+0.040, +0.060]", 20)
    monkeypatch.setattr(schedules, "largest_detectable", lambda judged: f"{len(judged)} tests")
    confirm = confirmation()
    vs_lowered = effects([("a", "final_val_loss", estimate(-0.01), 0.3)])
    facts = schedules.confirm_facts(confirm, confirm.iloc[:4], band, "a", vs_lowered)
    assert facts == {
        "peak_diff": "+0.050 [+0.040, +0.060]",
        "peak_step": 20,
        "n_confirm_significant": 4,
        "confirm_counts": schedules.confirm_counts(confirm),
        "confirmed_end": schedules.ending(confirm, "a"),
        "n_confirm_rows": 6,
        "confirm_mde": "0.010",
        "confirm_mde80": "4 tests",
        "confirm_vs_lowered": "a (final validation loss) -0.010 [-0.020, +0.000]",
        "answer": schedules.answer(confirm, vs_lowered),
    }


# ---------------------------------------------------------------- other datasets, speed


def transfer() -> pd.DataFrame:
    return effects(
        [
            ("a", "final_val_loss", estimate(-0.09), 0.34, "enwik8"),
            ("a", "final_test_loss", estimate(-0.08), 0.30, "enwik8"),
            (LOWERED, "final_val_loss", estimate(-0.08), 0.01, "enwik8"),
            ("a", "final_val_loss", estimate(-0.01), 1.0, "text8"),
            (LOWERED, "final_val_loss", estimate(0.0), 0.9, "text8"),
        ]
    )


def test_transfer_rows_lead_with_the_dataset():
    rows = schedules.transfer_rows(transfer())
    assert rows.index.names == ["dataset", "measure", "setting"]
    assert rows.index[1] == ("enwik8", "final test loss", "a")


def test_transfer_facts():
    found = transfer()
    assert schedules.per_dataset(found, LOWERED) == (
        "enwik8 -0.080 [-0.090, -0.070]; text8 +0.000 [-0.010, +0.010]"
    )
    assert schedules.transfer_facts(found, "a") == {
        "transfer_summary": "enwik8 -0.090 [-0.100, -0.080] (Holm p = 0.34); "
        "text8 -0.010 [-0.020, +0.000] (Holm p = 1.00)",
        "transfer_lowered": schedules.per_dataset(found, LOWERED),
        "transfer_lowered_helps": "that a lower learning rate alone helps on enwik8 (Holm p < "
        "0.05) says that the untuned baseline overfits it at the profile's rate",
    }
    both = found.assign(p_holm=0.01, difference=[estimate(-0.1)] * 5)
    assert "helps on enwik8 and text8" in schedules.lowered_helps(both)
    assert "overfits them" in schedules.lowered_helps(both)
    assert schedules.lowered_helps(found.assign(p_holm=0.5)) == (
        "a lower learning rate alone helps on neither significantly"
    )


def test_speed_rows_and_facts():
    from gni.stats import race_table

    reach = pd.DataFrame(
        {
            "dataset": "d",
            "seed": [0, 1] * 3,
            "arm": [BASELINE] * 2 + ["a"] * 2 + [LOWERED] * 2,
            "steps": [100.0, 120.0, 150.0, math.nan, 90.0, 100.0],
        }
    )
    reach["reached"] = reach["steps"].notna()
    races = race_table(reach, "arm", BASELINE, by=["dataset"])
    judged = pd.DataFrame({"p_holm": [0.5], "verdict": ["inconclusive"], "test": ["a test"]})
    rows = schedules.speed_rows(reach, races, judged, ["a"])
    assert rows.loc["a"].tolist() == [2, 0, 2, "1", "150", "0.50"]
    assert rows.loc[LOWERED].tolist() == [2, 2, 0, "none", "95", "n/a (a control)"]
    assert schedules.speed_facts(reach, races, judged) == {
        "baseline_steps": "110",
        "speed_summary": f"{LQ}a{RQ} first in 0 of 2 seed pairs; {LQ}{LOWERED}{RQ} first in 2 "
        "of 2 seed pairs",
        "speed_verdict": "inconclusive for a test",
    }
