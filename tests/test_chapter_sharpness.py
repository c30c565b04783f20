"""Chapter 4's runs, probes, comparisons and cost (gni.chapters.sharpness) on small
constructed tables with known answers: no training, no stored records, no notebook. The
design and arm names here are shared with tests/test_chapter_sharpness_shapes.py."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gni import report, stats
from gni.chapters import sharpness as ch
from gni.claims import Claim, Declarations, Measure, factor_text
from gni.results import ResultsStore
from gni.tuning import Protocol

TIMES, MINUS = "\N{MULTIPLICATION SIGN}", "\N{MINUS SIGN}"
BASE, LOW = "baseline, lr 0.002", "baseline, lr 0.001"
GNI, DROP, DROP_GNI = "GNI (anticorrelated)", "dropout", "dropout + GNI"
DECLARATIONS = Declarations(
    alpha=0.05,
    power=0.8,
    measures={m: Measure(m, "ratio") for m in ch.MEASURES},
    claims={
        "flatter": Claim(
            id="flatter",
            chapter="04_sharpness",
            section="flatter",
            claim="GNI finds flatter minima",
            source="a test",
            test="paired-t",
            direction=-1,
            measures=tuple(ch.MEASURES),
            family="GNI",
        )
    },
)


def small_design(**changes) -> ch.Design:
    """Two baselines, dropout, one GNI model and dropout + GNI; the profile's lr 0.002."""
    fields = {
        "probed": {
            LOW: {"learning_rate": 0.001},
            BASE: {"learning_rate": 0.002},
            DROP: {"learning_rate": 0.002, "dropout": 0.1},
            GNI: {"learning_rate": 0.002, "noise_kind": "anticorrelated"},
            DROP_GNI: {"learning_rate": 0.002, "dropout": 0.1, "noise_kind": "anticorrelated"},
        },
        "baselines": (LOW, BASE),
        "chosen": (DROP, GNI, DROP_GNI),
        "same_as": {},
        "lr_of": {LOW: 0.001, BASE: 0.002, DROP: 0.002, GNI: 0.002, DROP_GNI: 0.002},
        "reference": {LOW: BASE, DROP: BASE, GNI: BASE, DROP_GNI: BASE},
        "base_reference": BASE,
        "gni_probed": (GNI,),
        "added": {DROP_GNI: DROP},
        "order": (LOW, BASE, DROP, GNI, DROP_GNI),
        "kind": {
            LOW: "baseline",
            BASE: "baseline",
            DROP: "regularizer",
            GNI: "GNI",
            DROP_GNI: "regularizer + GNI",
        },
    }
    return ch.Design(**(fields | changes))


def probes_of(factors: dict[str, list[float]], base: float = 8.0) -> pd.DataFrame:
    """Runs of seeds 2, 3, 4 whose five measures are ``base`` times the arm's factor of
    that seed, with their log2 columns (what :func:`ch.probe_table` adds)."""
    rows = []
    for arm, per_seed in factors.items():
        for seed, f in zip((2, 3, 4), per_seed, strict=True):
            rows.append(
                {
                    "run_id": f"{arm}-{seed}",
                    "arm": arm,
                    "seed": seed,
                    "status": "ok",
                    **{m: base * f for m in ch.MEASURES},
                }
            )
    probes = pd.DataFrame(rows)
    for m in ch.MEASURES:
        probes[f"log2_{m}"] = np.log2(probes[m])
    return probes


def row(mean: float, lo: float, hi: float, n: int = 3, **fields) -> SimpleNamespace:
    """A comparison as :func:`ch.effects` gives one."""
    return SimpleNamespace(difference=stats.Estimate(mean, lo, hi, n), **fields)


# ---------------------------------------------------------------------------------------
# The runs and the design


def test_sweeps_pass_the_page_settings_and_count_every_run_once(monkeypatch):
    calls = []

    def fake_run(spec, **kwargs):
        calls.append((spec, kwargs))
        return pd.DataFrame({"run_id": spec["ids"], "wall_seconds": [60.0] * len(spec["ids"])})

    monkeypatch.setattr(ch, "run", fake_run)
    sweep = ch.Sweeps("cpu", "dask", 2)
    sweep({"ids": ["a", "b"]})
    probe = object()
    sweep({"ids": ["b", "c"]}, probes=[probe])
    assert calls[1][1] == {
        "profile": "cpu",
        "executor": "dask",
        "workers": 2,
        "probes": [probe],
        "progress": False,
        "raise_on_failure": True,
    }
    assert calls[0][1]["probes"] == ()
    assert sweep.all_runs()["run_id"].tolist() == ["a", "b", "c"]


