import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gni import GniError
from gni.stats import (
    corrected_alpha,
    corrected_interval,
    curve_band,
    detectable_effect,
    differences_long,
    first_crossing,
    holm,
    mean_ci,
    minimum_detectable_effect,
    p_clause,
    p_text,
    paired_comparison,
    paired_t_power,
    paired_table,
    race,
    race_table,
    sd_upper_bound,
    spearman_rho,
    time_to_near_best,
)


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


def test_paired_comparison_interval_is_the_t_interval_of_the_differences():
    d = np.array([-0.1, -0.2, -0.1])  # t = -4 on 2 degrees of freedom
    base = np.array([1.0, 2.0, 3.0])
    result = paired_comparison(base, base + d)
    half = stats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3)
    assert result.difference.mean == pytest.approx(-0.4 / 3)
    assert result.difference.lo == pytest.approx(-0.4 / 3 - half)
    assert result.difference.hi == pytest.approx(-0.4 / 3 + half)
    assert result.difference.n == 3
    assert result.p_value == pytest.approx(1 - 2 * math.sqrt(2) / 3)  # 2 * P(T_2 > 4)


def test_equal_non_zero_differences_give_p_zero_and_stay_in_the_holm_family():
    result = paired_comparison([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert result.p_value == 0.0  # t is infinite; not NaN, which Holm would leave out
    assert (result.difference.mean, result.difference.lo, result.difference.hi) == (0.5,) * 3
    assert holm([result.p_value, 0.02]).tolist() == [0.0, 0.02]


def test_all_zero_differences_give_p_one():
    result = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert result.p_value == 1.0
    assert (result.difference.mean, result.difference.lo, result.difference.hi) == (0.0,) * 3
    assert result.difference.n == 3


def test_paired_comparison_with_fewer_than_two_pairs_has_no_test():
    result = paired_comparison([1.0, math.nan], [2.0, 3.0])  # one pair left
    assert math.isnan(result.p_value) and result.difference.n == 1
    assert result.difference.mean == 1.0 and math.isnan(result.difference.lo)


def test_mean_ci_of_equal_values_is_that_value():
    est = mean_ci([0.1, 0.1, 0.1])
    assert (est.mean, est.lo, est.hi, est.n) == (0.1, 0.1, 0.1, 3)


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


def _runs() -> pd.DataFrame:
    """Two datasets x (baseline, GNI) x seeds 0-2; one GNI run of b diverged."""
    rows = []
    for method, losses, bpcs in [
        ("baseline", [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]),
        ("GNI", [0.9, 1.8, 2.9], [2.5, 2.5, 2.5]),  # differences -0.1, -0.2, -0.1; +0.5 x 3
    ]:
        for seed in range(3):
            rows.append(("a", method, seed, "ok", losses[seed], bpcs[seed]))
    for method, losses in [("baseline", [1.0, 1.5, 2.0]), ("GNI", [1.1, 1.5, 0.1])]:
        for seed in range(3):
            status = "diverged" if (method, seed) == ("GNI", 2) else "ok"
            rows.append(("b", method, seed, status, losses[seed], None))  # b: no test split
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "status", "loss", "bpc"])


