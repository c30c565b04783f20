"""Uncertainty for runs in configurations: cluster bootstrap and seed-paired regression."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gni.clustered import clustered_spearman, dose_response, within_spearman


def _clustered_data(configurations: int, seeds: int, rng: np.random.Generator):
    """Values whose correlation lives between configurations: each configuration has its
    own level of x and y (shared by its seeds); within one, x and y are independent."""
    level = rng.normal(size=configurations)
    cluster = np.repeat(np.arange(configurations), seeds)
    x = level[cluster] + 0.3 * rng.normal(size=cluster.size)
    y = level[cluster] + 0.3 * rng.normal(size=cluster.size)
    return x, y, cluster


def test_the_cluster_bootstrap_is_wider_than_one_that_treats_runs_as_independent():
    rng = np.random.default_rng(0)
    x, y, cluster = _clustered_data(8, 3, rng)
    c = clustered_spearman(x, y, cluster, resamples=2000)
    assert c.rho == pytest.approx(stats.spearmanr(x, y).statistic)
    assert (c.n, c.clusters) == (24, 8)
    naive = stats.bootstrap(
        (x, y),
        lambda a, b: stats.spearmanr(a, b).statistic,
        paired=True,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert c.hi - c.lo > naive.high - naive.low
    assert c.lo <= c.rho <= c.hi


def test_the_within_configuration_correlation_removes_the_configurations_levels():
    rng = np.random.default_rng(1)
    x, y, cluster = _clustered_data(12, 4, rng)
    assert clustered_spearman(x, y, cluster).rho > 0.5  # between configurations
    within = within_spearman(x, y, cluster)
    assert within.lo < 0 < within.hi  # no relation across seeds of one configuration
    assert math.isnan(clustered_spearman(x[:8], y[:8], cluster[:8]).lo)  # two clusters


def test_a_dose_response_slope_is_least_squares_with_one_intercept_per_seed():
    rng = np.random.default_rng(2)
    dose = np.tile(np.log10([1e-4, 1e-3, 1e-2, 1e-1]), 2)
    seed = np.repeat([0, 1], 4)
    shared_baseline = np.where(seed == 0, 0.5, -0.5)  # each seed's differences share it
    difference = 0.2 * dose + shared_baseline + 0.01 * rng.normal(size=8)
    fit = dose_response(difference, dose, seed)
    assert fit.slope == pytest.approx(0.2, abs=0.02) and fit.p < 0.001 and fit.n == 8
    # the slope of ordinary least squares on each seed's centred values; its standard
    # error too, once the degrees of freedom count the seeds' intercepts (8 - 1 - 2 = 5)
    centred = lambda v: v - np.array([v[seed == s].mean() for s in seed])  # noqa: E731
    line = stats.linregress(centred(dose), centred(difference))
    assert fit.slope == pytest.approx(line.slope)
    se = line.stderr * math.sqrt(6 / 5)
    assert fit.hi - fit.slope == pytest.approx(stats.t.ppf(0.975, 5) * se)
    with pytest.raises(ValueError, match="no degrees of freedom"):
        dose_response(difference[:2], dose[:2], seed[:2])