def test_names_and_settings_in_words():
    assert ch.baseline_at(0.002) == "baseline, lr 0.002"
    assert ch.baseline_at(1e-3) == "baseline, lr 0.001"
    settings = {
        "noise_kind": "anticorrelated",
        "noise_schedule": "constant",
        "noise_args": {"sigma0": 0.00031224},
    }
    assert ch.chapter2_setting("mid", settings) == (
        "mid: anticorrelated noise, constant schedule, sigma0 0.00031224"
    )
    assert ch.extra_arms(0.01, 0.99, settings) == {
        ch.CHAPTER1: {
            "noise_schedule": "exponential",
            "noise_args": {"sigma0": 0.01, "gamma": 0.99},
        },
        ch.CHAPTER2: settings,
    }
    overrides = {
        "learning_rate": 0.002,
        "min_lr": 0.0002,
        "dropout": 0.1,
        "noise_args": {"sigma0": 0.01, "gamma": 0.99},
        "noise_kind": "white",
        "steps": 5,
    }
    assert (
        ch.settings_text(overrides)
        == "dropout=0.1, gamma=0.99, sigma0=0.01, noise_kind=white, steps=5"
    )
    assert ch.settings_text({"learning_rate": 0.001}) == "none"


def test_the_design_compares_each_arm_with_the_baseline_at_its_learning_rate():
    protocol = Protocol((0.001, 0.002), (0, 1), (2, 3, 4))
    noise = {
        "noise_schedule": "constant",
        "noise_kind": "anticorrelated",
        "noise_args": {"sigma0": 3e-4},
    }
    chosen = {
        "dropout": {"learning_rate": 0.002, "dropout": 0.1},
        "weight decay": {"learning_rate": 0.002, "weight_decay": 0.1},
        "label smoothing": {"learning_rate": 0.002, "label_smoothing": 0.1},
        GNI: {"learning_rate": 0.001, **noise},
        "GNI (exponential)": {
            "learning_rate": 0.002,
            "noise_schedule": "exponential",
            "noise_args": {"sigma0": 0.001, "gamma": 0.99},
        },
        "paper's template": {"learning_rate": 0.002, "dropout": 0.2, "weight_decay": 0.1},
        "paper's template + GNI": {"learning_rate": 0.002, "dropout": 0.2, **noise},
        "dropout + GNI": {"learning_rate": 0.002, "dropout": 0.1, **noise},
        "weight decay + GNI": {"learning_rate": 0.002, "weight_decay": 0.1, **noise},
        "label smoothing + GNI": {"learning_rate": 0.002, "label_smoothing": 0.1, **noise},
    }
    # chapter 2's GNI is chapter 3's anticorrelated arm: the same run, probed once
    extra = ch.extra_arms(0.01, 0.99, {"learning_rate": 0.001, **noise})
    d = ch.design(protocol, "shakespeare_char", "smoke", chosen, extra, profile_lr=0.003)
    assert d.baselines == ("baseline, lr 0.001", "baseline, lr 0.002", "baseline, lr 0.003")
    assert d.same_as == {ch.CHAPTER2: GNI}
    assert ch.CHAPTER2 not in d.probed and d.probed[ch.CHAPTER1] == extra[ch.CHAPTER1]
    assert d.gni_probed == (GNI, "GNI (exponential)", ch.CHAPTER1)
    assert d.paper_gni == ch.CHAPTER1
    assert d.base_reference == "baseline, lr 0.003"
    assert d.lr_of[ch.CHAPTER1] == 0.003  # no learning rate of its own: the profile's
    assert d.reference[GNI] == "baseline, lr 0.001"
    assert d.reference["dropout"] == "baseline, lr 0.002"
    assert d.reference[ch.CHAPTER1] == "baseline, lr 0.003"
    assert d.reference["baseline, lr 0.001"] == "baseline, lr 0.003"
    assert "baseline, lr 0.003" not in d.reference
    assert d.added["dropout + GNI"] == "dropout"
    assert d.order[:4] == (*d.baselines, "dropout")
    assert d.order[-4:] == tuple(d.added)
    assert d.kind["paper's template + GNI"] == "regularizer + GNI"
    assert d.kind[ch.CHAPTER1] == "GNI"
    assert ch.lr_choices(d) == (
        "0.002 for dropout, weight decay, label smoothing, GNI (exponential), paper's template, "
        "paper's template + GNI, dropout + GNI, weight decay + GNI, label smoothing + GNI; "
        "0.001 for GNI (anticorrelated)"
    )