def test_paired_table_compares_each_dataset_and_measure_with_holm_over_all_rows():
    table = paired_table(_runs(), ["loss", "bpc"], between="method", baseline="baseline")
    assert list(table.columns) == [
        "dataset",
        "measure",
        "method",
        "baseline",
        "treatment",
        "difference",
        "p",
        "p_holm",
        "differences",
        "pairs",
        "excluded",
    ]
    assert table[["dataset", "measure", "method"]].values.tolist() == [
        ["a", "loss", "GNI"],
        ["a", "bpc", "GNI"],
        ["b", "loss", "GNI"],  # b has no bpc: no row
    ]
    a_loss, a_bpc, b_loss = (row for _, row in table.iterrows())
    assert a_loss["baseline"] == mean_ci([1.0, 2.0, 3.0])
    assert a_loss["treatment"] == mean_ci([0.9, 1.8, 2.9])
    assert a_loss["difference"].mean == pytest.approx(-0.4 / 3)
    assert a_loss["differences"] == pytest.approx([-0.1, -0.2, -0.1])
    assert a_loss["p"] == pytest.approx(1 - 2 * math.sqrt(2) / 3)  # t = -4, 2 df
    assert a_bpc["p"] == 0.0 and a_bpc["difference"].mean == 0.5  # equal differences
    # b: the diverged seed 2 is left out of both arms, although its loss is a number
    assert b_loss["pairs"] == (0, 1) and b_loss["excluded"] == (2,)
    assert b_loss["baseline"] == mean_ci([1.0, 1.5]) and b_loss["treatment"].n == 2
    assert b_loss["difference"].n == 2 and b_loss["difference"].mean == pytest.approx(0.05)
    assert b_loss["p"] == pytest.approx(0.5)  # t = 1 on 1 df: the Cauchy distribution
    # Holm over the family of three: 0 * 3, 0.0572 * 2, max(0.114, 0.5 * 1)
    assert table["p_holm"].tolist() == pytest.approx([2 * a_loss["p"], 0.0, 0.5])
    for _, row in table.iterrows():
        assert row["treatment"].mean - row["baseline"].mean == pytest.approx(row["difference"].mean)


def test_paired_table_names_seeds_missing_from_an_arm_and_keeps_nan_p_out_of_holm():
    runs = _runs()
    runs = runs[~((runs["dataset"] == "a") & (runs["method"] == "GNI") & (runs["seed"] > 0))]
    table = paired_table(runs.drop(columns="status"), ["loss"], "method", "baseline", status=None)
    a = table.set_index("dataset").loc["a"]
    assert a["pairs"] == (0,) and a["excluded"] == (1, 2) and a["difference"].n == 1
    assert math.isnan(a["p"]) and math.isnan(a["p_holm"])
    b = table.set_index("dataset").loc["b"]
    assert b["pairs"] == (0, 1, 2) and b["excluded"] == ()  # no status column: all enter
    assert b["p_holm"] == b["p"]  # the family has one test
    alone = paired_table(runs[runs["dataset"] == "b"], ["loss"], "method", "baseline", by=())
    assert list(alone.columns[:2]) == ["measure", "method"] and alone["excluded"][0] == (2,)


def test_paired_table_rejects_tables_it_cannot_pair():
    runs = _runs()
    with pytest.raises(ValueError, match=r"seed \[0\] appear\(s\) in more than one run"):
        paired_table(pd.concat([runs, runs.iloc[:1]]), ["loss"], "method", "baseline")
    with pytest.raises(ValueError, match=r"no method='none' runs for \{'dataset': 'a'\}"):
        paired_table(runs, ["loss"], "method", "none")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['val'\]"):
        paired_table(runs, ["val"], "method", "baseline")


def test_first_crossing_interpolates_between_evaluations():
    x, y = [0, 50, 100, 150], [4.0, 3.0, 2.0, 2.5]
    assert first_crossing(x, y, 2.5) == 75.0
    assert first_crossing(x, y, 3.0) == 50.0  # reached exactly at a point
    assert first_crossing(x, y, 4.5) == 0.0  # there from the start
    assert math.isnan(first_crossing(x, y, 1.0))  # never
    # the first crossing counts, not a later one; NaN points are skipped
    assert first_crossing([0, 1, 2, 3], [3.0, 1.0, 3.0, 1.0], 2.0) == 0.5
    assert first_crossing([0, 1, 2], [3.0, math.nan, 1.0], 2.0) == 1.0
    with pytest.raises(ValueError, match="x must increase"):
        first_crossing([0, 0, 1], [3.0, 2.0, 1.0], 2.5)


