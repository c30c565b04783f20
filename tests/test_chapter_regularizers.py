"""Chapter 3's analysis (gni.chapters.regularizers) on small constructed tables whose
answers can be checked by hand."""

import json
import math

import pandas as pd
import pytest

from gni import stats
from gni.chapters import regularizers as chapter
from gni.regularizers import BASELINE, GNI_ARMS, TEMPLATE, TEMPLATE_GNI
from gni.stats import Estimate
from gni.tuning import Arm, Protocol, Selection

M = "\N{MINUS SIGN}"
GNI = GNI_ARMS[0]


def effect(dataset, measure, arm, mean, lo, hi, p_holm, n=3, family_size=1):
    """A row of a paired table."""
    return {
        "dataset": dataset,
        "measure": measure,
        "arm": arm,
        "difference": Estimate(mean, lo, hi, n),
        "p": p_holm,
        "p_holm": p_holm,
        "family_size": family_size,
    }


def test_protocol_table_counts_configurations_and_tuning_runs():
    arms = [
        Arm(BASELINE),
        Arm("dropout", strength="dropout", values=(0.1, 0.2)),
        Arm(TEMPLATE, settings={"dropout": 0.2, "weight_decay": 0.1}),
    ]
    protocols = {"a": Protocol((0.001, 0.002), (0, 1), (2, 3, 4))}
    table = chapter.protocol_table(arms, protocols)
    assert table.loc[BASELINE].to_dict() == {
        "tunes": "learning rate only",
        "values": "none",
        "fixed": "none",
        "configurations": 2,
        "tuning runs, a": 4,
    }
    assert table.loc["dropout", "values"] == "0.1, 0.2"
    assert table.loc["dropout", "configurations"] == 4  # 2 rates x 2 values
    assert table.loc["dropout", "tuning runs, a"] == 8  # on 2 tuning seeds
    assert table.loc[TEMPLATE, "fixed"] == "dropout=0.2, weight_decay=0.1"
    assert table.loc[TEMPLATE_GNI, "fixed"] == f"{TEMPLATE} + the chosen GNI"
    assert table.loc["dropout + GNI", "configurations"] == 0
    assert len(table) == 3 + 4  # the combinations: the template and three regularizers


def test_chapter2_best_reads_the_glued_setting_or_says_it_is_not_executed(tmp_path):
    assert chapter.chapter2_best(tmp_path / "missing.ipynb") == chapter.NOT_EXECUTED
    output = {
        "output_type": "display_data",
        "metadata": {"scrapbook": {"name": "confirmed_best", "mime_prefix": ""}},
        "data": {"text/plain": "'anticorrelated, mid'"},
    }
    notebook = tmp_path / "02.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [output]}]}))
    assert chapter.chapter2_best(notebook) == "anticorrelated, mid"
    notebook.write_text(json.dumps({"cells": []}))
    assert chapter.chapter2_best(notebook) == chapter.NOT_EXECUTED


def test_plans_in_words():
    assert (
        chapter.tuning_plan({"a": (0, 1), "b": (5,)})
        == "a with tuning seeds 0, 1; b with tuning seed 5"
    )
    assert (
        chapter.transfer_plan({"x": "a", "y": "a", "z": "b"})
        == "x and y report the configurations chosen on a; z reports the configurations "
        "chosen on b"
    )
    assert chapter.transfer_plan({}) == "no dataset borrows a choice"
    assert chapter.choices_text("x", {"x": "a"}) == "with a's choices"
    assert chapter.choices_text("a", {"x": "a"}) == "tuned on its own seeds"


def selection(rows):
    columns = ["arm", "label", "learning_rate", "strength", "value", "mean", "runs_ok", "chosen"]
    return Selection({}, pd.DataFrame(rows, columns=columns))


SELECTIONS = {
    "a": selection(
        [
            [BASELINE, "b | lr=0.001", 0.001, None, math.nan, 2.0, 2, False],
            [BASELINE, "b | lr=0.002", 0.002, None, math.nan, 1.9, 2, True],
            ["dropout", "d | 0.1", 0.001, "dropout", 0.1, 1.8, 2, True],
            ["dropout", "d | 0.2", 0.001, "dropout", 0.2, 1.85, 2, False],
            ["label smoothing", "l", 0.001, "label_smoothing", 0.1, 1.7, 2, True],
        ]
    )
}