def test_extras_note_names_the_shared_configurations():
    assert ch.extras_note({}) == "Both differ from every configuration of chapter 3."
    assert ch.extras_note({ch.CHAPTER2: GNI}) == (
        "Chapter 2's GNI and chapter 3's tuned GNI (anticorrelated) are the same "
        "configuration, so its runs appear once, under chapter 3's name."
    )
    both = ch.extras_note({ch.CHAPTER1: "GNI (exponential)", ch.CHAPTER2: GNI})
    assert both.startswith("Chapter 1's GNI and chapter 3's tuned GNI (exponential) are")
    assert both.count("Chapter 2's GNI") == 1


def test_the_arms_table_and_colours():
    d = small_design()
    probes = probes_of({BASE: [1, 1, 1], GNI: [1, 1, 1]})
    table = ch.arms_table(d, probes)
    assert list(table.index) == list(d.order)
    assert table.loc[DROP_GNI, "compared with"] == f"{BASE}; and {DROP}"
    assert table.loc[BASE, "compared with"] == "(the reference)"
    assert table.loc[LOW, "learning rate"] == "0.001"
    assert table.loc[DROP, "settings"] == "dropout=0.1"
    assert table["runs probed"].tolist() == [0, 3, 0, 3, 0]
    colors = ch.arm_colors(d)
    assert colors[BASE] == "black" and colors[LOW] == ch._PALETTE[7]
    assert colors[GNI] != colors[DROP]


def test_diverged_runs_are_named_with_their_seeds():
    runs = pd.DataFrame(
        {"arm": ["a", "b", "b"], "seed": [2, 3, 4], "status": ["ok", "diverged", "ok"]}
    )
    assert ch.diverged(runs) == "b (seed 3)"
    assert ch.diverged(runs[runs["status"] == "ok"]) == "none"


# ---------------------------------------------------------------------------------------
# The probes


def sharpness_probe(top: float, trace: float, seconds: float = 2.0) -> dict:
    return {
        "loss": 1.5,
        "top_eigenvalues": [top, top / 2],
        "trace": trace,
        "epsilon_sharpness": 0.25,
        "adaptive_sharpness": 0.5,
        "average_sharpness": 0.125,
        "seconds": seconds,
    }


def rescaled_probe(alpha: float, seconds: float = 1.0) -> dict:
    return {
        "alpha": alpha,
        "loss": 1.5000001,
        "top_eigenvalue": 16.0,
        "epsilon_sharpness": 0.5,
        "adaptive_sharpness": 0.5,
        "average_sharpness": 0.25,
        "seconds": seconds,
    }


def test_the_generalization_gap_is_read_at_the_last_evaluation():
    curves = pd.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "b"],
            "iter": [200, 0, 100, 0, 50],
            "val_loss": [1.6, 3.0, 2.0, 3.0, 2.5],
            "train_loss": [1.2, 3.0, 1.9, 3.0, 2.0],
        }
    )
    gaps = ch.generalization_gaps(curves)
    assert gaps["a"] == pytest.approx(0.4) and gaps["b"] == pytest.approx(0.5)


