"""The forest plot draws what it is given: intervals, and the minimum detectable effect."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from gni import plots
from gni.stats import Estimate, minimum_detectable_effect


def _effects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measure": ["loss", "loss"],
            "arm": ["a", "b"],
            "difference": [Estimate(-0.02, -0.05, 0.01, 3), Estimate(0.01, 0.0, 0.02, 6)],
        }
    )


def _lines(fig, label):
    return [line for line in fig.axes[0].get_lines() if line.get_label() == label]


def test_forest_marks_each_rows_minimum_detectable_effect():
    effects = _effects()
    fig = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    spans = _lines(fig, plots.DETECTABLE_LABEL)
    assert len(spans) == 2
    for span, e, y in zip(spans, effects["difference"], (0, 1), strict=True):
        mde = minimum_detectable_effect(e)
        np.testing.assert_allclose(span.get_xdata(), [-mde, mde])
        np.testing.assert_allclose(span.get_ydata(), [y, y])
    intervals = _lines(fig, "mean difference, 95% CI")
    np.testing.assert_allclose(intervals[0].get_xdata(), [-0.05, 0.01])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        plots.DETECTABLE_LABEL,
        "mean difference, 95% CI",
    ]


def test_forest_without_the_marker_draws_no_span():
    fig = plots.forest_panels(_effects(), "arm", [("loss", "loss")])
    assert not _lines(fig, plots.DETECTABLE_LABEL)
    assert not fig.legends


@pytest.mark.parametrize("n", [0, 1])
def test_forest_skips_the_span_without_an_interval(n):
    effects = _effects().iloc[:1].assign(difference=[Estimate(0.1, np.nan, np.nan, n)])
    fig = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    assert not _lines(fig, plots.DETECTABLE_LABEL)