def test_chosen_table_gives_each_arms_choice_and_its_margin():
    table = chapter.chosen_table(SELECTIONS)
    assert table.loc[("a", BASELINE)].to_dict() == {
        "learning rate": "0.002",
        "strength": "none",
        "tuning score (best val)": "1.9000",
        "runner-up margin": "+0.1000",
    }
    assert table.loc[("a", "dropout"), "strength"] == "dropout = 0.1"
    assert table.loc[("a", "dropout"), "runner-up margin"] == "+0.0500"
    assert table.loc[("a", "label smoothing"), "runner-up margin"] == "n/a"  # no other


def test_edge_text_counts_choices_at_either_end_of_the_grid():
    assert chapter.edge_text(SELECTIONS, [0.002, 0.001]) == (
        "of the 3 chosen configurations, 1 took the largest learning rate of the grid, "
        "0.002, and 2 the smallest, 0.001; with 2 rates, every choice lies at an edge of "
        "the grid, so a better rate may lie beyond it"
    )
    assert "with 3 rates, a choice" in chapter.edge_text(SELECTIONS, [0.001, 0.002, 0.004])


def test_tuning_scores_and_the_gni_choice():
    table = chapter.tuning_scores(SELECTIONS)
    assert list(table.columns) == ["score", "runs_ok", "chosen"]
    assert table.loc[("a", "b | lr=0.001")].tolist() == ["2.0000", 2, ""]
    assert table.loc[("a", "b | lr=0.002"), "chosen"] == "chosen"
    assert chapter.gni_choice({"a": "G", "b": "G"}) == "G, on every dataset"
    assert chapter.gni_choice({"a": "G", "b": "H"}) == "a: G; b: H"


def test_with_measures_adds_bits_per_character_and_the_last_evaluations_gap():
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "best_val_loss": [math.log(2), 2 * math.log(2)],
            "final_val_loss": [math.log(2), math.log(2)],
            "final_test_loss": [math.nan, math.log(2)],
        }
    )
    curves = pd.DataFrame(  # out of order: the last evaluation is the largest step
        {
            "run_id": ["r1", "r1", "r2"],
            "iter": [100, 0, 100],
            "val_loss": [2.5, 4.0, 3.0],
            "train_loss": [2.0, 4.0, 1.0],
        }
    )
    out = chapter.with_measures(runs, curves)
    assert out["best_val_bpc"].tolist() == pytest.approx([1.0, 2.0])
    assert out["final_test_bpc"].isna().tolist() == [True, False]
    assert out["gap"].tolist() == [0.5, 2.0]
    assert "gap" not in runs  # the given table is left alone


def test_arm_order_diverged_runs_and_held_out_measures():
    runs = pd.DataFrame(
        {
            "arm": ["dropout + GNI", TEMPLATE_GNI, "dropout", BASELINE],
            "dataset": ["a", "a", "b", "b"],
            "seed": [2, 3, 2, 3],
            "status": ["ok", "diverged", "ok", "ok"],
            "final_test_loss": [math.nan, math.nan, 1.0, math.nan],
        }
    )
    arms = [Arm(BASELINE), Arm("dropout", strength="dropout", values=(0.1,)), Arm("unused")]
    assert chapter.arm_order(arms, runs) == [BASELINE, "dropout", TEMPLATE_GNI, "dropout + GNI"]
    assert chapter.diverged_text(runs) == f"{TEMPLATE_GNI} on a (seed 3)"
    assert chapter.diverged_text(runs[runs["status"] == "ok"]) == "none"
    assert chapter.held_out_measures(runs, ["a", "b"]) == {
        "a": "final_val_loss",
        "b": "final_test_loss",
    }