@pytest.mark.parametrize("pairs", [3, 6, 12, 32])
@pytest.mark.parametrize("alpha", [0.05, 0.05 / 8])
def test_a_true_effect_at_the_mde_is_detected_with_the_stated_power(pairs, alpha):
    """Simulated, not recomputed: normal differences whose mean is the MDE and whose SD is
    the one the interval implies, tested by scipy's t-test, reject about 80% of the time."""
    rng = np.random.default_rng(pairs)
    e = mean_ci(rng.normal(0.0, 0.1, size=pairs))
    sd = e.half_width / stats.t.ppf(0.975, pairs - 1) * math.sqrt(pairs)
    mde = minimum_detectable_effect(e, alpha=alpha)
    draws = rng.normal(mde, sd, size=(40_000, pairs))
    power = np.mean(stats.ttest_1samp(draws, 0.0, axis=1).pvalue < alpha)
    assert 0.79 <= power <= 0.81  # 40,000 draws: the simulation's SE is 0.002
    assert paired_t_power(mde, sd, pairs, alpha) == pytest.approx(0.8, abs=1e-9)
    assert detectable_effect(sd, pairs, alpha) == pytest.approx(mde, rel=1e-9)  # SD level


def test_the_mde_grows_with_the_correction_and_with_the_sds_upper_bound():
    e = mean_ci([0.1, 0.3, 0.2, 0.25])
    plain = minimum_detectable_effect(e)
    assert plain > e.half_width  # 80% power needs more than the CI's half-width
    assert minimum_detectable_effect(e, alpha=corrected_alpha(4)) > plain
    upper = minimum_detectable_effect(e, sd_confidence=0.8)
    sd = e.half_width / stats.t.ppf(0.975, 3) * 2
    # the SD's upper 80% bound from the chi-square distribution of (n - 1) s^2 / sigma^2
    assert sd_upper_bound(sd, 4) == pytest.approx(sd * math.sqrt(3 / stats.chi2.ppf(0.2, 3)))
    assert upper == pytest.approx(plain * sd_upper_bound(1.0, 4), rel=1e-6)
    assert math.isnan(minimum_detectable_effect(mean_ci([0.1])))
    assert minimum_detectable_effect(mean_ci([0.2, 0.2, 0.2])) == 0.0


def test_a_corrected_interval_is_the_t_interval_at_the_corrected_level():
    values = [0.1, 0.3, 0.2, 0.25]
    e = mean_ci(values)
    wide = corrected_interval(e, family_size=8)
    ci = stats.ttest_1samp(values, 0.0).confidence_interval(1 - 0.05 / 8)
    assert (wide.lo, wide.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    same = corrected_interval(e, family_size=1)
    assert (same.lo, same.hi) == (pytest.approx(e.lo), pytest.approx(e.hi))
    with pytest.raises(ValueError, match="family_size=0"):
        corrected_alpha(0)


def test_a_race_counts_who_gets_there_first_and_censored_runs_lose():
    nan = math.nan
    # pairs: noise later; noise never (baseline first); both never (a tie); noise first
    r = race([100.0, 200.0, nan, 300.0], [150.0, nan, nan, 250.0])
    assert (r.pairs, r.treatment_first, r.baseline_first, r.ties) == (4, 1, 2, 1)
    assert (r.treatment_never, r.baseline_never) == (2, 1)
    assert r.p == pytest.approx(stats.binomtest(1, 3).pvalue) and r.sign == 1
    assert race([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).smallest_p == 0.25  # 3 pairs: p >= 0.25
    assert math.isnan(race([nan], [nan]).p)


def test_a_race_table_pools_pairs_across_datasets_when_asked():
    reach = pd.DataFrame(
        [
            {"dataset": d, "seed": s, "method": m, "steps": v}
            for d in ("a", "b")
            for s in range(3)
            for m, v in (("baseline", 100.0), ("GNI", math.nan if d == "b" else 150.0))
        ]
    )
    pooled = race_table(reach, "method", "baseline", pair_by=["dataset", "seed"])
    assert len(pooled) == 1 and pooled["race"].iloc[0].baseline_first == 6
    assert pooled["p"].iloc[0] == pytest.approx(2 * 0.5**6)
    apart = race_table(reach, "method", "baseline", by=["dataset"])
    assert list(apart["dataset"]) == ["a", "b"] and apart["p"].tolist() == [0.25, 0.25]


def test_p_values_near_the_level_keep_a_third_decimal():
    assert [p_text(p) for p in (0.0004, 0.0123, 0.0512, 0.0999, 0.1, 0.449, 1.0)] == [
        "< 0.001",
        "0.012",
        "0.051",
        "0.100",
        "0.10",
        "0.45",
        "1.00",
    ]
    assert p_text(math.nan) == "n/a"


def test_time_to_near_best_measures_each_run_against_its_own_seeds_baseline():
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.5)):
        for arm, losses in (("baseline", [4.0, 3.0, 2.0, 2.2]), ("noise", [4.0, 3.5, 2.5, 2.0])):
            for i, loss in enumerate(losses):
                rows.append(
                    {
                        "seed": seed,
                        "method": arm,
                        "iter": 100 * i,
                        "wall_s": 10.0 * i,
                        "val_loss": loss + shift,
                    }
                )
    reach = time_to_near_best(pd.DataFrame(rows), "method", "baseline", fraction=0.0)
    assert len(reach) == 4 and set(reach["status"]) == {"ok"}
    by = reach.set_index(["seed", "method"])
    # the threshold is the baseline's best (fraction 0): 2.0 (+ the seed's shift)
    assert by.loc[(0, "baseline"), "steps"] == 200.0
    assert by.loc[(1, "noise"), "steps"] == 300.0 and by.loc[(1, "noise"), "seconds"] == 30.0
    halfway = time_to_near_best(pd.DataFrame(rows), "method", "baseline", fraction=0.5)
    # threshold 3.0: the baseline at step 100, the noise halfway from 3.5 to 2.5
    assert halfway.set_index(["seed", "method"]).loc[(0, "noise"), "steps"] == 150.0
    with pytest.raises(ValueError, match="fraction=1"):
        time_to_near_best(pd.DataFrame(rows), "method", "baseline", fraction=1)


