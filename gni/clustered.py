"""Uncertainty for runs that come in clusters: configurations trained with several seeds.

Runs of one configuration share everything but the seed, so they are not independent
draws: a correlation across all runs, or a regression on a setting, counts each
configuration several times. :func:`clustered_spearman` resamples whole configurations
(a cluster bootstrap) and reports the correlation within configurations beside it;
:func:`dose_response` fits a paired difference against a setting with one intercept per
seed, which absorbs the baseline run that every difference of that seed shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from gni import GniError
from gni.stats import spearman_rho

__all__ = [
    "RESAMPLES",
    "Correlation",
    "Slope",
    "clustered_spearman",
    "dose_response",
    "within_spearman",
]

#: Bootstrap resamples; the percentile ends move by < 0.01 between reruns
RESAMPLES = 4000


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho with a 95% interval; ``n`` values in ``clusters`` clusters."""

    rho: float
    lo: float
    hi: float
    n: int
    clusters: int

    def format(self) -> str:
        """``+0.61 [+0.00, +0.86]``."""
        return f"{self.rho:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}]"


def _finite(x: Sequence[float], y: Sequence[float], clusters: Sequence) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"x": np.asarray(x, float), "y": np.asarray(y, float), "cluster": list(clusters)}
    )
    return frame[np.isfinite(frame["x"]) & np.isfinite(frame["y"])].reset_index(drop=True)


def clustered_spearman(
    x: Sequence[float],
    y: Sequence[float],
    clusters: Sequence,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Correlation:
    """Spearman's rho of ``x`` and ``y`` over every value, with a percentile interval
    from resampling whole clusters with replacement (each resample keeps every value of
    the clusters it draws). Pairs with a non-finite value are dropped. The interval is
    NaN with fewer than three clusters."""
    frame = _finite(x, y, clusters)
    rho = float(stats.spearmanr(frame["x"], frame["y"]).statistic)
    groups = [g[["x", "y"]].to_numpy() for _, g in frame.groupby("cluster", sort=True)]
    k = len(groups)
    if k < 3:
        return Correlation(rho, math.nan, math.nan, len(frame), k)
    picks = np.random.default_rng(seed).integers(0, k, size=(resamples, k))
    if len({len(g) for g in groups}) == 1:  # equal clusters: every resample in one array
        samples = np.stack(groups)[picks].reshape(resamples, -1, 2)
        draws = spearman_rho(samples[..., 0], samples[..., 1], axis=1)
    else:
        samples = [np.concatenate([groups[j] for j in row]) for row in picks]
        draws = np.array([spearman_rho(a[:, 0], a[:, 1]) for a in samples])
    with np.errstate(invalid="ignore"):  # a resample of one repeated cluster is constant
        draws = draws[np.isfinite(draws)]
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return Correlation(rho, float(lo), float(hi), len(frame), k)


def within_spearman(
    x: Sequence[float],
    y: Sequence[float],
    clusters: Sequence,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Correlation:
    """Spearman's rho of ``x`` and ``y`` after subtracting each cluster's means: whether,
    within a configuration, the seeds with larger ``x`` have larger ``y``. Its interval
    resamples clusters too (:func:`clustered_spearman` of the centred values)."""
    frame = _finite(x, y, clusters)
    centred = frame[["x", "y"]] - frame.groupby("cluster")[["x", "y"]].transform("mean")
    return clustered_spearman(
        centred["x"], centred["y"], frame["cluster"], confidence, resamples, seed
    )


@dataclass(frozen=True)
class Slope:
    """A regression slope with its 95% interval and two-sided p-value; ``n`` values."""

    slope: float
    lo: float
    hi: float
    p: float
    n: int


def dose_response(
    difference: Sequence[float], dose: Sequence[float], seed: Sequence, confidence: float = 0.95
) -> Slope:
    """The slope of a paired ``difference`` (treatment - baseline) against ``dose`` (for
    example log10 sigma0), pooling every cell of a screen: least squares with one
    intercept per ``seed``, since every difference of a seed shares its baseline run.
    The interval and p-value are Student t's, with n - 1 - (number of seeds) degrees of
    freedom. Ordinary least squares by numpy: a few lines, no model library needed."""
    frame = pd.DataFrame(
        {"d": np.asarray(difference, float), "dose": np.asarray(dose, float), "seed": list(seed)}
    ).dropna()
    seeds = pd.get_dummies(frame["seed"], dtype=float).to_numpy()
    design = np.column_stack([frame["dose"].to_numpy(), seeds])
    coef, *_ = np.linalg.lstsq(design, frame["d"].to_numpy(), rcond=None)
    df = len(frame) - design.shape[1]
    if df < 1:
        raise GniError(
            f"{len(frame)} differences over {seeds.shape[1]} seeds: no degrees "
            "of freedom left for the slope's interval"
        )
    residual = frame["d"].to_numpy() - design @ coef
    sigma2 = residual @ residual / df
    se = math.sqrt(sigma2 * np.linalg.inv(design.T @ design)[0, 0])
    t = stats.t.ppf(1 - (1 - confidence) / 2, df)
    p = 2 * stats.t.sf(abs(coef[0]) / se, df) if se > 0 else 0.0
    return Slope(
        float(coef[0]), float(coef[0] - t * se), float(coef[0] + t * se), float(p), len(frame)
    )