def test_results_table_and_the_best_arms():
    ok = pd.DataFrame(
        {
            "dataset": ["a", "a", "a"],
            "arm": [BASELINE, BASELINE, "dropout"],
            **{column: [1.0, 3.0, 1.5] for column in chapter.SUMMARY},
        }
    ).assign(final_test_loss=math.nan)
    table = chapter.results_table(ok, ["a"], [BASELINE, "dropout", "absent"])
    assert table.index.tolist() == [("a", BASELINE), ("a", "dropout")]
    # two seeds: the half-width is t(0.975, 1) * sd / sqrt(2) = 12.706 * sqrt(2) / sqrt(2)
    assert table.loc[("a", BASELINE), "best val"] == "2.000 ± 12.706"
    assert table.loc[("a", BASELINE), "seeds"] == 2
    assert table.loc[("a", "dropout"), "best val"] == "1.500"  # one seed: no interval
    assert table.loc[("a", BASELINE), "final test"] == "n/a"
    assert chapter.best_arms(ok, ["a"]) == "a: dropout (1.500)"


def test_third_evaluation_is_the_third_distinct_step_or_the_last():
    assert chapter.third_evaluation([0, 50, 0, 150, 100, 50]) == 100
    assert chapter.third_evaluation([50, 0, 50]) == 50


def test_detectable_is_the_mde_at_the_corrected_level():
    e = Estimate(0.1, 0.0, 0.2, 3)
    assert chapter.detectable(e, 4) == stats.minimum_detectable_effect(e, alpha=0.05 / 4)
    assert chapter.detectable(e, 4) > chapter.detectable(e, 1)  # stricter level: larger


def test_direction_follows_the_verdict_rule():
    assert chapter.direction(0.01, -0.2) == "lower"
    assert chapter.direction(0.01, 0.2) == "higher"
    assert chapter.direction(stats.ALPHA, -0.2) == "not significant"  # not below the level
    assert chapter.direction(math.nan, -0.2) == "not significant"
    assert chapter.direction(0.01, math.nan) == "not significant"


def test_per_question_runs_holm_within_each_dataset_and_measure():
    effects = pd.DataFrame(
        [
            effect("a", "m", "x", 0, -1, 1, math.nan),
            effect("a", "m", "y", 0, -1, 1, math.nan),
            effect("b", "m", "x", 0, -1, 1, math.nan),
        ]
    ).assign(p=[0.01, 0.04, 0.03])
    out = chapter.per_question(effects)
    assert out["p_holm"].tolist() == pytest.approx([0.02, 0.04, 0.03])
    assert out["family_size"].tolist() == [2, 2, 1]


def test_claim_labels_panels_and_forest_rows():
    effects = pd.DataFrame(
        [
            effect("a", "best_val_loss", "dropout", 0, -1, 1, 0.5),
            effect("a", "gap", GNI, 0, -1, 1, 0.5),
            effect("b", "final_val_loss", "dropout", 0, -1, 1, 0.5),
        ]
    )
    assert chapter.claim_labels(effects[:1], "tuned baseline") == [
        f"dropout {M} tuned baseline, best validation loss, a"
    ]
    rows, panels, order = chapter.forest_rows(effects, "a", [BASELINE, GNI, "x", "dropout"])
    assert len(rows) == 2
    assert panels == [("best_val_loss", "best validation loss"), ("gap", "generalization gap")]
    assert order == [GNI, "dropout"]


def test_effect_table_shows_interval_holm_p_detectable_and_seeds():
    effects = pd.DataFrame(
        [
            effect("a", "best_val_loss", "dropout", -0.1, -0.15, -0.05, 0.0123, family_size=2),
            effect("a", "final_val_loss", "dropout", 0.2, 0.2, 0.2, math.nan, n=1),
        ]
    )
    table = chapter.effect_table(effects, label="arm")
    first = table.loc[("a", "best validation loss", "dropout")]
    assert first["difference [95% CI]"] == "-0.100 [-0.150, -0.050]"
    assert first["p (Holm)"] == "0.012"
    expected = chapter.detectable(Estimate(-0.1, -0.15, -0.05, 3), 2)
    assert first["detectable (80%)"] == f"{expected:.3f}"
    assert first["seeds"] == 3
    second = table.loc[("a", "final validation loss", "dropout")]
    assert second["p (Holm)"] == "n/a"
    assert second["detectable (80%)"] == "nan"  # one pair: no MDE


def test_verdict_words_a_significant_and_a_null_comparison():
    lower = pd.Series(effect("a", "m", "x", -0.1, -0.15, -0.05, 0.01))
    assert chapter.verdict(lower) == "lower, -0.100 [-0.150, -0.050] nats/char (Holm p = 0.010)"
    null = pd.Series(effect("a", "m", "x", 0.02, -0.1, 0.14, 0.5, family_size=4))
    mde = chapter.detectable(null["difference"], 4)
    assert chapter.verdict(null) == (
        "not significant, +0.020 [-0.100, +0.140] nats/char "
        f"(Holm p = 0.50; detectable: {mde:.3f} nats/char)"
    )


