"""Statistics for runs paired by seed: means with t-based 95% CIs, paired tests, Holm.

Each configuration is run with several seeds; a baseline and a treatment with the same
seed share their initial weights and batches, so comparisons use the per-seed
differences (a paired t-test). With many comparisons, p-values are adjusted with
Holm's step-down method, which controls the family-wise error rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over n values (lo = hi = nan when n < 2)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def format(self, digits: int = 3) -> str:
        """``mean ± half-width`` (or just the mean when there is no interval)."""
        if math.isnan(self.half_width):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


@dataclass(frozen=True)
class PairedComparison:
    """treatment - baseline over seeds: the mean difference, its CI, and the p-value of
    a two-sided paired t-test (nan when n < 2 or all differences are equal)."""

    difference: Estimate
    p_value: float


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of ``values`` (NaNs are dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half, n)


def prediction_interval(
    values: Sequence[float], new_draws: int = 1, confidence: float = 0.95
) -> Estimate:
    """Where the mean of ``new_draws`` more values from the same distribution falls.

    Normal model, Student t with n - 1 degrees of freedom:
    ``mean ± t * s * sqrt(1/new_draws + 1/n)``. Unlike :func:`mean_ci`, which bounds the
    mean of ``values``, this bounds a new result such as another lab's single run (or
    its mean over a few seeds).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 2:
        return Estimate(float(x.mean()) if n else math.nan, math.nan, math.nan, n)
    mean = float(x.mean())
    half = float(
        stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) * math.sqrt(1 / new_draws + 1 / n)
    )
    return Estimate(mean, mean - half, mean + half, n)


def paired_comparison(
    baseline: Sequence[float], treatment: Sequence[float], confidence: float = 0.95
) -> PairedComparison:
    """Compare values paired by position (by seed): treatment - baseline."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(treatment, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = b[keep] - a[keep]
    difference = mean_ci(d, confidence)
    if len(d) < 2 or np.all(d == d[0]):
        return PairedComparison(difference, math.nan)
    return PairedComparison(difference, float(stats.ttest_rel(b[keep], a[keep]).pvalue))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (same order as given; NaNs stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def curve_band(
    curves: pd.DataFrame, y: str, by: Sequence[str], x: str = "iter", confidence: float = 0.95
) -> pd.DataFrame:
    """Mean of ``y`` over seeds at each ``x`` within each group, with its CI.

    Returns columns ``*by, x, mean, lo, hi, n``.
    """
    rows = []
    for keys, group in curves.groupby([*by, x], sort=True):
        estimate = mean_ci(group[y].to_numpy(), confidence)
        rows.append(
            {
                **dict(zip([*by, x], keys, strict=True)),
                "mean": estimate.mean,
                "lo": estimate.lo,
                "hi": estimate.hi,
                "n": estimate.n,
            }
        )
    return pd.DataFrame(rows)


def paired_differences(
    curves: pd.DataFrame,
    y: str,
    between: str,
    baseline: str,
    pair_by: Sequence[str] = ("dataset", "seed", "iter"),
) -> pd.DataFrame:
    """Per pair, ``y`` of each treatment minus ``y`` of the baseline.

    Rows are matched on ``pair_by`` (a run and its baseline share dataset, seed and
    evaluation step); returns columns ``*pair_by, between, difference`` for every
    ``between`` value other than ``baseline``. Pairs without a baseline are dropped.
    """
    keys = list(pair_by)
    base = curves[curves[between] == baseline][[*keys, y]].rename(columns={y: "_base"})
    treated = curves[curves[between] != baseline][[*keys, between, y]]
    merged = treated.merge(base, on=keys, how="inner", validate="many_to_one")
    merged["difference"] = merged[y] - merged["_base"]
    return merged[[*keys, between, "difference"]].reset_index(drop=True)
