"""Figures of the book: one function per kind of figure, one shared style.

Every function takes tidy DataFrames (from :mod:`gni.results` and :mod:`gni.stats`)
and returns a matplotlib Figure; none trains or reads files. Axes show the whole
curve, legends sit above the panels (never on the data), and figures are rendered at
twice their size in pixels so they stay sharp on high-density screens.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from gni.stats import minimum_detectable_effect

PANEL_INCHES = 3.4  # width of one panel; three panels fit a book page at 100 dpi
DETECTABLE_LABEL = "± minimum detectable effect (80% power)"
_PALETTE = sns.color_palette("colorblind")
# One colour per method in every chapter's figures (names as the chapters label them).
METHOD_COLORS: dict[str, Any] = {
    "baseline": "black",
    "GNI": _PALETTE[0],  # the paper's schedule at chapter 1's setting
    "GNI, chapter 1": _PALETTE[0],
    "GNI (exponential)": _PALETTE[9],  # the paper's schedule, tuned in chapter 3
    "GNI (anticorrelated)": _PALETTE[2],  # chapter 2's best kind of noise, tuned in chapter 3
    "GNI, chapter 2": _PALETTE[3],  # chapter 2's confirmed best setting
    "dropout": _PALETTE[1],
    "weight decay": _PALETTE[5],
    "label smoothing": _PALETTE[6],
    "paper's template": _PALETTE[4],
}


def method_colors(labels: Sequence[str]) -> dict[str, Any]:
    """Each label's colour: its :data:`METHOD_COLORS` entry where it has one, else the
    palette's colours that no method there takes, in order (so a chapter's own arms,
    the families of chapter 2 say, differ from each other and from the book's methods)."""
    taken = {str(c) for c in METHOD_COLORS.values()}
    spare = itertools.cycle([c for c in _PALETTE if str(c) not in taken] + _PALETTE)
    colors = {}
    for label in dict.fromkeys(labels):
        colors[label] = METHOD_COLORS[label] if label in METHOD_COLORS else next(spare)
    return colors


def use_style() -> None:
    """The book's look: seaborn's whitegrid, a colour-blind palette, readable sizes, 2x PNGs."""
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind", font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})
    set_matplotlib_formats("retina")  # PNG at 2x, displayed at 1x


def _panels(n: int, height: float = 3.0) -> tuple[Figure, list[Axes]]:
    fig, axes = plt.subplots(
        1, n, figsize=(PANEL_INCHES * n, height), squeeze=False, layout="constrained"
    )
    return fig, list(axes[0])


def _band(ax: Axes, line: pd.DataFrame, x: str, color: tuple, label: str) -> None:
    ax.plot(line[x], line["mean"], color=color, label=label, lw=1.6)
    ax.fill_between(line[x], line["lo"], line["hi"], color=color, alpha=0.25, lw=0)


def legend_above(fig: Figure, axes: list[Axes], title: str) -> None:
    """One legend above all panels, of every label any panel has (each once, in the
    order first met, panel by panel), at most four entries a row."""
    unique: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    handles, labels = list(unique.values()), list(unique)
    fig.legend(
        handles,
        labels,
        title=title,
        loc="outside upper center",
        ncols=min(len(labels), 4),
        frameon=False,
    )


def curve_panels(
    band: pd.DataFrame,
    ylabel: str,
    hue: str = "method",
    col: str = "dataset",
    hue_order: Sequence[str] | None = None,
    col_order: Sequence[str] | None = None,
    x: str = "iter",
    xlabel: str = "optimizer step",
    colors: dict[str, Any] | None = None,
    legend_title: str | None = None,
) -> Figure:
    """One panel per ``col`` value; per ``hue`` value the mean curve and its CI band.

    ``band`` has the columns of :func:`gni.stats.curve_band` (mean, lo, hi). ``colors``
    fixes each hue's colour; by default :func:`method_colors`, so that a method keeps its
    colour in every chapter. The legend's title is ``hue`` unless given.
    """
    cols = list(col_order or sorted(band[col].unique()))
    hues = list(hue_order or sorted(band[hue].unique()))
    colors = colors or method_colors(hues)
    fig, axes = _panels(len(cols))
    for ax, value in zip(axes, cols, strict=True):
        panel = band[band[col] == value]
        for h in hues:
            line = panel[panel[hue] == h].sort_values(x)
            if not line.empty:
                _band(ax, line, x, colors[h], str(h))
        ax.set_title(str(value))
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    legend_above(fig, axes, hue if legend_title is None else legend_title)
    return fig


