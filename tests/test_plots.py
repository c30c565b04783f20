"""The forest plot draws what it is given: intervals, and the minimum detectable effect."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from gni import plots
from gni.plots import METHOD_COLORS, method_colors
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


def test_forest_marks_the_detectable_effect_at_the_corrected_level_of_its_family():
    effects = _effects().assign(family_size=[8, 2])
    fig = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    spans = _lines(fig, plots.DETECTABLE_LABEL)
    for span, e, family in zip(spans, effects["difference"], (8, 2), strict=True):
        mde = minimum_detectable_effect(e, alpha=0.05 / family)
        np.testing.assert_allclose(span.get_xdata(), [-mde, mde])


def test_forest_fits_the_spans_in_its_range_when_asked():
    effects = _effects()
    widest = max(minimum_detectable_effect(e) for e in effects["difference"])
    cut = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    fit = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True, fit_spans=True)
    low, high = fit.axes[0].get_xlim()
    assert low < -widest and high > widest  # every span whole
    assert cut.axes[0].get_xlim()[1] < widest  # by default the widest is cut at the edge


def test_forest_without_the_marker_draws_no_span():
    fig = plots.forest_panels(_effects(), "arm", [("loss", "loss")])
    assert not _lines(fig, plots.DETECTABLE_LABEL)
    assert not fig.legends


@pytest.mark.parametrize("n", [0, 1])
def test_forest_skips_the_span_without_an_interval(n):
    effects = _effects().iloc[:1].assign(difference=[Estimate(0.1, np.nan, np.nan, n)])
    fig = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    assert not _lines(fig, plots.DETECTABLE_LABEL)


def test_scatter_grid_draws_one_dot_per_point_in_every_panel():
    points = pd.DataFrame(
        {"a": [1.0, 2.0, 4.0], "b": [3.0, 1.0, 2.0], "gap": [0.1, 0.2, 0.3], "arm": list("xyx")}
    )
    fig = plots.scatter_grid(points, [[("a", "A"), ("b", "B")]], "gap", "gap", hue="arm")
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"
    for ax, column in zip(fig.axes, ("a", "b"), strict=True):
        xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
        assert sorted(xs) == sorted(points[column])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["x", "y"]
    with pytest.raises(ValueError, match="same number of panels"):
        plots.scatter_grid(points, [[("a", "A")], [("a", "A"), ("b", "B")]], "gap", "", "arm")


def test_contour_panels_share_their_levels_and_put_z_rows_on_alpha():
    alpha, beta = [-1.0, 0.0, 1.0], [-1.0, 1.0]
    z = [[1.0, 2.0], [0.0, 0.5], [3.0, 4.0]]  # z[i][j] at alpha[i], beta[j]
    fig = plots.contour_panels({"p": (alpha, beta, z), "q": (alpha, beta, z)}, [0, 1, 2, 3])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["p", "q"]
    filled = panels[0].collections[0]
    np.testing.assert_allclose(filled.levels, [0, 1, 2, 3])
    assert panels[0].get_xlim() == (-1.0, 1.0) and panels[0].get_ylim() == (-1.0, 1.0)


def test_the_legend_above_names_every_panels_lines_once():
    band = pd.DataFrame(
        {
            "panel": ["p", "p", "q", "q"],
            "arm": ["a", "b", "a", "c"],
            "iter": [0, 0, 0, 0],
            "mean": [1.0, 2.0, 3.0, 4.0],
            "lo": [0.5, 1.5, 2.5, 3.5],
            "hi": [1.5, 2.5, 3.5, 4.5],
        }
    )
    fig = plots.curve_panels(band, "loss", hue="arm", col="panel")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "c"]


def test_a_method_keeps_its_colour_and_other_arms_get_colours_of_their_own():
    colors = method_colors(["constant, low", "baseline", "GNI", "exponential, low", "dropout"])
    assert colors["baseline"] == METHOD_COLORS["baseline"]
    assert colors["GNI"] == METHOD_COLORS["GNI"]
    assert colors["dropout"] == METHOD_COLORS["dropout"]
    others = [colors["constant, low"], colors["exponential, low"]]
    assert others[0] != others[1]
    assert not {str(c) for c in others} & {str(c) for c in METHOD_COLORS.values()}
    assert method_colors(["GNI", "baseline"]) == {
        "GNI": METHOD_COLORS["GNI"],
        "baseline": METHOD_COLORS["baseline"],
    }


def _band() -> pd.DataFrame:
    rows = []
    for dataset in ("a", "b", "c"):
        for method in ("baseline", "GNI"):
            for step in range(0, 100, 10):
                mean = 1 + step / 100
                rows.append(
                    {"dataset": dataset, "method": method, "iter": step, "mean": mean}
                    | {"lo": mean - 0.1, "hi": mean + 0.1}
                )
    return pd.DataFrame(rows)


def test_a_responsive_figure_is_drawn_side_by_side_and_stacked():
    figure = plots.responsive(plots.curve_panels, _band(), "loss (nats/char)")
    wide, narrow = figure.wide, figure.narrow
    assert wide.width > 2.5 * narrow.width  # three panels in a row, one in a row
    assert narrow.height > 2.5 * wide.height
    assert wide.width / 2 <= plots.WIDE_INCHES * plots.DPI  # fits a wide page's column
    # the smallest text, in pixels of the PNG (twice the CSS pixels): 9 pt or more
    assert wide.min_text_px >= plots.MIN_FONT_PT * 2 * plots.DPI / 72
    html = figure.html(alt="the loss")
    assert html.startswith("<picture><source media=") and 'alt="the loss"' in html
    assert f'width="{narrow.width // 2}"' in html and f'width="{wide.width // 2}"' in html
    bundle = figure._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}  # each PNG once, in the HTML
    assert wide.png[25] == 3  # a palette PNG (IHDR colour type 3): a third of the size


def test_a_figure_wider_than_a_page_wraps_its_panels_and_one_panel_is_drawn_once():
    effects = pd.concat([_effects().assign(measure=m) for m in "pqrs"])
    figure = plots.responsive(plots.forest_panels, effects, "arm", [(m, m) for m in "pqrs"])
    assert figure.wide.width / 2 <= plots.WIDE_INCHES * plots.DPI * 1.05  # 2 to a row
    single = plots.responsive(plots.forest_panels, _effects(), "arm", [("loss", "loss")])
    assert single.narrow is None and single.html().count("<img") == 1


def test_heatmap_text_takes_the_colour_of_higher_contrast():
    assert plots.text_color((0.02, 0.19, 0.38)) == "white"  # dark blue
    assert plots.text_color((0.82, 0.9, 0.94)) == "black"  # light blue
    assert plots.contrast_ratio((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    for grey in np.linspace(0, 1, 21):  # the better of black and white always passes AA
        background = (grey, grey, grey)
        best = max(plots.contrast_ratio(c, background) for c in ((0, 0, 0), (1, 1, 1)))
        assert best >= 4.5


def test_a_legend_row_holds_what_fits():
    assert plots.legend_columns(["baseline", "GNI"], 10.2) == 2
    assert plots.legend_columns(["mean paired difference, 95% CI", "no difference"], 3.4) == 1
    assert plots.legend_columns([f"arm {i}" for i in range(9)], 10.2) == 4


def test_forest_fits_its_x_range_to_the_intervals_not_to_a_huge_span():
    """A family of 35 at three seeds has an MDE far beyond every interval: the panel keeps
    the intervals legible and cuts the span at its edge."""
    effects = _effects().assign(family_size=[35, 35])
    fig = plots.forest_panels(effects, "arm", [("loss", "loss")], detectable=True)
    lo, hi = fig.axes[0].get_xlim()
    assert -0.06 < lo < -0.05 and 0.02 < hi < 0.03
    assert minimum_detectable_effect(effects["difference"][0], alpha=0.05 / 35) > 5 * hi
