"""The book's formatters of an estimate."""

import math

from gni import report
from gni.stats import Estimate

DIFFERENCE = Estimate(0.0123, -0.0041, 0.0287, 3)
ONE_PAIR = Estimate(-0.2, math.nan, math.nan, 1)


def test_an_interval_is_the_signed_mean_and_its_bounds():
    assert report.interval(DIFFERENCE) == "+0.012 [-0.004, +0.029]"
    assert report.interval(DIFFERENCE, digits=1) == "+0.0 [-0.0, +0.0]"
    assert report.bounds(DIFFERENCE) == "[-0.004, +0.029]"


def test_without_two_pairs_the_text_says_why_there_is_no_interval():
    assert report.interval(ONE_PAIR) == "-0.200 (n/a: 1 pair)"
    assert report.bounds(Estimate(math.nan, math.nan, math.nan, 0)) == "n/a: 0 pairs"
    assert report.ratio(ONE_PAIR).endswith("0.87 (n/a: 1 pair)")


def test_a_log2_difference_prints_as_the_factor_it_stands_for():
    halved = Estimate(-1.0, -2.0, 0.0, 3)
    assert report.ratio(halved) == "\N{MULTIPLICATION SIGN}0.50 [0.25, 1.00]"


def test_a_count_agrees_with_its_noun():
    assert report.plural(0, "run") == "0 runs"
    assert report.plural(1, "fixed batch", "es") == "1 fixed batch"
    assert report.plural(3, "fixed batch", "es") == "3 fixed batches"


def test_a_list_in_prose_joins_its_last_item_with_and():
    assert report.and_list(["a"]) == "a"
    assert report.and_list(["a", "b"]) == "a and b"
    assert report.and_list(["a", "b", "c"]) == "a, b and c"