def test_template_summary_reads_best_then_held_out_per_dataset():
    effects = pd.DataFrame(
        [
            effect("a", "best_val_loss", TEMPLATE_GNI, 0.1, 0.05, 0.15, 0.01),
            effect("a", "final_val_loss", TEMPLATE_GNI, 0.2, 0.1, 0.3, 0.02),
            effect("a", "final_val_loss", "dropout", 0.9, 0.8, 1.0, 0.02),
        ]
    )
    assert chapter.template_summary(effects, {"a": "final_val_loss"}) == (
        "a (best validation loss) higher, +0.100 [+0.050, +0.150] nats/char (Holm p = 0.010); "
        "a (final validation loss) higher, +0.200 [+0.100, +0.300] nats/char (Holm p = 0.020)"
    )


def test_evidence_line_groups_lower_higher_and_null():
    null_a = effect("a", "m", "n1", 0.0, -0.1, 0.1, 0.5)
    null_b = effect("a", "m", "n2", 0.0, -0.2, 0.2, math.nan)
    effects = pd.DataFrame(
        [
            effect("a", "m", "low", -0.1, -0.15, -0.05, 0.01),
            effect("a", "m", "high", 0.1, 0.05, 0.15, 0.02),
            null_a,
            null_b,
            effect("a", "other", "low", -0.1, -0.15, -0.05, 0.01),
        ]
    )
    mdes = sorted(chapter.detectable(r["difference"], 1) for r in (null_a, null_b))
    assert chapter.detectable_range(pd.DataFrame([null_a, null_b])) == (
        f"{mdes[0]:.3f} to {mdes[1]:.3f}"
    )
    line = chapter.evidence_line(effects, "a", "m", ["low", "high", "n1", "n2"])
    assert line == (
        "lower: low -0.100 [-0.150, -0.050]; higher: high +0.100 [+0.050, +0.150]; "
        f"not significant: n1, n2 (detectable effects {mdes[0]:.3f} to {mdes[1]:.3f})"
    )
    assert chapter.evidence_line(effects, "a", "m", ["low"]) == "lower: low -0.100 [-0.150, -0.050]"
    assert chapter.evidence_line(effects, "b", "m", ["low"]) == "no comparison"
    assert chapter.significant(effects, "m", ["low", "high"]) == [("a", "low")]
    assert chapter.significant(effects, "m", ["low", "high"], "higher") == [("a", "high")]


def test_answer_text_counts_the_wins_and_the_template():
    best = "best_val_loss"
    versus_baseline = pd.DataFrame(
        [
            effect("a", best, "dropout", -0.1, -0.15, -0.05, 0.01),
            effect("a", best, TEMPLATE, 0.0, -0.1, 0.1, 0.5),
            effect("a", best, GNI, 0.1, 0.05, 0.15, 0.02),
            effect("a", "final_val_loss", GNI, -0.1, -0.15, -0.05, 0.01),
        ]
    )
    versus_template = pd.DataFrame(
        [
            effect("a", best, TEMPLATE_GNI, 0.1, 0.05, 0.15, 0.01),
            effect("b", best, TEMPLATE_GNI, -0.1, -0.15, -0.05, 0.5),
        ]
    )
    judged = pd.DataFrame({"verdict": ["supported", "inconclusive"], "test": ["T1", "T2"]})
    mdes = chapter.detectable_range(versus_baseline[versus_baseline["measure"] == best])
    assert chapter.answer_text(versus_baseline, versus_template, judged, 3) == (
        "With every arm tuned alike on shakespeare_char (enwik8 and text8 reuse its choices) "
        "and 3 report seeds, 1 of 2 comparisons of dropout, weight decay, label smoothing or "
        "the paper's template with the tuned baseline (dropout on a), and 0 of 1 of a GNI "
        f"arm, lower the best validation loss after Holm's correction; {GNI} on a raises it; "
        "adding GNI to the paper's template lowers it on no dataset and raises it on a. On "
        "any measure, best or final, a GNI arm is significantly better than the tuned "
        f"baseline in 1 of 2 tests (T1). In best validation loss, differences smaller than "
        f"{mdes} nats per character (the minimum detectable effects) could be missed; the "
        "held-out losses are in this chapter's last section."
    )