def difference_panels(
    band: pd.DataFrame,
    ylabel: str,
    col: str = "dataset",
    col_order: Sequence[str] | None = None,
    x: str = "iter",
    xlabel: str = "optimizer step",
    label: str = "mean paired difference, 95% CI",
) -> Figure:
    """One panel per ``col`` value: a paired difference over steps, its CI band, and zero.

    Where the band excludes the zero line, the difference is significant at that step
    (before any correction for looking at many steps).
    """
    cols = list(col_order or sorted(band[col].unique()))
    color = sns.color_palette(n_colors=3)[2]
    fig, axes = _panels(len(cols))
    for ax, value in zip(axes, cols, strict=True):
        _band(ax, band[band[col] == value].sort_values(x), x, color, label)
        ax.axhline(0.0, color="0.3", lw=1.0, ls="--", label="no difference")
        ax.set_title(str(value))
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    legend_above(fig, axes, "")
    return fig


def heatmap_panels(
    cells: pd.DataFrame,
    panels: Sequence[tuple[str, str]],
    row: str,
    col: str,
    annotate: str | None = None,
    center: float | None = 0.0,
) -> Figure:
    """One heatmap per (column of ``cells``, title) in ``panels``, ``row`` x ``col``.

    ``cells`` has one row per cell. With ``center`` the colours diverge around it
    (blue below, red above); ``annotate`` names a column of texts per panel value,
    ``f"{annotate}_{value column}"``, written in each cell (e.g. the mean and its CI).
    """
    rows = sorted(cells[row].unique())
    cols = sorted(cells[col].unique())
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.8 * len(panels), 0.55 * len(rows) + 1.6), layout="constrained"
    )
    for ax, (value, title) in zip(list(getattr(axes, "flat", [axes])), panels, strict=True):
        grid = cells.pivot(index=row, columns=col, values=value).reindex(index=rows, columns=cols)
        labels = None
        if annotate is not None:
            text = cells.pivot(index=row, columns=col, values=f"{annotate}_{value}")
            labels = text.reindex(index=rows, columns=cols).to_numpy()
        limit = None if center is None else float((grid - center).abs().max().max())
        sns.heatmap(
            grid,
            ax=ax,
            cmap="RdBu_r" if center is not None else "viridis",
            center=center,
            vmin=None if limit is None else center - limit,
            vmax=None if limit is None else center + limit,
            annot=labels if labels is not None else False,
            fmt="",
            annot_kws={"fontsize": 7},
            cbar_kws={"shrink": 0.8},
        )
        ax.set_title(title)
        ax.set_xlabel(col)
        ax.set_ylabel(row)
    return fig


