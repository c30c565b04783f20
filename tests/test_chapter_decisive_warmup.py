"""Chapter 8's exploratory warmup control (gni.chapters.decisive_warmup) on constructed
frozen stages and run tables whose answers can be checked by hand, and on the committed
cpu-long stage and grid."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

from gni import GniError, stats
from gni.chapters import decisive_warmup as warmup
from gni.envelope import load_frozen
from gni.grids import expand, load_grid
from gni.preregistration import at_smoke_size, load_design

ROOT = Path(__file__).resolve().parents[1]
DESIGN = load_design(ROOT / "book" / "preregistration" / "design.yaml")
MINUS = "\N{MINUS SIGN}"
NOISE = {"noise_schedule": "exponential", "noise_args": {"sigma0": 0.004, "gamma": 0.99}}


def frozen(datasets):
    return {
        "seeds": [1000, 1001, 1002],
        "chosen": {
            d: {"gni": {"learning_rate": 0.007, "min_lr": 0.0007, **NOISE}} for d in datasets
        },
    }


def test_the_longer_warmup_is_gni_without_its_noise_on_the_frozen_seeds():
    stage = frozen(DESIGN.regime("cpu-long").datasets)
    grids = warmup.warmup_grids(DESIGN, "cpu-long", stage, warmups=(300, 900))
    points = [p for g in grids for p in expand(g)]
    assert len(points) == len(DESIGN.regime("cpu-long").datasets) * 2 * 3
    for p in points:
        c = p.config
        assert (c.profile, c.learning_rate, c.min_lr) == ("cpu-long", 0.007, 0.0007)
        assert c.noise_schedule == "none" and c.noise_args == {}
        assert c.warmup_iters in (300, 900) and c.seed in (1000, 1001, 1002)
    assert {p.labels["warmup"] for p in points} == {"warmup 300 steps", "warmup 900 steps"}


def test_the_committed_grid_names_the_runs_of_the_frozen_cpu_long_stage():
    stage = load_frozen("cpu-long", ROOT / "book" / "preregistration" / "cpu-long.yaml")
    derived = {
        p.config.run_id for g in warmup.warmup_grids(DESIGN, "cpu-long", stage) for p in expand(g)
    }
    committed = {
        p.config.run_id for p in expand(load_grid(ROOT / "grids" / "decisive_warmup.yaml"))
    }
    assert derived == committed and len(committed) == 32


def test_the_regime_is_cpu_long_or_its_smoke_twin():
    assert warmup.regime_name(DESIGN) == "cpu-long"
    assert warmup.regime_name(at_smoke_size(DESIGN)) == "smoke-cpu-long"
    other = dataclasses.replace(DESIGN, regimes={"cpu": DESIGN.regime("cpu")})
    with pytest.raises(GniError, match="no regime 'cpu-long'"):
        warmup.regime_name(other)


def test_the_noise_life_is_where_gamma_brings_it_to_the_fraction():
    stage = frozen(DESIGN.regime("cpu-long").datasets)
    steps = math.log(0.01) / math.log(0.99)  # 458.2
    assert warmup.noise_life_text(DESIGN, "cpu-long", stage) == (
        f"by step {steps:,.0f} of 2,400 (its warmup: 100 steps)"
    )
    constant = {
        "seeds": [1],
        "chosen": {d: {"gni": {}} for d in DESIGN.regime("cpu-long").datasets},
    }
    assert warmup.noise_life_text(DESIGN, "cpu-long", constant) == ""


@pytest.fixture
def tables():
    seeds = [1000, 1001, 1002]
    longer = pd.DataFrame(
        {
            "dataset": ["enwik8"] * 3,
            "warmup_iters": [900] * 3,
            "seed": seeds,
            "status": ["ok"] * 3,
            "best_val_loss": [1.90, 1.92, 1.91],
        }
    )
    confirmed = pd.DataFrame(
        {
            "regime": ["cpu-long"] * 6 + ["cpu"] * 3,
            "dataset": ["enwik8"] * 9,
            "arm": ["baseline"] * 3 + ["gni"] * 3 + ["gni"] * 3,
            "seed": seeds * 3,
            "status": ["ok"] * 9,
            "best_val_loss": [1.95, 1.96, 1.94, 1.80, 1.83, 1.81, 0.0, 0.0, 0.0],
        }
    )
    return longer, confirmed


def test_each_arm_is_paired_by_seed_with_the_longer_warmup(tables):
    longer, confirmed = tables
    tests = warmup.warmup_tests(longer, confirmed, "cpu-long", "best_val_loss")
    assert tests["compared"].tolist() == ["GNI", "baseline"]
    expected = stats.paired_comparison([1.90, 1.92, 1.91], [1.80, 1.83, 1.81])
    gni = tests.set_index("compared").loc["GNI"]
    assert gni["difference"].mean == pytest.approx(-0.0967, abs=1e-4)  # cpu's runs not used
    assert gni["p"] == pytest.approx(expected.p_value)
    table = warmup.warmup_table(tests)
    assert table.columns.tolist() == [
        "dataset",
        "warmup (steps)",
        f"GNI {MINUS} longer warmup",
        f"baseline {MINUS} longer warmup",
        "seeds",
    ]
    assert table.iloc[0][f"GNI {MINUS} longer warmup"] == (
        f"{gni['difference'].mean:+.3f} [{gni['difference'].lo:+.3f}, "
        f"{gni['difference'].hi:+.3f}]; {stats.p_clause(expected.p_value)}"
    )
    assert table.iloc[0]["seeds"] == 3
    assert warmup.warmup_sentence(tests) == (
        "GNI is lower than the longer-warmup baseline in 1 of 1 comparison (95% CI below "
        "zero), higher in 0, and 0 are unresolved: a longer warmup of these lengths does not "
        "explain GNI's gain."
    )
    # the baseline is above it on every seed: higher, and no conclusion is drawn
    assert warmup.warmup_sentence(tests, "baseline") == (
        "baseline is lower than the longer-warmup baseline in 0 of 1 comparison (95% CI "
        "below zero), higher in 1, and 0 are unresolved."
    )


def test_nothing_recorded_reads_as_such(tables):
    _, confirmed = tables
    empty = warmup.warmup_tests(pd.DataFrame(), confirmed, "cpu-long", "best_val_loss")
    assert empty.empty and warmup.warmup_table(empty).empty
    assert warmup.warmup_sentence(empty) == "No longer-warmup run is recorded yet."
