"""Chapter 2's analysis, what the optimizer does with the noise
(gni.chapters.schedules_optimizers: placement, SGD, how Adam absorbs it, the
lowered-learning-rate control), on small constructed tables whose answers are known by
hand: no training, no records, no notebook."""

import math

import numpy as np
import pandas as pd
import pytest

from gni import plots
from gni.chapters import schedules
from gni.chapters import schedules_optimizers as optimizers
from gni.chapters.schedules import BASELINE, LOWERED
from tests.test_chapter_schedules import effects, estimate, record_drawing, runs, screen_runs

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
    assert optimizers.placement_settings(table) == {
        "placement_gamma": "0.5",
        "half_life": "1",
        "grad_clip": "1",
        "placement_seed_list": "0",
    }
    assert optimizers.placement_settings(table.iloc[:1])["half_life"] == "n/a"


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
    band = optimizers.clipping_band(curves).set_index("quantity")
    assert band["iter"].tolist() == [10, 10]
    assert band.loc["fraction of steps clipped", ["mean", "lo", "hi"]].tolist() == [0.75] * 3
    assert band.loc["‖what the optimizer receives‖", "mean"] == 2.0
    assert optimizers.clipped_share(curves) == "75%"


def test_clipping_figure_draws_a_line_per_arm(monkeypatch):
    drawn = record_drawing(monkeypatch)
    optimizers.clipping_figure(pd.DataFrame({"x": [1]}), np.array(["baseline", "a"]))
    (plot, _, kwargs), *_ = drawn
    assert plot is plots.curve_panels and kwargs["hue_order"] == ["baseline", "a"]


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
    table, lr = optimizers.sgd_tuning(tuning)
    assert lr == 0.3
    assert table.index.tolist() == ["0.1", "0.3", "1"]
    assert table["runs ok"].tolist() == ["2 of 2", "2 of 2", "1 of 2"]
    assert table.loc["1", "best validation loss"] == "1.000"
    spec = optimizers.sgd_spec(
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
    assert optimizers.beside_adamw(adamw, sgd)["arm"].tolist() == ["AdamW, low", "SGD, low"]


# ---------------------------------------------------------------- how Adam absorbs noise


def test_adam_curves_carry_each_runs_sigma(monkeypatch):
    curves = pd.DataFrame({"run_id": ["b", "b", "n", "n"], "iter": [0, 10, 10, 0]})
    monkeypatch.setattr(schedules, "load_curves", lambda ids: curves)
    table = pd.DataFrame(
        {"run_id": ["n", "b"], "arm": ["sigma", BASELINE], "noise_args": ['{"sigma0": 0.01}', "{}"]}
    )
    found = optimizers.adam_curves(table)
    assert found[["run_id", "iter", "sigma_set"]].values.tolist() == [
        ["b", 10, 0.0],
        ["n", 10, 0.01],
    ]


def test_tensor_sizes_count_every_entry_of_the_model():
    table = pd.DataFrame({"dataset": ["shakespeare_char"], "vocab_size": [65]})
    sizes = optimizers.tensor_sizes(table, "smoke")
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
    absorb = optimizers.absorption(adam_run(), pd.Series({"adam_v/w": 2, "adam_v/x": 5}))
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
    ratios = optimizers.step_ratios(curves)
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
    assert optimizers.probe_sigma(absorb) == 2.0  # the lower middle of four
    assert optimizers.probe_sigma(absorb.iloc[:2]) == 1.0
    assert optimizers.step_factor(absorb, 3.0) == 0.7
    assert optimizers.absorption_facts(absorb, curves) == {
        "grad_spread": "0.5",
        "grad_rms_clean": "0.25",
        "probe_sigma": "2",
        "probe_factor": "0.80",
        "probe_predicted": "0.60",
        "high_sigma": "4",
        "high_factor": "0.60",
    }


def test_absorption_figure_draws_the_noisy_runs(monkeypatch):
    drawn = record_drawing(monkeypatch)
    absorb = pd.DataFrame({"sigma": [0.0, 1.0], "v": [2.0, 3.0]})
    optimizers.absorption_figure(absorb, adam_run())
    plot, (noisy, spread, v0), _ = drawn[0]
    assert plot is plots.absorption_panels
    assert (noisy["sigma"].tolist(), spread, v0) == ([1.0], 0.5, 2.0)


def test_lowered_spec_lowers_the_baselines_learning_rate():
    screen = screen_runs().assign(learning_rate=1e-3, min_lr=1e-4)
    grid = {
        "base": {"dataset": "d"},
        "axes": {"noise": [{"label": "s0", "v": 0}, {"label": "s1", "v": 1}]},
    }
    spec = optimizers.lowered_spec(grid, screen, 0.01, 0.5)
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
        optimizers.lowered_spec(grid, screen, 0.02, 0.5)


def test_lowered_facts_compare_the_control_with_the_noise():
    lowered = runs({BASELINE: [2.0, 2.2], LOWERED: [1.9, 2.2], "s": [2.0, 2.0]})
    facts = optimizers.lowered_facts(lowered, schedules.effects_of(lowered), "s")
    # control - baseline: -0.1, 0; noise - baseline: 0, -0.2; noise - control: +0.1, -0.2
    assert {k: v.split(" [")[0] for k, v in facts.items()} == {
        "lowered_diff": "-0.050",
        "lowered_noise_diff": "-0.100",
        "noise_vs_lowered": "-0.050",
        "noise_vs_lowered_best": "-0.050",
    }