def test_time_to_near_best_leaves_a_run_that_never_gets_there_censored():
    rows = [
        {"seed": 0, "method": arm, "iter": 100 * i, "wall_s": 10.0 * i, "val_loss": loss}
        for arm, losses in (("baseline", [4.0, 3.0, 2.0]), ("noise", [4.0, 3.5, 3.0]))
        for i, loss in enumerate(losses)
    ]
    reach = time_to_near_best(pd.DataFrame(rows), "method", "baseline", fraction=0.0)
    by = reach.set_index("method")
    assert math.isnan(by.loc["noise", "steps"]) and not by.loc["noise", "reached"]
    assert by.loc["baseline", "reached"]


def test_spearman_rho_is_scipys_and_vectorized():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 12)), rng.normal(size=(5, 12))
    x[0, :3] = 1.0  # ties take their average rank
    for i in range(5):
        assert spearman_rho(x[i], y[i]) == pytest.approx(
            stats.spearmanr(x[i], y[i]).statistic, abs=1e-12
        )
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(spearman_rho(x, y, axis=-1), expected, atol=1e-12)


def test_differences_long_lists_every_pairs_difference_with_its_comparison():
    runs = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "arm": ["baseline", "baseline", "noise", "noise"],
            "seed": [0, 1, 0, 1],
            "loss": [2.0, 2.5, 2.25, 2.25],
            "status": ["ok"] * 4,
        }
    )
    table = paired_table(runs, ["loss"], between="arm", baseline="baseline")
    long = differences_long(table, keys=["measure", "arm"])
    assert long.to_dict("records") == [
        {"measure": "loss", "arm": "noise", "pair": 0, "difference": 0.25},
        {"measure": "loss", "arm": "noise", "pair": 1, "difference": -0.25},
    ]


def test_a_p_clause_reads_as_prose_below_the_smallest_printed_value():
    assert [p_clause(p) for p in (0.012, 0.0004, math.nan)] == ["p = 0.012", "p < 0.001", "p n/a"]
    assert p_clause(0.5, "Holm p") == "Holm p = 0.50"


def test_holm_over_a_declared_family_counts_the_tests_not_run_as_one():
    assert holm([0.01, 0.03], family_size=4).tolist() == pytest.approx([0.04, 0.09])
    assert holm([0.01, 0.03, 1.0, 1.0]).tolist()[:2] == pytest.approx([0.04, 0.09])
    assert holm([0.01, float("nan")], family_size=1).tolist()[0] == pytest.approx(0.01)
    with pytest.raises(GniError, match="family_size=1 is smaller than the 2 p-values"):
        holm([0.01, 0.03], family_size=1)