def test_the_probe_table_holds_each_runs_measures_and_their_logarithms():
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "arm": [BASE, GNI],
            "seed": [2, 2],
            "status": ["ok", "ok"],
            "best_val_loss": [1.4, 1.5],
            "gap": [0.1, 0.2],
        }
    )
    sharp = {"r1": sharpness_probe(8.0, 100.0), "r2": sharpness_probe(4.0, -1.0)}
    rescaled = {"r1": rescaled_probe(2.0), "r2": rescaled_probe(0.5)}
    probes = ch.probe_table(runs, sharp, rescaled, small_design().kind)
    assert probes["kind"].tolist() == ["baseline", "GNI"]
    assert probes["top_eigenvalue"].tolist() == [8.0, 4.0]
    assert probes["log2_top_eigenvalue"].tolist() == [3.0, 2.0]
    assert math.isnan(probes.loc[1, "log2_trace"])  # a negative trace has no logarithm
    assert probes["rescaled_top_eigenvalue"].tolist() == [16.0, 16.0]
    assert "rescaled_trace" not in probes
    assert probes["probe_seconds"].tolist() == [3.0, 3.0]
    assert probes["alpha"].tolist() == [2.0, 0.5]


def test_probes_are_read_from_the_store_once_per_run(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    for run_id, top in (("r1", 8.0), ("r2", 4.0)):
        store.path(run_id).mkdir()
        for name, probe in (
            ("sharpness_probe", sharpness_probe(top, 10.0)),
            ("rescaled_probe", rescaled_probe(2.0)),
        ):
            (store.path(run_id) / f"probe_{name}.json").write_text(json.dumps(probe))
    curves = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "iter": [10, 10],
            "val_loss": [2.0, 2.5],
            "train_loss": [1.5, 2.25],
        }
    )
    monkeypatch.setattr(ch, "load_curves", lambda run_ids, store: curves)
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "arm": [BASE, GNI, GNI],
            "seed": [2, 2, 3],
            "status": ["ok", "ok", "diverged"],
            "best_val_loss": [1.4, 1.5, math.nan],
        }
    )
    probes, sharp = ch.load_probes(runs, small_design().kind, store)
    assert probes["run_id"].tolist() == ["r1", "r2"]  # the diverged run has no probe
    assert probes["gap"].tolist() == [0.5, 0.25]
    assert list(sharp) == ["r1", "r2"] and sharp["r2"]["top_eigenvalues"][0] == 4.0


def test_the_probe_settings_in_words():
    settings = {
        "n_batches": 1,
        "batch_size": 32,
        "k": 5,
        "trace_samples": 10,
        "rho": 0.05,
        "adaptive_rho": 0.5,
        "sigma": 0.005,
        "ascent_steps": 10,
        "average_samples": 10,
        "slq_vectors": 2,
        "slq_steps": 16,
        "split": "val",
    }
    glued = ch.settings_glue(settings)
    assert glued["setting_rho"] == "0.05" and glued["setting_batch_size"] == "32"
    assert glued["setting_split"] == "val"
    assert glued["probe_batches_text"] == "1 fixed batch"
    assert glued["slq_vectors_text"] == "2 random vectors"


# ---------------------------------------------------------------------------------------
# Which models are flatter


def test_the_geometric_mean_and_its_factor():
    # log values ln 2 and ln 8: mean ln 4, standard error ln 2, one degree of freedom
    factor = 2 ** scipy_stats.t.ppf(0.975, 1)
    assert ch.geometric(pd.Series([2.0, 8.0])) == f"4 {TIMES}/\N{DIVISION SIGN} {factor:.2f}"
    assert ch.geometric(pd.Series([5.0, 0.0, -1.0])) == "5"  # the positive values only


def test_the_summary_tables_follow_the_order_and_skip_absent_arms():
    probes = probes_of({BASE: [1, 2, 4], GNI: [1, 1, 1]}).assign(
        best_val_loss=1.5, probe_loss=1.4, gap=[0.1, 0.2, 0.3, 0.1, 0.1, 0.1]
    )
    measures, losses = ch.summary_tables(probes, [GNI, DROP, BASE])
    assert list(measures.index) == [GNI, BASE] == list(losses.index)
    assert measures.loc[GNI, ch.SHORT["top_eigenvalue"]] == f"8 {TIMES}/\N{DIVISION SIGN} 1.00"
    assert measures.loc[BASE, "trace"].startswith("16 ")  # 8 x (1 x 2 x 4)^(1/3)
    assert losses.loc[BASE, "runs"] == 3
    assert losses.loc[GNI, "generalization gap"] == "0.100 ± 0.000"
    assert losses.loc[BASE, "best val loss"] == "1.500 ± 0.000"


