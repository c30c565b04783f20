import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gni.stats import curve_band, holm, mean_ci, paired_comparison


def test_mean_ci_is_the_student_t_interval():
    est = mean_ci([1.0, 2.0, 3.0, 4.0])
    half = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert (est.mean, est.n) == (2.5, 4)
    assert est.lo == pytest.approx(2.5 - half) and est.hi == pytest.approx(2.5 + half)
    assert est.format(2) == f"2.50 ± {half:.2f}"


def test_mean_ci_of_one_value_has_no_interval_and_nans_are_dropped():
    est = mean_ci([2.0, math.nan])
    assert est.mean == 2.0 and est.n == 1 and math.isnan(est.lo) and est.format(1) == "2.0"


def test_paired_comparison_uses_per_seed_differences():
    baseline = [1.00, 2.00, 3.00, 4.00]
    treatment = [0.90, 1.91, 2.89, 3.90]  # large spread between seeds, steady difference
    result = paired_comparison(baseline, treatment)
    assert result.difference.mean == pytest.approx(-0.10)
    assert result.difference.hi < 0
    assert result.p_value == pytest.approx(stats.ttest_rel(treatment, baseline).pvalue)
    assert result.p_value < 0.001
    assert stats.ttest_ind(treatment, baseline).pvalue > 0.5  # unpaired would see nothing


def test_paired_comparison_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="equal lengths, got 2 and 3"):
        paired_comparison([1, 2], [1, 2, 3])


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, 0.03, math.nan])
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06
    assert adjusted[:3].tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_curve_band_averages_over_seeds_per_iteration():
    curves = pd.DataFrame(
        {
            "method": ["a"] * 4 + ["b"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "iter": [0, 10] * 4,
            "val_loss": [4, 2, 4, 3, 4, 1, 4, 1],
        }
    )
    band = curve_band(curves, "val_loss", by=["method"])
    a10 = band[(band["method"] == "a") & (band["iter"] == 10)].iloc[0]
    assert a10["mean"] == 2.5 and a10["n"] == 2 and a10["lo"] < 2.5 < a10["hi"]
    b10 = band[(band["method"] == "b") & (band["iter"] == 10)].iloc[0]
    assert b10["lo"] == b10["hi"] == 1.0


def test_prediction_interval_is_wider_than_the_confidence_interval():
    from gni.stats import prediction_interval

    x = [1.0, 2.0, 3.0, 4.0]
    t = stats.t.ppf(0.975, 3)
    s = np.std(x, ddof=1)
    one = prediction_interval(x)
    assert one.half_width == pytest.approx(t * s * math.sqrt(1 + 1 / 4))
    three = prediction_interval(x, new_draws=3)  # the mean of three new values
    assert three.half_width == pytest.approx(t * s * math.sqrt(1 / 3 + 1 / 4))
    assert mean_ci(x).half_width < three.half_width < one.half_width
    assert math.isnan(prediction_interval([1.0]).lo)


def test_paired_differences_match_runs_by_dataset_seed_and_step():
    from gni.stats import paired_differences

    curves = pd.DataFrame(
        {
            "dataset": ["a"] * 4,
            "seed": [0, 0, 1, 1],
            "iter": [10] * 4,
            "method": ["baseline", "GNI", "GNI", "baseline"],
            "val_loss": [2.0, 2.5, 3.5, 3.0],
        }
    )
    d = paired_differences(curves, "val_loss", between="method", baseline="baseline")
    assert d.sort_values("seed")["difference"].tolist() == [0.5, 0.5]
    assert set(d.columns) == {"dataset", "seed", "iter", "method", "difference"}