def test_gap_table_baseline_gap_and_narrowest_gap():
    gap_effects = pd.DataFrame(
        [
            {**effect("a", "gap", "dropout", -0.1, -0.2, 0.0, 0.3), "baseline": None},
            {**effect("a", "gap", GNI, -0.3, -0.4, -0.2, 0.01), "baseline": None},
            {**effect("b", "gap", GNI, 0.1, 0.0, 0.2, 0.5), "baseline": None},
        ]
    )
    gap_effects["baseline"] = [Estimate(0.7, 0.6, 0.8, 3)] * 3
    gap_effects["treatment"] = [Estimate(0.6, 0.55, 0.65, 3)] * 3
    table = chapter.gap_table(gap_effects)
    assert table.loc[("a", "dropout")].to_dict() == {
        "baseline's gap": "0.700 ± 0.100",
        "arm's gap": "0.600 ± 0.050",
        "difference [95% CI]": "-0.100 [-0.200, +0.000]",
        "p (Holm)": "0.300",
    }
    assert chapter.narrowest_gap(gap_effects) == (
        f"a: {GNI} (-0.300 [-0.400, -0.200]); b: {GNI} (+0.100 [+0.000, +0.200])"
    )
    ok = pd.DataFrame({"arm": [BASELINE] * 3, "dataset": ["a", "a", "b"], "gap": [0.5, 1.0, 2]})
    assert chapter.baseline_gap(ok, ["b", "a"]) == "b 2.00; a 0.75"


def synergy_runs():
    """Three seeds with every arm (exact binary fractions: exact differences), and a
    fourth with the baseline alone, which drops out of every comparison."""
    rows = []
    for seed, base in zip([0, 1, 2], [3.0, 3.25, 3.5], strict=True):
        for arm, value in [
            (BASELINE, base),
            ("dropout", base - 0.25),
            (GNI, base - 0.125),
            ("dropout + GNI", base - 0.5),
        ]:
            rows.append({"dataset": "a", "seed": seed, "arm": arm, "best_val_loss": value})
    rows.append({"dataset": "a", "seed": 3, "arm": BASELINE, "best_val_loss": 3.0})
    return pd.DataFrame(rows).assign(final_val_loss=math.nan, final_test_loss=math.nan)


def test_synergy_effects_interaction_and_beyond_the_better_alone():
    synergy = chapter.synergy_effects(synergy_runs(), ["a"], {"a": GNI})
    assert synergy["quantity"].tolist() == [chapter.INTERACTION, chapter.BEYOND]
    assert synergy["better alone"].tolist() == ["dropout", "dropout"]  # lower than GNI's
    # (X + GNI) + baseline - X - GNI = (2b - 0.5) - (2b - 0.375); X + GNI - X = -0.5 + 0.25
    assert [e.mean for e in synergy["difference"]] == [-0.125, -0.25]
    assert [e.n for e in synergy["difference"]] == [3, 3]
    assert synergy["p_holm"].tolist() == [0.0, 0.0]
    assert synergy["family_size"].tolist() == [2, 2]
    assert chapter.synergy_summary(synergy, chapter.BEYOND) == (
        "dropout + GNI lower, -0.250 [-0.250, -0.250] nats/char (Holm p < 0.001)"
    )
    assert chapter.synergy_summary(synergy, chapter.INTERACTION).startswith("dropout lower, ")
    table = chapter.synergy_table(synergy)
    assert table.index.names == ["dataset", "measure", "X", "quantity"]
    assert table["p (Holm)"].tolist() == ["0.000", "0.000"]
    assert table["detectable (80%)"].tolist() == ["0.000", "0.000"]  # no spread


def test_synergy_effects_is_empty_without_the_combinations():
    runs = synergy_runs()
    assert chapter.synergy_effects(runs[runs["arm"] != "dropout + GNI"], ["a"], {"a": GNI}).empty
    empty = chapter.synergy_effects(runs, [], {})
    assert empty.empty and {"p_holm", "family_size"} <= set(empty.columns)
