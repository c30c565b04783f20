"""Chapter 4's second half (gni.chapters.sharpness_shapes): correlations, rescaling,
landscapes and eigenvalue densities on small constructed tables with known answers: no
training, no stored records, no notebook."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gni import stats
from gni.chapters import sharpness as ch
from gni.chapters import sharpness_shapes as shapes
from gni.clustered import Correlation, clustered_spearman, within_spearman
from gni.sharpness import SpectralDensity
from tests.test_chapter_sharpness import BASE, DROP, GNI, LOW, TIMES, small_design

# ---------------------------------------------------------------------------------------
# Does flatness predict generalization?


def correlated_probes() -> pd.DataFrame:
    """Four configurations of three seeds: across configurations the sharper one has the
    larger gap (and the larger loss); within each, the sharper seed the smaller gap. The
    seeds' deviations (-3, 1, 2, scaled by 1.1 per level) sum to zero and never tie."""
    rows = []
    for level in range(4):
        for seed, w in zip((2, 3, 4), (-3, 1, 2), strict=True):
            wiggle = w * 1.1**level
            measure = 10.0 ** (level + 0.1 * wiggle)
            rows.append(
                {
                    "arm": f"c{level}",
                    "seed": seed,
                    **{m: measure for m in ch.MEASURES},
                    **{f"rescaled_{m}": measure * (1 + level % 2) for m in ch.RESCALED},
                    "gap": level - 0.01 * wiggle,
                    "best_val_loss": 1.0 + level,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def correlations() -> shapes.Correlations:
    return shapes.correlate(correlated_probes())


# a resample that draws one configuration four times has constant means: no rho (dropped)
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_the_headline_correlations_resample_configurations(correlations):
    probes, c = correlated_probes(), correlations
    assert set(c.across) == {(m, "as trained") for m in ch.MEASURES} | {
        (m, "rescaled") for m in ch.RESCALED
    }
    top = c.across[("top_eigenvalue", "as trained")]
    x = np.log(probes["top_eigenvalue"])
    assert top == clustered_spearman(x, probes["gap"], probes["arm"])  # the cluster bootstrap
    assert (top.n, top.clusters) == (12, 4)
    assert top.rho == pytest.approx(scipy_stats.spearmanr(x, probes["gap"]).statistic)
    # within each configuration the three seeds' ranks are reversed: sum d^2 = 4 x 8
    assert top.rho == pytest.approx(1 - 6 * 32 / (12 * (12**2 - 1)))
    means = c.configurations[("top_eigenvalue", "as trained")]
    assert (means.rho, means.n) == (pytest.approx(1.0), 4)  # the means rank alike
    within = c.within[("top_eigenvalue", "as trained")]
    assert within == within_spearman(x, probes["gap"], probes["arm"])
    assert within.rho == pytest.approx(-1.0)  # within, the sharper seed has the smaller gap
    assert c.with_loss[("top_eigenvalue", "as trained")].rho > 0.8
    assert shapes.ranking(top) == "the sharper runs have the larger generalization gaps"
    assert shapes.ranking(within) == "the sharper runs have the smaller generalization gaps"


def test_what_a_correlation_says_follows_its_intervals_ends():
    positive, negative = Correlation(0.5, 0.1, 0.8, 12, 4), Correlation(-0.5, -0.8, -0.1, 12, 4)
    straddles = Correlation(0.5, -0.1, 0.8, 12, 4)
    assert shapes.ranking(straddles) == "the measure does not rank the runs' generalization gaps"
    assert shapes.loss_ranking(positive) == "the flatter runs reach the lower validation losses"
    assert shapes.loss_ranking(negative) == "the sharper runs reach the lower validation losses"
    assert shapes.loss_ranking(straddles) == "the measure does not rank the runs' validation losses"


def test_the_correlation_table_and_summaries(correlations):
    c = correlations
    table = shapes.correlation_rows(c)
    assert len(table) == 9  # five measures as trained, four rescaled
    assert ("trace", "rescaled") not in table.index
    means = c.configurations[("trace", "as trained")].format()
    assert table.loc[("trace", "as trained"), "\u03c1, configuration means"] == means
    fixed = {
        ("top_eigenvalue", "as trained"): Correlation(0.61, 0.04, 0.86, 39, 13),
        ("trace", "as trained"): Correlation(-0.3, -0.6, 0.01, 39, 13),
        ("top_eigenvalue", "rescaled"): Correlation(0.39, -0.17, 0.81, 39, 13),
    }
    assert shapes.rho_summary(fixed, "as trained") == (
        f"{ch.MEASURES['top_eigenvalue']} \u03c1 = +0.61 [+0.04, +0.86]; "
        "trace of H \u03c1 = -0.30 [-0.60, +0.01]"
    )
    assert shapes.rho_summary(fixed, "rescaled") == (
        f"{ch.MEASURES['top_eigenvalue']} \u03c1 = +0.39 [-0.17, +0.81]"
    )


def test_the_rescaling_ratios_and_their_ranges():
    probes = correlated_probes()
    ratios = shapes.rescaling_ratios(probes)
    assert set(ratios) == set(ch.RESCALED)
    assert ratios["adaptive_sharpness"].tolist() == [1.0] * 3 + [2.0] * 3 + [1.0] * 3 + [2.0] * 3
    table = shapes.rescaling_rows(ratios)
    assert table.loc[ch.MEASURES["adaptive_sharpness"]].tolist() == ["1.500", "1.000", "2.000"]
    assert shapes.value_range(ratios["top_eigenvalue"], 3) == "1.000 to 2.000"
    assert shapes.value_range(pd.Series([0.125, math.nan, 7.48]), 2) == "0.12 to 7.48"
    assert shapes.value_range([], 3) == "n/a"


def test_powers_of_ten_in_superscript():
    assert shapes.superscript(-7) == "\u207b\u2077"
    assert shapes.superscript(10) == "\u00b9\u2070"
    assert shapes.times_ten(4.8e-7) == f"4.8 {TIMES} 10\u207b\u2077"
    assert shapes.times_ten(0.00123) == f"1.2 {TIMES} 10\u207b\u00b3"
    assert shapes.power_of_ten(2.9e-8) == "10\u207b\u2078"  # log10 = -7.54: the nearer -8
    assert shapes.power_of_ten(3.5e-8) == "10\u207b\u2077"


# ---------------------------------------------------------------------------------------
# Landscapes


def test_planes_are_centred_on_the_final_weights():
    d = small_design()
    assert shapes.plane_grid(d, [BASE, GNI], "shakespeare_char", "cpu", 2) == {
        "base": {"dataset": "shakespeare_char", "profile": "cpu"},
        "axes": {"arm": [{"label": BASE, **d.probed[BASE]}, {"label": GNI, **d.probed[GNI]}]},
        "seeds": [2],
    }
    runs = pd.DataFrame({"run_id": ["p1", "p2"], "arm": [BASE, GNI], "status": ["ok", "diverged"]})
    z = [[3.0, 2.0, 3.0], [2.0, 1.0, 2.0], [3.0, 2.0, 4.0]]
    plane = {"p1": {"alpha": [-1, 0, 1], "beta": [-1, 0, 1], "loss": z, "seconds": 7.0}}
    shown, seconds = shapes.planes(runs, plane)
    assert list(shown) == [BASE] and seconds == 7.0
    np.testing.assert_array_equal(shown[BASE][2], np.array(z) - 1.0)
    assert shapes.plane_arms(d, {BASE, GNI}) == [BASE]  # no earlier chapter's GNI was probed
    # chapter 2's GNI is the GNI arm (the same run): shown once, under that arm's name
    twin = small_design(same_as={ch.CHAPTER2: GNI})
    assert shapes.plane_arms(twin, {BASE, GNI, ch.CHAPTER1}) == [BASE, ch.CHAPTER1, GNI]


def test_landscape_lines_are_the_excess_over_the_final_loss():
    probes = pd.DataFrame({"run_id": ["r1", "r2"], "arm": [BASE, DROP], "seed": [2, 2]})
    sharp = {
        "r1": {
            "loss": 1.0,
            "landscape": {"alpha": [-1.0, 0.0, 1.0], "loss": [1.5, 1.0, 1.25]},
            "interpolation": {"t": [0.0, 1.0], "loss": [4.0, 1.0]},
        }
    }
    lines = shapes.landscape_lines(probes, sharp, [BASE])
    direction, line = shapes.LANDSCAPE_PANELS
    assert lines["panel"].tolist() == [direction] * 3 + [line] * 2
    assert lines["x"].tolist() == [-1.0, 0.0, 1.0, 0.0, 1.0]
    assert lines["excess"].tolist() == [0.5, 0.0, 0.25, 3.0, 0.0]


def test_lines_between_each_arm_and_its_reference_and_their_barriers():
    d = small_design()
    arms = shapes.line_arms(d, {BASE, LOW, DROP, GNI})
    assert arms == {GNI: shapes.GNI_PANEL, LOW: shapes.CONTROL_PANEL, DROP: shapes.CONTROL_PANEL}
    probes = pd.DataFrame(
        {
            "run_id": ["b2", "b3", "g2", "g3", "d2", "l2"],
            "arm": [BASE, BASE, GNI, GNI, DROP, LOW],
            "seed": [2, 3, 2, 3, 2, 2],
        }
    )
    barrier = {"g2": 0.2, "g3": 0.1, "d2": 0.01, "l2": 0.03}
    calls = []

    def interpolate(a, b):
        calls.append((a, b))
        return {"t": [0.0, 1.0], "loss": [1.0, 1.1], "barrier": barrier[b], "distance": 10.0}

    between = shapes.between_lines(probes, arms, d.reference, (2, 3), interpolate)
    assert calls == [("b2", "g2"), ("b3", "g3"), ("b2", "l2"), ("b2", "d2")]  # seed 3: no control
    assert len(between) == 2 * len(calls)
    table = shapes.barrier_rows(between, arms)
    assert table.loc[GNI, "barrier (nats/char)"] == stats.mean_ci([0.2, 0.1]).format(3)
    assert table.loc[DROP, "reference"] == BASE and table.loc[DROP, "panel"] == shapes.CONTROL_PANEL
    means = shapes.mean_barriers(between, arms)
    gni, controls = means[shapes.GNI_PANEL], means[shapes.CONTROL_PANEL]
    assert gni.to_dict() == {GNI: pytest.approx(0.15)}
    assert list(controls.index) == [LOW, DROP]
    assert shapes.basins(gni, controls).startswith("every GNI")


def test_basins_in_words():
    controls = pd.Series({"dropout": 0.01, "baseline, lr 0.001": 0.039})
    mixed = pd.Series({"GNI (exponential)": 0.051, "GNI (anticorrelated)": 0.018})
    assert shapes.basins(mixed, controls) == (
        "the mean barrier is higher than every control's for GNI (exponential) (0.051), and "
        "within the controls' range for GNI (anticorrelated) (0.018)"
    )
    assert shapes.basins(mixed, controls * 10) == (
        "no GNI configuration is separated from its baseline by a higher mean barrier than "
        "every control"
    )
    assert shapes.basins(mixed, controls / 10) == (
        "every GNI configuration is separated from its baseline by a higher mean barrier than "
        "any control"
    )
    none = pd.Series(dtype=float)
    assert shapes.basins(mixed, none) == "there is no control to compare them with"


# ---------------------------------------------------------------------------------------
# The eigenvalue densities


def slq_probe(nodes: list[list[float]], weights: list[list[float]]) -> dict:
    return {"slq": {"nodes": nodes, "weights": weights, "hvps": 16}}


def test_the_densities_of_the_probes_spectra():
    sharp = {
        "r1": slq_probe([[0.0, 10.0]], [[0.9, 0.1]]),
        "r2": slq_probe([[-5.0, 0.0, 40.0]], [[0.2, 0.8 - 1e-7, 1e-7]]),
    }
    spectra = shapes.spectra(sharp)
    assert isinstance(spectra["r1"], SpectralDensity) and spectra["r2"].n_hvp == 16
    grid, bandwidth = shapes.density_grid(spectra)
    assert (grid[0], grid[-1], len(grid)) == (-10.0, 45.0, 400)
    assert bandwidth == pytest.approx(0.55)
    assert shapes.top_ritz_weight(spectra) == "10\u207b\u00b9"  # median of 0.1 and 1e-7: 0.05
    probes = pd.DataFrame({"run_id": ["r1", "r2"], "arm": [BASE, GNI], "seed": [2, 2]})
    panels = {"GNI": [BASE, GNI], "regularizers": [BASE]}
    band, width = shapes.density_band(probes, spectra, panels)
    assert width == bandwidth
    assert len(band) == 3 * 400  # the baseline in both panels
    first = band[(band["panel"] == "GNI") & (band["arm"] == BASE)]["mean"].to_numpy()
    second = band[(band["panel"] == "regularizers") & (band["arm"] == BASE)]["mean"].to_numpy()
    np.testing.assert_array_equal(first, second)
    expected = np.maximum(spectra["r1"].density(grid, bandwidth), 1e-12).clip(1e-10)
    np.testing.assert_allclose(first, expected)
    assert band["mean"].min() >= 1e-10
