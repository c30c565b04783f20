"""Statistics for runs paired by seed: means with t-based 95% CIs, paired tests, Holm.

Each configuration is run with several seeds; a baseline and a treatment with the same
seed share their initial weights and batches, so comparisons use the per-seed
differences (a paired t-test). With many comparisons, p-values are adjusted with
Holm's step-down method, which controls the family-wise error rate. The intervals and
tests are scipy's (``scipy.stats.ttest_1samp``, ``ttest_rel``, ``t.interval``); this
module decides what enters them and handles the cases scipy leaves undefined (fewer
than two values, no spread). :func:`paired_table` makes a chapter's whole table of
comparisons from a table of runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from gni import GniError

__all__ = [
    "ALPHA",
    "NEAR_BEST",
    "POWER",
    "Estimate",
    "PairedComparison",
    "Race",
    "corrected_alpha",
    "corrected_interval",
    "curve_band",
    "differences_long",
    "first_crossing",
    "holm",
    "mean_ci",
    "minimum_detectable_effect",
    "p_clause",
    "p_text",
    "paired_comparison",
    "paired_differences",
    "paired_t_power",
    "paired_table",
    "prediction_interval",
    "race",
    "race_table",
    "sd_upper_bound",
    "spearman_rho",
    "standard_error",
    "time_to_near_best",
]


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
    a two-sided paired t-test.

    The p-value is nan when fewer than two pairs remain. When every difference is the
    same, the t statistic is infinite: p = 0 for a non-zero difference, p = 1 when every
    difference is exactly 0 (and the CI is the difference itself).
    """

    difference: Estimate
    p_value: float


def _values(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[~np.isnan(x)]


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of ``values`` (NaNs are dropped).

    The interval is ``scipy.stats.ttest_1samp(values, 0).confidence_interval``; values
    that are all equal give the zero-width interval at that value.
    """
    x = _values(values)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if n < 2:
        return Estimate(float(x[0]), math.nan, math.nan, n)
    if np.all(x == x[0]):  # no spread: scipy would warn about precision loss
        return Estimate(float(x[0]), float(x[0]), float(x[0]), n)
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return Estimate(float(x.mean()), float(ci.low), float(ci.high), n)


def prediction_interval(
    values: Sequence[float], new_draws: int = 1, confidence: float = 0.95
) -> Estimate:
    """Where the mean of ``new_draws`` more values from the same distribution falls.

    Normal model, Student t with n - 1 degrees of freedom:
    ``mean ± t * s * sqrt(1/new_draws + 1/n)``. Unlike :func:`mean_ci`, which bounds the
    mean of ``values``, this bounds a new result such as another lab's single run (or
    its mean over a few seeds).
    """
    x = _values(values)
    n = len(x)
    if n < 2:
        return Estimate(float(x[0]) if n else math.nan, math.nan, math.nan, n)
    mean = float(x.mean())
    scale = float(x.std(ddof=1)) * math.sqrt(1 / new_draws + 1 / n)
    if scale == 0:
        return Estimate(mean, mean, mean, n)
    lo, hi = stats.t.interval(confidence, n - 1, loc=mean, scale=scale)
    return Estimate(mean, float(lo), float(hi), n)


def paired_comparison(
    baseline: Sequence[float], treatment: Sequence[float], confidence: float = 0.95
) -> PairedComparison:
    """Compare values paired by position (by seed): treatment - baseline.

    A pair with a NaN on either side is dropped; the difference's ``n`` counts the pairs
    that remain. The test and interval are ``scipy.stats.ttest_rel``'s.
    """
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(treatment, dtype=float)
    if a.shape != b.shape:
        raise GniError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    d = b - a
    n = len(d)
    if n < 2:
        return PairedComparison(mean_ci(d, confidence), math.nan)
    if np.all(d == d[0]):  # no spread: t is infinite, or 0/0 when every difference is 0
        same = float(d[0])
        return PairedComparison(Estimate(same, same, same, n), 1.0 if same == 0 else 0.0)
    result = stats.ttest_rel(b, a)
    ci = result.confidence_interval(confidence)
    return PairedComparison(
        Estimate(float(d.mean()), float(ci.low), float(ci.high), n), float(result.pvalue)
    )


def holm(p_values: Sequence[float], family_size: int | None = None) -> np.ndarray:
    """Holm-adjusted p-values (same order as given; NaNs stay NaN and are not counted).

    ``family_size``, the size of a family declared before its tests ran, counts each test
    of it not given here (not yet run) as p = 1: the correction is the declared family's,
    never a smaller one's. It may not be smaller than the p-values given.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if family_size is not None and family_size < len(valid):
        raise GniError(f"family_size={family_size} is smaller than the {len(valid)} p-values")
    m = len(valid) if family_size is None else family_size
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


