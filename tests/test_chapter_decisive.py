"""Chapter 8's analysis (gni.chapters.decisive) on small constructed records and tables
whose answers can be checked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gni import claims, stats
from gni.chapters import decisive as chapter
from gni.chapters import decisive_prose as prose
from gni.envelope import FORMAT, trials_path
from gni.preregistration import load_design

ROOT = Path(__file__).resolve().parents[1]
DESIGN = load_design(ROOT / "book" / "preregistration" / "design.yaml")
X = "\N{MULTIPLICATION SIGN}"


def write_trials(root: Path, regime: str, dataset: str, arm: str, trials: list[dict]) -> None:
    path = trials_path(regime, dataset, arm, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "regime": regime, "dataset": dataset, "arm": arm, "trials": trials}
    path.write_text(json.dumps(record))


def trial(number, value, lr, low=2.5e-4, high=8e-3, **params):
    return {
        "number": number,
        "params": {"learning_rate": lr, **params},
        "run_id": f"run-{number}",
        "value": value,
        "lr_range": [low, high],
    }


@pytest.fixture
def trials(tmp_path):
    write_trials(
        tmp_path,
        "cpu",
        "enwik8",
        "baseline",
        [trial(0, 2.0, 1e-3), trial(1, None, 7e-3), trial(2, 1.5, 2e-3), trial(3, 1.5, 3e-3)],
    )
    write_trials(
        tmp_path,
        "cpu",
        "enwik8",
        "gni",
        [
            trial(0, 1.8, 4e-4, family="exponential", sigma0=0.003, decay=0.01),
            trial(1, 1.6, 2.7e-4, family="anticorrelated", sigma0=1e-4),
            # the range grew at its low end after trial 1, and the choice is inside it
            trial(2, 1.4, 1e-4, low=6.25e-5, family="anticorrelated", sigma0=2e-4),
        ],
    )
    return chapter.trials_table(DESIGN, tmp_path)


def test_the_trials_table_has_every_trial_and_the_best_so_far(trials):
    assert len(trials) == 7  # the studies without a record are left out
    base = trials[trials["arm"] == "baseline"]
    assert base["best_so_far"].tolist() == [2.0, 2.0, 1.5, 1.5]  # a failed trial keeps it
    assert math.isnan(base["value"].iloc[1])
    noisy = trials[trials["arm"] == "gni"].iloc[0]
    assert noisy["gamma"] == pytest.approx(0.99) and noisy["sigma0"] == 0.003


def test_the_choice_is_the_lowest_and_earliest_and_its_range_is_checked(trials):
    choices = chapter.choices_table(trials, DESIGN.edge_factor).set_index("arm")
    assert choices.loc["baseline", "trial"] == 2  # 1.5 twice: the earlier
    assert choices.loc["baseline", "learning_rate"] == 2e-3
    assert choices.loc["baseline", "interior"] and not choices.loc["baseline", "extended"]
    assert choices.loc["gni", "extended"] and choices.loc["gni", "lr_low"] == 6.25e-5
    assert choices.loc["gni", "interior"]  # 1e-4 > 1.25 x 6.25e-5
    assert choices.loc["gni", "noise"] == (
        "anticorrelated, \N{GREEK SMALL LETTER SIGMA}\N{SUBSCRIPT ZERO} = 0.0002"
    )
    assert chapter.noise_text("anticorrelated", 1.26e-5, math.nan) == (
        "anticorrelated, \N{GREEK SMALL LETTER SIGMA}\N{SUBSCRIPT ZERO} = 0.0000126"
    )
    text = prose.interior_sentence(choices.reset_index(), DESIGN.edge_factor)
    assert text.startswith("every one of the 2 chosen learning rates lies more than a factor")
    assert text.endswith("the range grew for 1 arm: cpu \N{MIDDLE DOT} enwik8 (gni)")
    view = chapter.choices_view(choices.reset_index())
    assert view["trial"].tolist() == ["3/4", "3/3"]
    assert view["range"].tolist()[1] == "0.0000625\N{EN DASH}0.008 (extended)"
    assert prose.step_sentence(choices.reset_index(), "gni", "baseline") == (
        f"cpu \N{MIDDLE DOT} enwik8 0.05{X}"
    )
    assert prose.step_sentence(choices.reset_index(), "template+gni", "template") == "n/a"


def test_an_edge_choice_is_named(trials):
    choices = chapter.choices_table(trials, 5.0)  # 2e-3 within 5x of 8e-3; 1e-4 of 6.25e-5
    text = prose.interior_sentence(choices, 5.0)
    assert text.startswith("2 of the 2 chosen learning rates still lie on an edge")
    one = prose.interior_sentence(choices.assign(interior=[True, False]), 5.0)
    assert one.startswith("1 of the 2 chosen learning rates still lies on an edge")


def runs_table(effects: dict[tuple[str, str, str], float], seeds=(1000, 1001, 1002, 1003)):
    """Confirmation runs: the baseline at 2.0 + a per-seed wiggle, every other arm at the
    baseline plus its effect plus its own small wiggle."""
    rng = np.random.default_rng(0)
    rows = []
    for regime, dataset in {(r, d) for r, d, _ in effects}:
        base = {s: 2.0 + 0.05 * rng.standard_normal() for s in seeds}
        for arm in DESIGN.regimes[regime].datasets[dataset]:
            shift = effects.get((regime, dataset, arm), 0.0)
            for s in seeds:
                value = (
                    base[s] + shift + (0.002 * rng.standard_normal() if arm != "baseline" else 0)
                )
                rows.append(
                    {
                        "regime": regime,
                        "profile": DESIGN.regimes[regime].profile,
                        "dataset": dataset,
                        "arm": arm,
                        "seed": s,
                        "status": "ok",
                        "run_id": f"{regime}-{dataset}-{arm}-{s}",
                        "best_val_loss": value,
                        "final_val_loss": value + 0.1,
                        "test_loss_at_best_val": value + 0.05 if dataset == "enwik8" else None,
                        "wall_seconds": 60.0,
                    }
                )
    return pd.DataFrame(rows).sort_values(["regime", "dataset", "arm", "seed"], ignore_index=True)


def test_each_hypothesis_is_its_treatment_against_its_reference_where_both_run():
    runs = runs_table(
        {
            ("cpu", "enwik8", "gni"): -0.05,
            ("cpu", "shakespeare_char", "gni"): 0.0,
            ("cpu", "enwik8", "template"): 0.0,
            ("cpu", "shakespeare_char", "template"): 0.0,
            ("cpu-long", "enwik8", "baseline"): 0.0,
        }
    )
    rows = chapter.hypothesis_rows(DESIGN, runs, "best_val_loss")
    assert set(rows["hypothesis"]) == {
        "gni-lowers-loss",
        "gni-adds-to-template",
        "gni-beats-template",
    }
    lower = rows[rows["hypothesis"] == "gni-lowers-loss"].set_index("where")
    # cpu-long enwik8 has both arms too: three tests of four
    assert len(lower) == 3
    e = lower.loc["cpu \N{MIDDLE DOT} enwik8", "difference"]
    assert e.mean == pytest.approx(-0.05, abs=0.005) and e.n == 4
    judged = chapter.judge(DESIGN, rows)
    lower = judged[judged["claim"] == "gni-lowers-loss"]
    assert lower["test"].iloc[0] == "GNI against the baseline: cpu \N{MIDDLE DOT} shakespeare_char"
    lower = lower.assign(place=lower["test"].str.split(": ").str[1]).set_index("place")
    assert lower.loc["cpu \N{MIDDLE DOT} enwik8", "verdict"] == claims.SUPPORTED
    # Holm over the declared family of four: the test not run (cpu-long shakespeare_char)
    # counts as p = 1
    assert lower["family_size"].tolist() == [4, 4, 4, 4]
    pending = lower.loc["cpu-long \N{MIDDLE DOT} shakespeare_char"]
    assert pending["measured"] == chapter.PENDING and pending["verdict"] == claims.INCONCLUSIVE
    assert pd.isna(pending["p"])
    ran = lower[lower["p"].notna()]
    expected = stats.holm(ran["p"].astype(float).to_numpy(), 4)
    assert ran["p_holm"].astype(float).tolist() == pytest.approx(list(expected))
    # in the design's order: the registered family's order
    assert list(lower.index) == [chapter.where(r, d) for r, d in DESIGN.family("gni-lowers-loss")]
    supported = lower.loc["cpu \N{MIDDLE DOT} enwik8"]
    assert supported["measured"].endswith(f"; detectable: {supported['mde']:.3f} nats/char")
    answer = prose.answer_sentence(judged, DESIGN)
    assert answer.startswith(
        "GNI against the baseline, 1 supported, 2 inconclusive and 1 not yet run of 4;"
    )
    beats = judged[judged["claim"] == "gni-beats-template"].iloc[1]  # cpu enwik8: -0.05
    assert beats["verdict"] == claims.SUPPORTED
    assert prose.significant_sentence(judged, DESIGN) == (
        "Significant after Holm's correction: GNI against the baseline, cpu \N{MIDDLE DOT} "
        f"enwik8: {supported['measured'].split(';')[0]}, supported; GNI against the "
        f"template, cpu \N{MIDDLE DOT} enwik8: {beats['measured'].split(';')[0]}, supported."
    )
    assert prose.significant_sentence(judged.iloc[2:3], DESIGN) == "No test is significant yet."
    robust = chapter.judge_all_of_rows(DESIGN, judged)
    direct = claims.judge_all_of("gni-robust", judged[judged["claim"] == "gni-lowers-loss"], 4)
    assert robust.drop(columns="test").equals(direct.drop(columns="test"))
    assert robust["test"].tolist() == ["GNI lower in every regime and dataset"]
    both = pd.concat([judged, robust], ignore_index=True)
    assert prose.answer_sentence(both, DESIGN).endswith(
        "; GNI lower in every regime and dataset, inconclusive."
    )
    # the secondary measures: each hypothesis on each measure its own family
    secondary = chapter.with_family(
        pd.concat([chapter.hypothesis_rows(DESIGN, runs, m) for m in DESIGN.secondary_measures]),
        DESIGN,
    )
    sizes = secondary.groupby(["hypothesis", "measure"])["family_size"].first()
    assert sizes[("gni-lowers-loss", "final_val_loss")] == 4
    assert sizes[("gni-lowers-loss", "test_loss_at_best_val")] == 2  # enwik8 only
    test_rows = secondary[secondary["measure"] == "test_loss_at_best_val"]
    assert set(test_rows["where"]) == {
        "cpu \N{MIDDLE DOT} enwik8",
        "cpu-long \N{MIDDLE DOT} enwik8",
    }
    table = chapter.secondary_table(secondary, 0.05)
    assert set(table["hypothesis"]) == {chapter.SHORT[h] for h in secondary["hypothesis"]}
    assert set(table["measure"]) == {"final validation loss", "test loss at the best evaluation"}
    assert table.columns.tolist() == [
        "hypothesis",
        "reading",
        "measure",
        "where",
        "difference",
        "Holm p",
    ]


def test_the_figure_rows_carry_the_yardstick_and_the_family():
    runs = runs_table({("cpu", "enwik8", "gni"): -0.05, ("cpu", "shakespeare_char", "gni"): 0.01})
    rows = chapter.hypothesis_rows(DESIGN, runs, "best_val_loss")
    ngram = {("cpu", "enwik8"): 2.679}
    effects = chapter.labelled_effects(rows, runs, ngram, DESIGN)
    base = runs[(runs["arm"] == "baseline") & (runs["dataset"] == "enwik8")]["best_val_loss"].mean()
    label = effects[effects["where"] == "cpu \N{MIDDLE DOT} enwik8"]["label"].iloc[0]
    assert label == f"cpu \N{MIDDLE DOT} enwik8 (baseline {base:.2f}, n-gram 2.68)"
    assert set(effects["measure"]) == set(effects["hypothesis"])
    assert set(effects["family_size"]) == {3, 4}  # the declared families
    panels = chapter.hypothesis_panels(DESIGN, effects)
    assert panels[0] == ("gni-lowers-loss", "gni \N{MINUS SIGN} baseline")
    standing = chapter.standing_table(runs, ngram, "best_val_loss").set_index("dataset")
    assert standing.loc["enwik8", "n-gram"] == 2.679
    best = min(standing.loc["enwik8", a] for a in DESIGN.arms)
    assert standing.loc["enwik8", "best arm \N{MINUS SIGN} n-gram"] == f"{best - 2.679:+.3f}"
    assert math.isnan(standing.loc["shakespeare_char", "n-gram"])


def test_the_declared_families():
    assert chapter.declared_size(DESIGN, "gni-lowers-loss") == 4
    assert chapter.declared_size(DESIGN, "gni-adds-to-template") == 3
    assert chapter.declared_size(DESIGN, "gni-lowers-loss", "test_loss_at_best_val") == 2
    assert chapter.declared_size(DESIGN, "gni-beats-template", "test_loss_at_best_val") == 1


def test_stages_pending_cut_and_span():
    stage = {
        "profile": "cpu",
        "pilot_paired_sd": 0.01,
        "pilot_df": 12,
        "sd_bound": 0.0124,
        "family_size": 4,
        "seeds": [1000, 1001, 1002],
        "n_seeds": 3,
        "mde": 0.02,
    }
    table = chapter.stages_table({"cpu": stage})
    assert "profile" not in table.columns  # the regime names it
    assert table.columns[:3].tolist() == ["regime", "n", "MDE"]  # a phone's first view
    assert table.iloc[0]["seeds"] == "1000\N{EN DASH}1002" and table.iloc[0]["n"] == 3
    text = prose.pending_text(DESIGN, {"cpu": (10, 12)})
    assert "cpu (10 of its 12 confirmation runs are recorded)" in text
    assert "cpu-long (its stage 2 is not frozen yet)" in text
    assert prose.pending_text(DESIGN, {"cpu": (12, 12), "cpu-long": (4, 4)}) == ""
    assert prose.cut_text(DESIGN) == (
        "text8 in every regime; at cpu-long, the template and template+gni arms on enwik8"
    )
    assert prose.span_text((2.5e-4, 8e-3)) == f"32{X} (0.00025 to 0.008)"
    assert prose.profiles_text(DESIGN) == (
        "cpu: 600 steps on the first 15,000 training characters; "
        "cpu-long: 2,400 steps on the whole training split"
    )


def test_the_tuning_curve_is_the_best_so_far_by_trial(trials):
    band = chapter.tuning_band(trials)
    study = band[band["arm"] == "gni"]
    assert study["trial"].tolist() == [1, 2, 3]
    assert study["mean"].tolist() == study["lo"].tolist() == [1.8, 1.6, 1.4]
    assert set(band["where"]) == {"cpu \N{MIDDLE DOT} enwik8"}


def test_what_the_seeds_detect_against_what_they_were_chosen_for():
    runs = runs_table({("cpu", "enwik8", "gni"): -0.05, ("cpu-long", "enwik8", "gni"): 0.0})
    rows = chapter.hypothesis_rows(DESIGN, runs, "best_val_loss")
    judged = chapter.judge(DESIGN, rows)
    mde = judged["mde"].dropna().astype(float)
    # every cpu test spreads more than a bound of 1e-6, no cpu-long test more than 1
    stages = {"cpu": {"sd_bound": 1e-6}, "cpu-long": {"sd_bound": 1.0}}
    wider = int((rows["regime"] == "cpu").sum())
    assert 0 < wider < len(rows) == len(mde)
    assert prose.reached_sentence(judged, rows, stages, DESIGN) == (
        f"The {len(mde)} tests that ran detect {mde.min():.3f} to {mde.max():.3f} nats per "
        "character with 80% power at their family's corrected level; "
        f"{int((mde <= 0.01).sum())} of them reach the 0.01 nats per character their seed count "
        "was chosen for. "
        f"The paired differences of {wider} of the {len(rows)} spread more than their "
        "regime's pilot bound (Table 1), the SD that the seed count assumed."
    )
    assert prose.reached_sentence(judged.iloc[:0], rows.iloc[:0], stages, DESIGN) == ""
