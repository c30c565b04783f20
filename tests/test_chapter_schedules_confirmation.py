"""Chapter 2's analysis, whether its findings hold (gni.chapters.schedules_confirmation:
fresh seeds, other datasets, convergence speed), on small constructed tables whose
answers are known by hand: no training, no records, no notebook."""

import math

import pandas as pd
import pytest

from gni import plots
from gni.chapters import schedules
from gni.chapters import schedules_confirmation as confirmation
from gni.chapters.schedules import BASELINE, LOWERED
from gni.stats import Estimate
from tests.test_chapter_schedules import LQ, RQ, effects, estimate, record_drawing, runs

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
    pool, found = confirmation.candidates(screen, [other])
    assert found[["arm", "seed"]].values.tolist() == [["s", 0], ["s", 1], ["new", 0]]
    assert pool["arm"].tolist() == [BASELINE, BASELINE, "s", "s", "new"]
    assert confirmation.variant(found, "new") == {
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
    assert confirmation.picks(found, 2) == ["b", "a", "c"]
    assert confirmation.picks(found, 3) == ["b", "a", "c"]


def test_confirm_and_transfer_specs():
    control = {"label": LOWERED}
    assert confirmation.confirm_spec({"profile": "cpu"}, [{"label": "a"}], control, (2, 3)) == {
        "base": {"profile": "cpu"},
        "axes": {"noise": [{"label": BASELINE}, {"label": "a"}, control]},
        "seeds": [2, 3],
    }
    grid = {"base": {"dataset": "d", "profile": "cpu"}}
    assert confirmation.transfer_spec(grid, {"label": "a"}, control, ("enwik8",), [0]) == {
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
    band = confirmation.difference_band(curves)
    assert band[["arm", "iter", "n"]].values.tolist() == [["a", 10, 2]]
    assert band["mean"].iloc[0] == pytest.approx(0.2)


def test_difference_figure_draws_a_panel_per_arm(monkeypatch):
    drawn = record_drawing(monkeypatch)
    confirmation.difference_figure(pd.DataFrame({"x": [1]}), ("a", LOWERED))
    (plot, _, kwargs), *_ = drawn
    assert plot is plots.difference_panels and kwargs["col_order"] == ["a", LOWERED]


def test_verdict_text():
    assert confirmation.verdict_text(estimate(-0.05), 0.01, 4) == (
        "better than the baseline, -0.050 [-0.060, -0.040] nats per character, Holm p = 0.010"
    )
    assert confirmation.verdict_text(estimate(0.05), 0.0001, 4).startswith(
        "worse than the baseline"
    )
    e = Estimate(0.01, -0.02, 0.04, 3)  # a family of one: the corrected interval is the 95% one
    assert confirmation.verdict_text(e, 0.5, 1) == (
        "not significant (+0.010 [-0.020, +0.040], Holm p = 0.50); the interval at the "
        "corrected level, +0.010 [-0.020, +0.040], rules out a gain larger than 0.020 and a "
        "loss larger than 0.040 nats per character"
    )


def confirmation_effects() -> pd.DataFrame:
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
    confirm = confirmation_effects()
    screened = [(arm, m, estimate(-0.1), 0.5) for arm in ("a", "b") for m in schedules.MEASURES]
    lowered = effects(
        [(LOWERED, m, estimate(0.2), 0.5) for m in schedules.MEASURES]
        + [("s", "best_val_loss", estimate(0.3), 0.5)]
    )
    verdicts = confirmation.verdict_table(confirm, effects(screened), lowered)
    row = verdicts.loc[("final validation loss", LOWERED)]
    assert row[["screening seeds", "fresh seeds", "p (Holm)"]].tolist() == [
        "+0.200 [+0.190, +0.210]",
        "-0.030 [-0.040, -0.020]",
        "0.040",
    ]
    assert row["verdict"].startswith("better than the baseline")
    listed = confirmation.verdict_list(verdicts)
    assert listed.startswith("a (best validation loss): better than the baseline, -0.020")
    assert listed.count(" (best validation loss): ") == listed.count(" (final validation loss): ")
    assert listed.count(" (final validation loss): ") == 3


def test_confirmation_counts_and_sentences():
    confirm = confirmation_effects()
    assert confirmation.significant(confirm) == 4
    assert confirmation.confirm_counts(confirm) == (
        "3 of the 4 comparisons of a picked setting and 1 of the 2 of the "
        "lowered-learning-rate control are significant after Holm"
    )
    assert confirmation.ending(confirm, "b") == (
        "ends lower on the final validation loss (-0.050 [-0.060, -0.040], Holm p = 0.020)"
    )
    worse = effects([("a", "final_val_loss", estimate(0.04), 0.001)])
    assert confirmation.ending(worse, "a").startswith("does not end detectably lower (+0.040")
    assert confirmation.gains(confirm, "best_val_loss") == ["a"]
    assert confirmation.gains(confirm, "final_val_loss") == ["a", "b"]  # not the control


def test_listing_quotes_labels_that_hold_commas():
    assert confirmation.listing(["a, low"]) == (f"{LQ}a, low{RQ}", "s")
    assert confirmation.listing(["a", "b", "c"]) == (f"{LQ}a{RQ}, {LQ}b{RQ} and {LQ}c{RQ}", "")


def test_answer():
    confirm = confirmation_effects()
    not_beyond = effects(
        [
            ("a", "final_val_loss", estimate(-0.01), 0.3),
            ("b", "final_val_loss", estimate(-0.02), 0.01),
        ]
    )
    not_beyond.loc[1, "difference"] = estimate(0.02)  # significant, but worse than the control
    assert confirmation.answer(confirm, not_beyond) == (
        f"{LQ}a{RQ} lowers the best validation loss on the fresh seeds; {LQ}a{RQ} and "
        f"{LQ}b{RQ} lower the final validation loss of the overfitting run, but not "
        "detectably more than a lowered learning rate does."
    )
    beyond = effects([("b", "final_val_loss", estimate(-0.02), 0.01)])
    assert confirmation.answer(confirm, beyond).endswith(
        "run, by more than the lowered learning rate does."
    )
    nothing = confirm.assign(p_holm=0.5)
    assert confirmation.answer(nothing, beyond) == (
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
    assert confirmation.peak(band, "a") == ("+0.050 [+0.040, +0.060]", 20)
    monkeypatch.setattr(confirmation, "largest_detectable", lambda judged: f"{len(judged)} tests")
    confirm = confirmation_effects()
    vs_lowered = effects([("a", "final_val_loss", estimate(-0.01), 0.3)])
    facts = confirmation.confirm_facts(confirm, confirm.iloc[:4], band, "a", vs_lowered)
    assert facts == {
        "peak_diff": "+0.050 [+0.040, +0.060]",
        "peak_step": 20,
        "n_confirm_significant": 4,
        "confirm_counts": confirmation.confirm_counts(confirm),
        "confirmed_end": confirmation.ending(confirm, "a"),
        "n_confirm_rows": 6,
        "confirm_mde": "0.010",
        "confirm_mde80": "4 tests",
        "confirm_vs_lowered": "a (final validation loss) -0.010 [-0.020, +0.000]",
        "answer": confirmation.answer(confirm, vs_lowered),
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
    rows = confirmation.transfer_rows(transfer())
    assert rows.index.names == ["dataset", "measure", "setting"]
    assert rows.index[1] == ("enwik8", "final test loss", "a")


def test_transfer_facts():
    found = transfer()
    assert confirmation.per_dataset(found, LOWERED) == (
        "enwik8 -0.080 [-0.090, -0.070]; text8 +0.000 [-0.010, +0.010]"
    )
    assert confirmation.transfer_facts(found, "a") == {
        "transfer_summary": "enwik8 -0.090 [-0.100, -0.080] (Holm p = 0.34); "
        "text8 -0.010 [-0.020, +0.000] (Holm p = 1.00)",
        "transfer_lowered": confirmation.per_dataset(found, LOWERED),
        "transfer_lowered_helps": "that a lower learning rate alone helps on enwik8 (Holm p < "
        "0.05) says that the untuned baseline overfits it at the profile's rate",
    }
    both = found.assign(p_holm=0.01, difference=[estimate(-0.1)] * 5)
    assert "helps on enwik8 and text8" in confirmation.lowered_helps(both)
    assert "overfits them" in confirmation.lowered_helps(both)
    assert confirmation.lowered_helps(found.assign(p_holm=0.5)) == (
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
    rows = confirmation.speed_rows(reach, races, judged, ["a"])
    assert rows.loc["a"].tolist() == [2, 0, 2, "1", "150", "0.50"]
    assert rows.loc[LOWERED].tolist() == [2, 2, 0, "none", "95", "n/a (a control)"]
    assert confirmation.speed_facts(reach, races, judged) == {
        "baseline_steps": "110",
        "speed_summary": f"{LQ}a{RQ} first in 0 of 2 seed pairs; {LQ}{LOWERED}{RQ} first in 2 "
        "of 2 seed pairs",
        "speed_verdict": "inconclusive for a test",
    }