#: The book's significance level, before any correction for multiplicity
ALPHA = 0.05
#: The power at which a minimum detectable effect is stated
POWER = 0.8


def corrected_alpha(family_size: int, alpha: float = ALPHA) -> float:
    """Bonferroni's level ``alpha / family_size``: the bar of Holm's first step, so that
    a comparison clearing it is significant whatever its rank in the family."""
    if family_size < 1:
        raise GniError(f"family_size={family_size!r}; allowed: a count of at least 1")
    return alpha / family_size


def standard_error(estimate: Estimate, confidence: float = 0.95) -> float:
    """The standard error behind the estimate's Student-t interval of ``confidence``."""
    return estimate.half_width / stats.t.ppf(1 - (1 - confidence) / 2, estimate.n - 1)


def corrected_interval(
    estimate: Estimate, family_size: int, confidence: float = 0.95, alpha: float = ALPHA
) -> Estimate:
    """The estimate's Student-t interval widened to ``1 - alpha / family_size``: the
    interval that may say "ruled out" inside a family (``confidence`` is the given one's)."""
    level = 1 - corrected_alpha(family_size, alpha)
    if estimate.n < 2 or math.isnan(estimate.half_width):
        return estimate
    half = standard_error(estimate, confidence) * stats.t.ppf(1 - (1 - level) / 2, estimate.n - 1)
    mean = estimate.mean
    return Estimate(mean, float(mean - half), float(mean + half), estimate.n)


def paired_t_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """The exact power of a two-sided one-sample (paired) t-test at level ``alpha`` with
    ``n`` pairs when the true mean difference is ``effect`` and its SD ``sd``: the
    probability that a noncentral t with n - 1 degrees of freedom and noncentrality
    effect * sqrt(n) / sd falls outside +-t_{1 - alpha/2} (``scipy.stats.nct``; the
    lower tail as the upper tail of -T, which scipy evaluates without NaNs)."""
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    noncentrality = effect * math.sqrt(n) / sd
    return float(
        stats.nct.sf(critical, df, noncentrality) + stats.nct.sf(critical, df, -noncentrality)
    )


def sd_upper_bound(sd: float, n: int, confidence: float = 0.8) -> float:
    """The one-sided upper ``confidence`` bound of a normal SD estimated from ``n`` values:
    sd * sqrt((n - 1) / chi2_{1 - confidence}(n - 1))."""
    df = n - 1
    return float(sd * math.sqrt(df / stats.chi2.ppf(1 - confidence, df)))


def minimum_detectable_effect(
    estimate: Estimate,
    power: float = POWER,
    confidence: float = 0.95,
    alpha: float = ALPHA,
    sd_confidence: float | None = None,
) -> float:
    """The smallest true mean difference that a two-sided paired t-test of the same design
    (n pairs, the same SD) detects with probability ``power`` at level ``alpha``, solved
    exactly on the noncentral t (:func:`paired_t_power`). The SD is read from the
    estimate's interval (``confidence`` is the interval's). With few pairs that SD is
    itself uncertain: ``sd_confidence`` (e.g. 0.8) uses its upper bound at that
    confidence instead (:func:`sd_upper_bound`). Give a corrected level (see
    :func:`corrected_alpha`) for a test inside a family. NaN when fewer than two pairs
    entered; 0 when the pairs have no spread.
    """
    if estimate.n < 2 or math.isnan(estimate.half_width):
        return math.nan
    n = estimate.n
    sd = standard_error(estimate, confidence) * math.sqrt(n)
    if sd == 0:
        return 0.0
    if sd_confidence is not None:
        sd = sd_upper_bound(sd, n, sd_confidence)
    return detectable_effect(sd, n, alpha, power)


def detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The true mean difference that a two-sided paired t-test with ``n`` pairs of SD
    ``sd`` detects with probability ``power`` at level ``alpha``: the root of
    :func:`paired_t_power` (bracketed, since power rises with the effect, then solved by
    scipy's brentq). In the unit of ``sd``."""
    high = sd
    while paired_t_power(high, sd, n, alpha) < power:
        high *= 2
    return float(
        optimize.brentq(lambda d: paired_t_power(d, sd, n, alpha) - power, 0.0, high, xtol=1e-12)
    )


def first_crossing(x: Sequence[float], y: Sequence[float], threshold: float) -> float:
    """The first ``x`` at which ``y`` comes down to ``threshold``: linear interpolation
    between the last point above it and the first at or below it; ``x[0]`` when ``y``
    starts there; NaN when it never gets there. Points where ``x`` or ``y`` is NaN are
    skipped; ``x`` must increase (steps, or seconds of a run's clock).

    >>> first_crossing([0, 50, 100], [4.0, 3.0, 2.0], 2.5)
    75.0
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if np.any(np.diff(xs) <= 0):
        raise GniError(f"x must increase; got {xs.tolist()}")
    below = np.flatnonzero(ys <= threshold)
    if below.size == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(xs[0])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x0 + (x1 - x0) * (y0 - threshold) / (y0 - y1))


#: The threshold's distance above the baseline's best, as a share of its drop
NEAR_BEST = 0.02


def time_to_near_best(
    curves: pd.DataFrame,
    between: str,
    baseline: str,
    by: Sequence[str] = (),
    pair_by: str = "seed",
    fraction: float = NEAR_BEST,
) -> pd.DataFrame:
    """Steps and seconds each run takes to reach its baseline's near-best validation loss.

    Per (``by``, ``pair_by``) group of ``curves`` (columns ``iter``, ``wall_s``,
    ``val_loss``, ``between``), the threshold is the baseline run's best validation loss
    plus ``fraction`` of the way from its first evaluation down to it, a level the
    baseline itself reaches; every run's steps and seconds to it come from
    :func:`first_crossing`. A run that never gets there has NaN: its time is censored
    (only known to exceed its run), so compare such times with :func:`race_table`, not
    with a t-test. One row per run, with ``reached`` and ``status`` "ok".
    """
    if not 0 <= fraction < 1:
        raise GniError(f"fraction={fraction!r}; allowed: 0 <= fraction < 1")
    _require_columns(curves, [*by, pair_by, between, "iter", "wall_s", "val_loss"])
    rows = []
    for key, group in curves.groupby([*by, pair_by], sort=False):
        keys = dict(zip([*by, pair_by], key if isinstance(key, tuple) else (key,), strict=True))
        base = group[group[between] == baseline].sort_values("iter")
        if base.empty:
            continue
        best, start = base["val_loss"].min(), base["val_loss"].iloc[0]
        threshold = best + fraction * (start - best)
        for arm, run in group.groupby(between, sort=False):
            run = run.sort_values("iter")
            steps = first_crossing(run["iter"], run["val_loss"], threshold)
            seconds = first_crossing(run["wall_s"], run["val_loss"], threshold)
            row = {**keys, between: arm, "status": "ok", "reached": not math.isnan(steps)}
            rows.append(row | {"steps": steps, "seconds": seconds})
    return pd.DataFrame(rows)


def _require_columns(runs: pd.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in runs.columns]
    if missing:
        raise GniError(f"runs table lacks column(s) {missing}; it has {list(runs.columns)}")


def _arms(group: pd.DataFrame, between: str, baseline: str, pair_by: str, where: dict) -> list[Any]:
    """The arms of a group, in order; raises unless the baseline is there and each arm
    has at most one run per ``pair_by`` value."""
    arms = list(dict.fromkeys(group[between]))
    if baseline not in arms:
        raise GniError(f"no {between}={baseline!r} runs for {where}; arms: {arms}")
    for arm, runs_of_arm in group.groupby(between, sort=False):
        repeated = runs_of_arm[pair_by][runs_of_arm[pair_by].duplicated()].tolist()
        if repeated:
            raise GniError(
                f"{where} {between}={arm!r}: {pair_by} {repeated} appear(s) in more than "
                f"one run; pairing needs one run per {pair_by}"
            )
    return arms


def _paired_row(base: pd.Series, treated: pd.Series, confidence: float) -> dict[str, Any]:
    """Baseline and treatment indexed alike by the pairing value: one row of the table."""
    entered = base.notna() & treated.notna()
    a, b = base[entered].to_numpy(), treated[entered].to_numpy()
    comparison = paired_comparison(a, b, confidence)
    return {
        "baseline": mean_ci(a, confidence),
        "treatment": mean_ci(b, confidence),
        "difference": comparison.difference,
        "p": comparison.p_value,
        "differences": b - a,
        "pairs": tuple(base.index[entered].tolist()),
        "excluded": tuple(base.index[~entered].tolist()),
    }


def paired_table(
    runs: pd.DataFrame,
    measures: Sequence[str],
    between: str,
    baseline: str,
    pair_by: str = "seed",
    by: Sequence[str] = ("dataset",),
    status: str | None = "status",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every arm against the baseline on every measure, paired by ``pair_by``, with Holm.

    ``runs`` has one row per run: the columns ``by`` (e.g. the dataset), ``between``
    (the arm, e.g. ``method``), ``pair_by`` (e.g. the seed), the ``measures`` and, unless
    ``status`` is None, a status column. Within each group of ``by``, each arm other than
    ``baseline`` is compared with the baseline run of the same ``pair_by`` value (see
    :func:`paired_comparison`). A pair enters only when both runs have status ``ok`` and
    a value of the measure; the others are named in ``excluded``, never dropped silently.
    A measure that no run of a group has (shakespeare_char has no test split) gives no
    row for that group.

    Returns one row per (``*by``, measure, arm), in the order of ``runs``, with columns:

    - ``*by``, ``measure`` (the column name), ``between`` (the treated arm);
    - ``baseline``, ``treatment``: :class:`Estimate` of each arm over the pairs that
      entered (the same pairs, so ``treatment.mean - baseline.mean == difference.mean``);
    - ``difference``: :class:`Estimate` of treatment - baseline; its ``n`` counts the pairs;
    - ``p``: the paired t-test's two-sided p-value; ``p_holm``: Holm-adjusted over every
      row of the table (the whole family);
    - ``differences``: the per-pair differences (an array, in the order of ``pairs``);
    - ``pairs``, ``excluded``: tuples of the ``pair_by`` values that entered and that did
      not (a run that is not ``ok``, a missing value, or a run missing from one arm).
    """
    by = list(by)
    _require_columns(runs, [*by, between, pair_by, *measures, *([status] if status else [])])
    rows = []
    groups = runs.groupby(by, sort=False) if by else [((), runs)]
    for keys, group in groups:
        where = dict(zip(by, keys, strict=True))
        arms = _arms(group, between, baseline, pair_by, where)
        all_pairs = sorted(set(group[pair_by]))
        ok = group[group[status] == "ok"] if status is not None else group
        for measure in measures:
            if group[measure].isna().all():
                continue
            values = {
                arm: ok[ok[between] == arm].set_index(pair_by)[measure].astype(float)
                for arm in arms
            }
            base = values[baseline].reindex(all_pairs)
            for arm in arms:
                if arm != baseline:
                    treated = values[arm].reindex(all_pairs)
                    row = _paired_row(base, treated, confidence)
                    rows.append({**where, "measure": measure, between: arm, **row})
    columns = [*by, "measure", between, "baseline", "treatment", "difference", "p"]
    table = pd.DataFrame(rows, columns=[*columns, "differences", "pairs", "excluded"])
    table.insert(len(columns), "p_holm", holm(table["p"].to_numpy(dtype=float)))
    return table


def spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rank correlation along ``axis``: Pearson's r of the ranks (ties take
    their average rank), as ``scipy.stats.spearmanr``, but vectorized, so that
    ``scipy.stats.bootstrap(..., vectorized=True)`` resamples it in one call."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def p_text(p: float) -> str:
    """A p-value for prose: three decimals below 0.1, so that one just above 0.05 does not
    print as 0.05 beside "not significant"; two above; "< 0.001" and "n/a" (NaN)."""
    if math.isnan(p):
        return "n/a"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def p_clause(p: float, name: str = "p") -> str:
    """``p = 0.012``, ``p < 0.001`` or ``p n/a``: a p-value with its relation, for prose
    (``name`` may be "Holm p")."""
    text = p_text(p)
    return f"{name} {text}" if text.startswith("<") or text == "n/a" else f"{name} = {text}"


