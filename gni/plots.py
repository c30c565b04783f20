"""Figures of the book: one function per kind of figure, one shared style.

Every function takes tidy DataFrames (from :mod:`gni.results` and :mod:`gni.stats`)
and returns a matplotlib Figure; none trains or reads files.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

DATASET_TITLES = {"shakespeare_char": "shakespeare_char", "enwik8": "enwik8", "text8": "text8"}


def use_style() -> None:
    """The book's look: seaborn's whitegrid, a colour-blind palette, readable sizes."""
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})


def curve_panels(
    band: pd.DataFrame,
    ylabel: str,
    hue: str = "method",
    col: str = "dataset",
    hue_order: Sequence[str] | None = None,
    col_order: Sequence[str] | None = None,
    x: str = "iter",
    xlabel: str = "optimizer step",
) -> Figure:
    """One panel per ``col`` value; per ``hue`` value the mean curve and its CI band.

    ``band`` has the columns of :func:`gni.stats.curve_band` (mean, lo, hi).
    """
    cols = list(col_order or sorted(band[col].unique()))
    hues = list(hue_order or sorted(band[hue].unique()))
    colors = dict(zip(hues, sns.color_palette(n_colors=len(hues)), strict=True))
    fig, axes = plt.subplots(1, len(cols), figsize=(3.3 * len(cols), 3.3), squeeze=False)
    for ax, value in zip(axes[0], cols, strict=True):
        panel = band[band[col] == value]
        for h in hues:
            line = panel[panel[hue] == h].sort_values(x)
            if line.empty:
                continue
            ax.plot(line[x], line["mean"], color=colors[h], label=str(h), lw=1.6)
            ax.fill_between(line[x], line["lo"], line["hi"], color=colors[h], alpha=0.25, lw=0)
        ax.set_title(DATASET_TITLES.get(value, str(value)))
        ax.set_xlabel(xlabel)
        _zoom_past_start(ax, panel)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(title=hue, frameon=True)
    fig.tight_layout()
    return fig


def _zoom_past_start(ax: plt.Axes, panel: pd.DataFrame) -> None:
    """Losses fall fast at first: limit the y-axis to the range after the first fifth."""
    late = panel[panel["iter"] >= panel["iter"].max() * 0.2]
    if late.empty:
        return
    lo, hi = late["lo"].fillna(late["mean"]).min(), late["hi"].fillna(late["mean"]).max()
    pad = (hi - lo) * 0.15 or 0.05
    ax.set_ylim(lo - pad, hi + pad)