def test_the_comparison_pairs_of_the_two_questions():
    other, gni = ch.comparison_pairs(small_design(), {BASE, LOW, DROP, GNI, DROP_GNI})
    assert other == [(BASE, LOW), (BASE, DROP)]
    assert gni == [(BASE, GNI), (DROP, DROP_GNI)]
    other, gni = ch.comparison_pairs(small_design(), {BASE, GNI})  # only what was probed
    assert (other, gni) == ([], [(BASE, GNI)])


def test_effects_are_log2_ratios_judged_in_two_families():
    halves = [2**-0.9, 2**-1.0, 2**-1.1]  # GNI: half the baseline's measures, give or take
    probes = probes_of(
        {BASE: [1, 1, 1], LOW: [1, 2, 4], DROP: [1, 1, 1], GNI: halves, DROP_GNI: [1, 1.1, 0.95]}
    )
    table, judged = ch.effects(probes, small_design(), DECLARATIONS)
    assert len(table) == 4 * 5 and len(judged) == 2 * 5
    gni = ch.lookup(table, GNI, "top_eigenvalue")
    assert gni.difference.mean == pytest.approx(-1.0)
    assert report.ratio(gni.difference).startswith(f"{TIMES}0.50 [")
    assert (gni.family, gni.family_size, gni.label) == ("GNI", 10, GNI)
    assert ch.lookup(table, DROP_GNI, "trace").label == f"{DROP_GNI} (vs {DROP})"
    assert ch.lookup(table, LOW, "trace").label == f"{LOW} (vs {BASE})"
    other = table[table["family"] == "other"]
    assert set(other["arm"]) == {LOW, DROP} and set(other["family_size"]) == {10}
    # Holm runs within each family: the GNI rows' adjusted p-values are the judged ones
    assert table[table["family"] == "GNI"]["p_holm"].tolist() == pytest.approx(
        judged["p_holm"].astype(float).tolist()
    )
    np.testing.assert_allclose(other["p_holm"], stats.holm(other["p"].to_numpy(float)))
    expected = 2 ** stats.minimum_detectable_effect(gni.difference, alpha=0.05 / 10)
    assert gni.detectable == pytest.approx(expected)
    assert judged["test"].iloc[0] == f"{GNI} relative to {BASE}, {ch.MEASURES['top_eigenvalue']}"
    assert judged["verdict"].iloc[0] == "supported"
    rows = ch.effects_rows(table)
    assert rows.loc[(GNI, ch.MEASURES["trace"]), "seeds"] == 3
    assert rows.loc[(GNI, ch.MEASURES["trace"]), "detectable factor (80%, corrected)"] == (
        factor_text(ch.lookup(table, GNI, "trace").detectable)
    )
    assert ch.top_gni(table)["arm"].tolist() == [GNI, DROP_GNI]
    assert ch.verdict(gni).startswith(f"lower, {TIMES}0.50 [")
    assert ch.lr_effect(table, small_design()).startswith(
        f"the top eigenvalue of the {LOW} relative to the {BASE} is not significant, {TIMES}2.00"
    )


def test_the_detectable_factor_is_at_the_corrected_level():
    e = stats.Estimate(0.5, 0.0, 1.0, 3)
    assert ch.detectable_factor(e, 4) == pytest.approx(
        2 ** stats.minimum_detectable_effect(e, alpha=stats.corrected_alpha(4))
    )
    assert ch.detectable_factor(e, 4) > ch.detectable_factor(e, 1)  # stricter: larger
    assert math.isnan(ch.detectable_factor(stats.Estimate(0.5, math.nan, math.nan, 1), 4))