@dataclass(frozen=True)
class Race:
    """Which run of each pair reaches a level first, when some never do.

    A run that never reaches the level within its steps is censored at its last step: its
    time is unknown, only that it exceeds the run's length. A pair still has a winner
    when at least one of its runs gets there (the other reaches later or never); a pair
    in which neither gets there, or both at the same step, is a tie and is dropped, as in
    any sign test. ``p``: the two-sided exact sign test (``scipy.stats.binomtest``) of
    "either run is equally likely to get there first" over the pairs with a winner.
    """

    pairs: int
    treatment_first: int
    baseline_first: int
    ties: int
    treatment_never: int
    baseline_never: int
    p: float

    @property
    def sign(self) -> int:
        """+1 when the treatment gets there later in more pairs, -1 when earlier, 0 when even."""
        return int(np.sign(self.baseline_first - self.treatment_first))

    @property
    def smallest_p(self) -> float:
        """The smallest p-value this many pairs can give (all won by one side)."""
        return float(min(1.0, 2 * 0.5**self.pairs)) if self.pairs else math.nan


def race(baseline: Sequence[float], treatment: Sequence[float]) -> Race:
    """The :class:`Race` of runs paired by position: each value is the step (or second)
    at which a run reached the level, NaN where it never did (censored)."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(treatment, dtype=float)
    if a.shape != b.shape:
        raise GniError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    a_never, b_never = np.isnan(a), np.isnan(b)
    treatment_first = int(np.sum(~b_never & (a_never | (b < a))))  # NaN < x is False
    baseline_first = int(np.sum(~a_never & (b_never | (a < b))))
    won = treatment_first + baseline_first
    p = stats.binomtest(treatment_first, won).pvalue if won else math.nan
    return Race(
        pairs=len(a),
        treatment_first=treatment_first,
        baseline_first=baseline_first,
        ties=len(a) - won,
        treatment_never=int(b_never.sum()),
        baseline_never=int(a_never.sum()),
        p=float(p),
    )


def race_table(
    reach: pd.DataFrame,
    between: str,
    baseline: str,
    pair_by: Sequence[str] = ("seed",),
    by: Sequence[str] = (),
    measure: str = "steps",
) -> pd.DataFrame:
    """:func:`race` of every arm against the baseline, from :func:`time_to_near_best`'s
    table (censored runs have NaN): one row per (``*by``, arm) with the :class:`Race` in
    ``race``. Pairs are matched on ``pair_by``: ("dataset", "seed") pools the datasets'
    pairs into one sign test, each pair still within one dataset."""
    keys = list(pair_by)
    _require_columns(reach, [*by, *keys, between, measure])
    rows = []
    groups = reach.groupby(list(by), sort=False) if by else [((), reach)]
    for group_keys, group in groups:
        where = dict(zip(by, group_keys, strict=True))  # a list of keys: tuples
        base = group[group[between] == baseline].set_index(keys)[measure]
        for arm, runs in group[group[between] != baseline].groupby(between, sort=False):
            treated = runs.set_index(keys)[measure]
            common = base.index.intersection(treated.index)
            result = race(base.loc[common].to_numpy(), treated.loc[common].to_numpy())
            rows.append({**where, between: arm, "race": result, "p": result.p})
    return pd.DataFrame(rows, columns=[*by, between, "race", "p"])


def differences_long(table: pd.DataFrame, keys: Sequence[str] = ("measure",)) -> pd.DataFrame:
    """The per-pair differences of a :func:`paired_table`, one row each: ``keys`` of
    their comparison, ``pair`` (the pairing value, e.g. the seed) and ``difference``."""
    rows = [
        {**{k: getattr(r, k) for k in keys}, "pair": pair, "difference": float(d)}
        for r in table.itertuples()
        for pair, d in zip(r.pairs, r.differences, strict=True)
    ]
    return pd.DataFrame(rows, columns=[*keys, "pair", "difference"])