def forest_panels(
    effects: pd.DataFrame,
    label: str,
    panels: Sequence[tuple[str, str]],
    order: Sequence[str] | None = None,
    xlabel: str = "difference from the baseline (nats per character)",
    detectable: bool = False,
) -> Figure:
    """One panel per (measure, title) in ``panels``: each ``label`` value's mean paired
    difference as a dot with its CI as a bar, and a dashed line at zero.

    ``effects`` is a :func:`gni.stats.paired_table` (columns ``measure``, ``label`` and
    ``difference``, an Estimate). Rows run in ``order`` (default: as in ``effects``),
    top to bottom; a bar left of zero favours the treatment when lower is better. With
    ``detectable``, a grey span behind each row runs from -MDE to +MDE, the minimum
    detectable effect of that comparison at 80% power
    (:func:`gni.stats.minimum_detectable_effect`): true effects inside it could be missed.
    Where ``effects`` has a ``family_size`` column (the comparisons Holm's correction runs
    over), the MDE is at the corrected level 0.05 / family_size.
    """
    labels = list(order or dict.fromkeys(effects[label]))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(PANEL_INCHES * 1.3 * len(panels), 0.28 * len(labels) + 1.3),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    color = sns.color_palette(n_colors=1)[0]
    for ax, (measure, title) in zip(axes[0], panels, strict=True):
        panel = effects[effects["measure"] == measure].set_index(label)
        rows = panel["difference"]
        family = panel["family_size"] if "family_size" in panel else pd.Series(1, rows.index)
        for y, name in enumerate(labels):
            if name not in rows.index:
                continue
            e = rows[name]
            alpha = 0.05 / family[name]
            mde = minimum_detectable_effect(e, alpha=alpha) if detectable else math.nan
            if not math.isnan(mde):
                ax.plot(
                    [-mde, mde],
                    [y, y],
                    color="0.85",
                    lw=7.0,
                    solid_capstyle="butt",
                    zorder=0,
                    label=DETECTABLE_LABEL,
                )
            ax.plot(
                [e.lo, e.hi],
                [y, y],
                color=color,
                lw=2.0,
                solid_capstyle="butt",
                label="mean difference, 95% CI",
            )
            ax.plot([e.mean], [y], "o", color=color, ms=4)
        ax.axvline(0.0, color="0.3", lw=1.0, ls="--")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # narrow panels: few ticks
        ax.set_yticks(range(len(labels)), labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_title(title)
    fig.supxlabel(xlabel, fontsize="medium")
    if detectable:
        handles, names = axes[0][0].get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        fig.legend(
            unique.values(),
            unique.keys(),
            loc="outside upper center",
            ncols=len(unique),
            frameon=False,
        )
    return fig


def scatter_grid(
    points: pd.DataFrame,
    panels: Sequence[Sequence[tuple[str, str]]],
    y: str,
    ylabel: str,
    hue: str,
    hue_order: Sequence[str] | None = None,
    logx: bool = True,
    colors: dict[str, Any] | None = None,
) -> Figure:
    """A grid of scatter plots of ``y`` against columns of ``points``: ``panels`` holds
    one row of (column, title) pairs per row of panels (rows of equal length); one dot
    per row of ``points``, coloured by ``hue`` (``colors`` fixes each hue's colour). With
    ``logx``, every x axis is logarithmic (the column must then be positive)."""
    n_rows, n_cols = len(panels), len(panels[0])
    if any(len(row) != n_cols for row in panels):
        raise ValueError("every row of panels needs the same number of panels")
    hues = list(hue_order or dict.fromkeys(points[hue]))
    colors = colors or method_colors(hues)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(PANEL_INCHES * 0.85 * n_cols, 2.6 * n_rows + 0.4 * math.ceil(len(hues) / 4)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for row_axes, row in zip(axes, panels, strict=True):
        for ax, (column, title) in zip(row_axes, row, strict=True):
            for h in hues:
                group = points[points[hue] == h]
                ax.scatter(group[column], group[y], s=14, color=colors[h], label=str(h))
            if logx:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 3.0)))  # 0.1, 0.3, 1, 3, ...
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(title, fontsize="medium")
        row_axes[0].set_ylabel(ylabel)
    legend_above(fig, list(axes.flat), "")
    return fig


def contour_panels(
    planes: dict[str, tuple[Sequence[float], Sequence[float], Sequence[Sequence[float]]]],
    levels: Sequence[float],
    xlabel: str = r"$\alpha$",
    ylabel: str = r"$\beta$",
    colorbar_label: str = "",
) -> Figure:
    """One filled contour panel per item of ``planes`` (title -> (alpha, beta, z) with z
    of shape (len(alpha), len(beta)), z[i][j] at alpha[i], beta[j]), all on the same
    ``levels`` and one colour bar, so that the panels compare."""
    fig, axes = _panels(len(planes), height=PANEL_INCHES * 0.9)
    filled = None
    for ax, (title, (alpha, beta, z)) in zip(axes, planes.items(), strict=True):
        grid = pd.DataFrame(z, index=alpha, columns=beta).to_numpy().T  # rows: beta
        filled = ax.contourf(alpha, beta, grid, levels=levels, cmap="viridis", extend="max")
        ax.contour(alpha, beta, grid, levels=levels, colors="white", linewidths=0.4)
        ax.plot([0], [0], "+", color="white", ms=8)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.set_aspect("equal")
    axes[0].set_ylabel(ylabel)
    if filled is not None:
        fig.colorbar(filled, ax=axes, label=colorbar_label, shrink=0.9)
    return fig