def test_a_verdict_states_the_direction_or_the_detectable_factor():
    lower = row(-1.0, -1.5, -0.5, p_holm=0.01, detectable=3.0, label="A", arm="a")
    higher = row(1.0, 0.5, 1.5, p_holm=0.0004, detectable=3.0, label="C", arm="c")
    null = row(0.0, -1.0, 1.0, p_holm=0.5, detectable=1307.2, label="B", arm="b")
    assert ch.verdict(lower) == f"lower, {TIMES}0.50 [0.35, 0.71] (Holm p = 0.010)"
    assert ch.verdict(higher) == f"higher, {TIMES}2.00 [1.41, 2.83] (Holm p < 0.001)"
    assert ch.verdict(null) == (
        f"not significant, {TIMES}1.00 [0.50, 2.00] (Holm p = 0.50; detectable: a factor of 1,307)"
    )
    rows = pd.DataFrame([vars(lower), vars(null)])
    assert ch.verdicts(rows) == f"A: {ch.verdict(lower)}; B: {ch.verdict(null)}"
    assert ch.verdicts(rows, "arm").startswith("a: lower")
    nobody = small_design(baselines=(BASE,))
    assert ch.lr_effect(rows.assign(measure="top_eigenvalue"), nobody) == (
        "only one learning rate is probed"
    )


def test_the_range_of_detectable_factors():
    assert ch.factor_range([2.77, 1307.0, 30.0]) == "2.77 to 1,307"
    assert ch.factor_range([]) == "n/a"
    rows = pd.DataFrame(
        [
            vars(row(0, -1, 1, n=3, detectable=5.0)),
            vars(row(0, math.nan, math.nan, n=1, detectable=math.nan)),
        ]
    )
    assert ch.detectable_factors(rows) == [5.0]  # one pair has no interval


def test_the_answer_counts_and_names_the_significant_comparisons():
    rows = pd.DataFrame(
        [
            vars(row(-1.0, -1.5, -0.5, p_holm=0.01, detectable=3.0, label="A")),
            vars(row(0.2, -1.0, 1.4, p_holm=0.8, detectable=50.0, label="B")),
        ]
    )
    answer = ch.flatter_answer(rows, (2, 3, 4))
    assert answer == (
        "Of 2 comparisons of a model trained with GNI against the same configuration without "
        "it (same learning rate, same seeds 2, 3, 4), 1 finds a significantly lower top Hessian "
        f"eigenvalue (A {TIMES}0.50 [0.35, 0.71]) and 0 a higher one after Holm's correction "
        "(changes by less than a factor of 3.00 to 50, the detectable factors at the corrected "
        "level, could be missed)."
    )
    paper = row(-1.0, -2.0, 0.0, p_holm=0.16, detectable=23.0)
    loss = stats.PairedComparison(stats.Estimate(0.051, 0.038, 0.065, 3), 0.01)
    both = ch.flatter_answer(rows.iloc[1:], (2, 3), paper, loss)
    assert both.startswith("Of 1 comparisons of a model trained with GNI")
    assert "0 find a significantly lower top Hessian eigenvalue and 0 a higher one" in both
    assert both.endswith(
        "; the top eigenvalue of the paper's schedule at chapter 1's setting relative to the "
        f"baseline's is not significant, {TIMES}0.50 [0.25, 1.00] (Holm p = 0.16; detectable: "
        "a factor of 23), and its best validation loss is worse than the baseline's by +0.051 "
        "[+0.038, +0.065] nats per character."
    )


def test_the_paper_loss_is_paired_by_seed():
    probes = pd.DataFrame(
        {
            "arm": [BASE] * 3 + [GNI] * 2,
            "seed": [2, 3, 4, 2, 4],
            "best_val_loss": [1.0, 1.1, 1.2, 1.1, 1.4],
        }
    )
    comparison = ch.paper_loss(probes, BASE, GNI, (2, 3, 4))
    assert comparison.difference.n == 2  # seed 3 has no GNI run
    assert comparison.difference.mean == pytest.approx(0.15)


# ---------------------------------------------------------------------------------------
# What it costs


def test_the_pages_cost_in_minutes():
    all_runs = pd.DataFrame({"wall_seconds": [600.0, 1200.0, 1800.0]})  # 60 minutes
    probes = pd.DataFrame({"probe_seconds": [30.0, 90.0]})
    assert ch.cost(all_runs, probes, plane_seconds=60.0) == {
        "train_minutes": "60",
        "probe_minutes": "3",
        "total_minutes_two": "32",  # 63 / 2 = 31.5, rounded half to even
        "probe_seconds_each": "60",
    }
