"""Figures of the book: one function per kind of figure, one shared style.

Every function takes tidy DataFrames (from :mod:`gni.results` and :mod:`gni.stats`)
and returns a matplotlib Figure; none trains or reads files. Axes show the whole
curve, legends sit above the panels (never on the data), and figures are rendered at
twice their size in pixels so they stay sharp on high-density screens.

Each function lays its panels out ``columns`` to a row (None: all in one row), so that
:func:`responsive` can draw a figure twice: panels side by side for a wide page, and
stacked for a phone, the browser choosing (:class:`ResponsiveFigure`). No text is
smaller than :data:`MIN_FONT_PT`.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from gni import GniError
from gni.stats import corrected_alpha, minimum_detectable_effect

PANEL_INCHES = 3.4  # width of one panel; three panels fit a book page at 100 dpi
MIN_FONT_PT = 9  # the smallest text of any figure (9 pt: 12.5 px at 100 dpi)
# The widest figure side by side: a 1400-px page's text column (768 px) shows 10.4 in
# (1,040 px at 100 dpi) at 74%, so 9-pt text stays above 9 px there.
WIDE_INCHES = 10.4
# Below this page width the stacked drawing is shown (the sidebar and a narrower
# column would shrink the wide one's text below 9 px).
NARROW_MEDIA = "(max-width: 1199px)"
SIGMA = "\N{GREEK SMALL LETTER SIGMA}"
DPI = 100  # pixels per inch of the figure's own size; PNGs have twice as many
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


def _panels(
    n: int,
    height: float = 3.0,
    columns: int | None = None,
    width: float = PANEL_INCHES,
    **subplots: Any,
) -> tuple[Figure, list[Axes]]:
    """``n`` panels of ``width`` x ``height`` inches, ``columns`` to a row (None: one row);
    the grid's empty places are removed."""
    columns = n if columns is None else max(1, min(columns, n))
    n_rows = math.ceil(n / columns)
    fig, grid = plt.subplots(
        n_rows,
        columns,
        figsize=(width * columns, height * n_rows),
        squeeze=False,
        layout="constrained",
        **subplots,
    )
    axes = list(grid.flat)
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def _row_starts(axes: list[Axes]) -> list[Axes]:
    """The first panel of each row of a figure's grid."""
    return [ax for ax in axes if ax.get_subplotspec().is_first_col()]


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
        ncols=legend_columns(labels, fig.get_figwidth()),
        frameon=False,
    )


def legend_columns(labels: Sequence[str], width: float) -> int:
    """Entries a legend row holds in a figure ``width`` inches wide: at most four, and
    as many of the longest label (with its marker) as fit side by side."""
    longest = max((len(label) for label in labels), default=1)
    entry = 0.6 + 0.085 * longest  # inches: the marker, then about 0.085 in a character
    return max(1, min(len(labels), 4, int(width // entry)))


def _ylabel(axes: list[Axes], ylabel: str) -> None:
    """``ylabel`` beside each row of panels, wrapped to the panels' height."""
    height = axes[0].get_figure().get_figheight() / axes[0].get_gridspec().nrows
    text = textwrap.fill(ylabel, width=max(12, int(height * 10)))  # ~10 characters an inch
    for ax in _row_starts(axes):
        ax.set_ylabel(text)


def curve_panels(
    band: pd.DataFrame,
    ylabel: str,
    hue: str = "method",
    col: str = "dataset",
    hue_order: Sequence[str] | None = None,
    col_order: Sequence[str] | None = None,
    x: str = "iter",
    xlabel: str | Sequence[str] = "optimizer step",
    colors: dict[str, Any] | None = None,
    legend_title: str | None = None,
    sharey: bool = False,
    yscale: str = "linear",
    ylim: tuple[float | None, float | None] = (None, None),
    columns: int | None = None,
) -> Figure:
    """One panel per ``col`` value; per ``hue`` value the mean curve and its CI band.

    ``band`` has the columns of :func:`gni.stats.curve_band` (mean, lo, hi). ``colors``
    fixes each hue's colour; by default :func:`method_colors`, so that a method keeps its
    colour in every chapter. The legend's title is ``hue`` unless given; ``xlabel`` is one
    label for every panel or one per panel. ``sharey``: one
    y axis for every panel (for panels that compare the same measure); ``yscale`` and
    ``ylim`` apply to every panel.
    """
    cols = list(col_order or sorted(band[col].unique()))
    hues = list(hue_order or sorted(band[hue].unique()))
    colors = colors or method_colors(hues)
    fig, axes = _panels(len(cols), columns=columns, sharey=sharey)
    xlabels = [xlabel] * len(cols) if isinstance(xlabel, str) else list(xlabel)
    for ax, value, label in zip(axes, cols, xlabels, strict=True):
        panel = band[band[col] == value]
        for h in hues:
            line = panel[panel[hue] == h].sort_values(x)
            if not line.empty:
                _band(ax, line, x, colors[h], str(h))
        ax.set_title(str(value))
        ax.set_xlabel(label)
        ax.set_yscale(yscale)
        ax.set_ylim(*ylim)
        if pd.api.types.is_integer_dtype(band[x]):  # trials, steps: no tick between two
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _ylabel(axes, ylabel)
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
    columns: int | None = None,
) -> Figure:
    """One panel per ``col`` value: a paired difference over steps, its CI band, and zero.

    Where the band excludes the zero line, the difference is significant at that step
    (before any correction for looking at many steps). The panels share their y axis:
    they show the same measure.
    """
    cols = list(col_order or sorted(band[col].unique()))
    color = sns.color_palette(n_colors=3)[2]
    fig, axes = _panels(len(cols), columns=columns, sharey=True)
    for ax, value in zip(axes, cols, strict=True):
        _band(ax, band[band[col] == value].sort_values(x), x, color, label)
        ax.axhline(0.0, color="0.3", lw=1.0, ls="--", label="no difference")
        ax.set_title(str(value))
        ax.set_xlabel(xlabel)
    _ylabel(axes, ylabel)
    legend_above(fig, axes, "")
    return fig


def heatmap_panels(
    cells: pd.DataFrame,
    panels: Sequence[tuple[str, str]],
    row: str,
    col: str,
    annotate: str | None = None,
    center: float | None = 0.0,
    columns: int | None = None,
) -> Figure:
    """One heatmap per (column of ``cells``, title) in ``panels``, ``row`` x ``col``.

    ``cells`` has one row per cell. With ``center`` the colours diverge around it
    (blue below, red above), on one scale for every panel; ``annotate`` names a column
    of texts per panel value,
    ``f"{annotate}_{value column}"``, written in each cell (e.g. the mean and its CI) in
    black or white, whichever contrasts more with the cell (:func:`text_color`).
    """
    rows = sorted(cells[row].unique())
    cols = sorted(cells[col].unique())
    height = 0.55 * len(rows) + 1.6
    fig, axes = _panels(len(panels), height=height, columns=columns, width=5.0)
    values = [value for value, _ in panels]
    # one colour scale for every panel: a colour means the same value in each
    limit = None if center is None else float((cells[values] - center).abs().max().max())
    for ax, (value, title) in zip(axes, panels, strict=True):
        grid = cells.pivot(index=row, columns=col, values=value).reindex(index=rows, columns=cols)
        labels = None
        if annotate is not None:
            text = cells.pivot(index=row, columns=col, values=f"{annotate}_{value}")
            labels = text.reindex(index=rows, columns=cols).to_numpy()
        sns.heatmap(
            grid,
            ax=ax,
            cmap="RdBu_r" if center is not None else "viridis",
            center=center,
            vmin=float(cells[values].min().min()) if limit is None else center - limit,
            vmax=float(cells[values].max().max()) if limit is None else center + limit,
            annot=False,
            cbar_kws={"shrink": 0.8},
        )
        if labels is not None:
            _annotate(ax, labels)
        ax.set_title(title)
        ax.set_xlabel(col)
        ax.set_ylabel(row)
    return fig


def _annotate(ax: Axes, labels: np.ndarray) -> None:
    """Each heatmap cell's text, centred, in the colour that contrasts most with it."""
    mesh = ax.collections[0]
    colors = mesh.to_rgba(mesh.get_array()).reshape(*labels.shape, 4)  # as drawn
    for (i, j), text in np.ndenumerate(labels):
        if isinstance(text, str) and text:
            ax.text(
                j + 0.5,
                i + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=MIN_FONT_PT + 1,
                color=text_color(colors[i, j][:3]),
            )


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2's relative luminance of an sRGB colour (components in [0, 1])."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG 2's contrast ratio of two sRGB colours, from 1 to 21 (AA text: >= 4.5)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: Sequence[float]) -> str:
    """Black or white: whichever has the higher contrast ratio against ``background``."""
    black = contrast_ratio((0.0, 0.0, 0.0), background)
    return "black" if black >= contrast_ratio((1.0, 1.0, 1.0), background) else "white"


def forest_panels(
    effects: pd.DataFrame,
    label: str,
    panels: Sequence[tuple[str, str]],
    order: Sequence[str] | None = None,
    xlabel: str = "difference from the baseline (nats per character)",
    detectable: bool = False,
    columns: int | None = None,
    fit_spans: bool = False,
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
    over), the MDE is at the corrected level (:func:`gni.stats.corrected_alpha`). The x
    range fits the intervals and zero; a span wider than that is cut at the panel's edge,
    unless ``fit_spans`` (the range fits the spans too).
    """
    labels = list(order or dict.fromkeys(effects[label]))
    wrapped = [textwrap.fill(str(name), 22) for name in labels]  # long names: two lines
    lines = max((text.count("\n") + 1 for text in wrapped), default=1)
    fig, axes = _panels(
        len(panels),
        height=0.28 * lines * len(labels) + 1.3,
        columns=columns,
        width=PANEL_INCHES * 1.3,
        sharey=True,
        sharex=True,  # the panels' differences share their unit: one scale
    )
    color = sns.color_palette(n_colors=1)[0]
    ends = [0.0]  # every interval's ends and zero: the shared x range
    for ax, (measure, title) in zip(axes, panels, strict=True):
        panel = effects[effects["measure"] == measure].set_index(label)
        rows = panel["difference"]
        family = panel["family_size"] if "family_size" in panel else pd.Series(1, rows.index)
        for y, name in enumerate(labels):
            if name not in rows.index:
                continue
            e = rows[name]
            alpha = corrected_alpha(int(family[name]))
            mde = minimum_detectable_effect(e, alpha=alpha) if detectable else math.nan
            ends += [v for v in (e.lo, e.hi, e.mean) if math.isfinite(v)]
            if fit_spans and math.isfinite(mde):
                ends += [-mde, mde]
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
        ax.set_yticks(range(len(labels)), wrapped)
        ax.tick_params(labelbottom=True)  # every panel its own scale's numbers, stacked too
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_title(title)
    margin = 0.08 * (max(ends) - min(ends)) or 1.0
    axes[0].set_xlim(min(ends) - margin, max(ends) + margin)  # shared by every panel
    fig.supxlabel(xlabel, fontsize="medium")
    if detectable:
        handles, names = axes[0].get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        fig.legend(
            unique.values(),
            unique.keys(),
            loc="outside upper center",
            ncols=legend_columns(list(unique), fig.get_figwidth()),
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
    columns: int | None = None,
) -> Figure:
    """A grid of scatter plots of ``y`` against columns of ``points``: ``panels`` holds
    one row of (column, title) pairs per row of panels (rows of equal length; ``columns``
    lays them out anew, that many to a row); one dot per row of ``points``, coloured by
    ``hue`` (``colors`` fixes each hue's colour). With ``logx``, every x axis is
    logarithmic (the column must then be positive)."""
    n_cols = len(panels[0])
    if any(len(row) != n_cols for row in panels):
        raise GniError("every row of panels needs the same number of panels")
    flat = [panel for row in panels for panel in row]
    hues = list(hue_order or dict.fromkeys(points[hue]))
    colors = colors or method_colors(hues)
    fig, axes = _panels(
        len(flat),
        height=2.6,
        columns=columns or n_cols,
        width=PANEL_INCHES * 0.85,
        sharey=True,
    )
    for ax, (column, title) in zip(axes, flat, strict=True):
        for h in hues:
            group = points[points[hue] == h]
            ax.scatter(group[column], group[y], s=14, color=colors[h], label=str(h))
        if logx:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 3.0)))  # 0.1, 0.3, 1, 3, ...
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize="medium")
    _ylabel(axes, ylabel)
    legend_above(fig, axes, "")
    return fig


def contour_panels(
    planes: dict[str, tuple[Sequence[float], Sequence[float], Sequence[Sequence[float]]]],
    levels: Sequence[float],
    xlabel: str = r"$\alpha$",
    ylabel: str = r"$\beta$",
    colorbar_label: str = "",
    columns: int | None = None,
) -> Figure:
    """One filled contour panel per item of ``planes`` (title -> (alpha, beta, z) with z
    of shape (len(alpha), len(beta)), z[i][j] at alpha[i], beta[j]), all on the same
    ``levels`` and one colour bar, so that the panels compare."""
    fig, axes = _panels(len(planes), height=PANEL_INCHES * 0.9, columns=columns)
    filled = None
    for ax, (title, (alpha, beta, z)) in zip(axes, planes.items(), strict=True):
        grid = pd.DataFrame(z, index=alpha, columns=beta).to_numpy().T  # rows: beta
        filled = ax.contourf(alpha, beta, grid, levels=levels, cmap="viridis", extend="max")
        ax.contour(alpha, beta, grid, levels=levels, colors="white", linewidths=0.4)
        ax.plot([0], [0], "+", color="white", ms=8)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(xlabel)
        ax.set_aspect("equal")
    _ylabel(axes, ylabel)
    if filled is not None:
        fig.colorbar(filled, ax=axes, label=colorbar_label, shrink=0.9)
    return fig


def absorption_panels(
    absorb: pd.DataFrame, spread: float, v0: float, columns: int | None = None
) -> Figure:
    """How Adam absorbs gradient noise, against sigma (log x): the step along the clean
    gradient relative to the baseline's, measured and predicted from Adam's second moment
    v; the mean v, measured and baseline v + sigma^2; and the noise-to-gradient norm ratio,
    median and range over tensors.

    ``absorb`` has one row per sigma > 0 with columns sigma, measured, predicted, v,
    ratio_median, ratio_min, ratio_max; ``spread`` is the minibatch spread (RMS) of the
    gradient, ``v0`` the baseline's mean v.
    """
    fig, axes = _panels(3, columns=columns)
    sigma = absorb["sigma"]
    ax = axes[0]
    ax.plot(sigma, absorb["measured"], "o-", label="measured")
    ax.plot(sigma, absorb["predicted"], "s--", label="predicted from Adam's v")
    ax.axvline(spread, color="0.4", lw=1, ls=":", label="minibatch spread (RMS)")
    ax.set(ylabel="step along the gradient\n(relative to baseline)", title="effective step size")
    ax = axes[1]
    ax.plot(sigma, absorb["v"], "o-", label="measured")
    ax.plot(sigma, v0 + sigma**2, "s--", label=f"baseline v + {SIGMA}\N{SUPERSCRIPT TWO}")
    ax.set(yscale="log", ylabel="Adam's mean v", title="second moment")
    ax = axes[2]
    ax.plot(sigma, absorb["ratio_median"], "o-", label="median tensor")
    ax.fill_between(
        sigma,
        absorb["ratio_min"],
        absorb["ratio_max"],
        alpha=0.25,
        lw=0,
        label="range over tensors",
    )
    ax.axhline(1.0, color="0.4", lw=1, ls=":")
    ax.set(yscale="log", ylabel="‖noise‖ / ‖gradient‖", title="noise ratio per tensor")
    for ax, where in zip(axes, ("lower left", "upper left", "upper left"), strict=True):
        ax.set(xscale="log", xlabel=f"{SIGMA} (per entry)")
        ax.legend(fontsize=MIN_FONT_PT, loc=where)
    return fig


def step_curves(ratios: dict[float, pd.DataFrame], columns: int | None = None) -> Figure:
    """Per noise level sigma (the keys), over optimizer steps: the step along the clean
    gradient relative to the baseline's, and sigma over the gradient's minibatch spread.
    Each frame is indexed by step with columns ``step_ratio`` and ``sigma_over_spread``."""
    fig, axes = _panels(2, columns=columns)
    for sigma, curve in ratios.items():
        axes[0].plot(curve.index, curve["step_ratio"], label=f"{SIGMA} = {sigma:g}")
        axes[1].plot(curve.index, curve["sigma_over_spread"], label=f"{SIGMA} = {sigma:g}")
    for ax in axes:
        ax.axhline(1.0, color="0.4", lw=1, ls=":")
        ax.set_xlabel("optimizer step")
    axes[0].set(
        ylabel="step along the gradient\n(relative to baseline)", title="effective step size"
    )
    axes[1].set(
        ylabel=f"{SIGMA} / minibatch spread",
        yscale="log",
        title="noise against the gradient's own spread",
    )
    legend_above(fig, axes, "")
    return fig


@dataclass(frozen=True)
class Drawing:
    """One PNG of a figure: its bytes, its size in pixels (twice its size in CSS pixels,
    for sharp high-density screens) and the size of its smallest text in those pixels."""

    png: bytes
    width: int
    height: int
    min_text_px: float

    @classmethod
    def of(cls, fig: Figure) -> Drawing:
        """Render ``fig`` at twice :data:`DPI` (tight bounding box) and close it.

        The PNG has a palette of 256 colours (median cut, no dithering): a figure's flat
        colours survive, and it is a third of the size, which keeps the executed chapters
        that carry every figure twice small.
        """
        from PIL import Image

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=2 * DPI, bbox_inches="tight")
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        smallest = min((t.get_fontsize() for t in texts), default=MIN_FONT_PT)
        plt.close(fig)
        buffer.seek(0)
        image = Image.open(buffer).convert("RGB")
        palette = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        out = io.BytesIO()
        palette.save(out, format="PNG")  # optimize=True: 5% smaller, 8 times the time
        return cls(out.getvalue(), image.width, image.height, smallest * 2 * DPI / 72)

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class ResponsiveFigure:
    """A figure drawn twice, panels side by side (``wide``) and stacked (``narrow``, None
    for a one-panel figure); as HTML a ``<picture>`` whose browser shows the stacked one
    on pages narrower than :data:`NARROW_MEDIA` says. Glue it like a Figure."""

    wide: Drawing
    narrow: Drawing | None

    def html(self, alt: str = "") -> str:
        """The ``<picture>``: each drawing at its CSS size (half its pixels), never wider
        than the page; ``data-min-text-px`` gives each one's smallest text in pixels."""
        img = (
            f'<img class="gni-figure" src="{self.wide.data_uri()}" alt="{html.escape(alt)}" '
            f'width="{self.wide.width // 2}" height="{self.wide.height // 2}" '
            f'data-min-text-px="{self.wide.min_text_px:.1f}" '
            'style="max-width: 100%; height: auto;">'
        )
        if self.narrow is None:
            return f"<picture>{img}</picture>"
        source = (
            f'<source media="{NARROW_MEDIA}" srcset="{self.narrow.data_uri()}" '
            f'width="{self.narrow.width // 2}" height="{self.narrow.height // 2}" '
            f'data-min-text-px="{self.narrow.min_text_px:.1f}">'
        )
        return f"<picture>{source}{img}</picture>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        narrow = "" if self.narrow is None else f", stacked {self.narrow.width}px"
        return f"<ResponsiveFigure: wide {self.wide.width}px{narrow}>"


def responsive(plot: Callable[..., Figure], *args: Any, **kwargs: Any) -> ResponsiveFigure:
    """``plot(*args, **kwargs, columns=...)`` drawn for a wide page and for a phone.

    Wide: as many panels to a row as fit :data:`WIDE_INCHES`; narrow: one panel a row
    (only for figures of more than one panel). Every figure function of this module
    takes ``columns``.
    """
    fig = plot(*args, **kwargs)
    panels = [ax for ax in fig.axes if ax.get_subplotspec() is not None]  # not colour bars
    n = len(panels)
    panel_inches = fig.get_figwidth() / max(1, panels[0].get_subplotspec().get_gridspec().ncols)
    fit = max(1, int(WIDE_INCHES // panel_inches))
    if fit < n:
        plt.close(fig)
        fig = plot(*args, **kwargs, columns=fit)
    wide = Drawing.of(fig)
    narrow = Drawing.of(plot(*args, **kwargs, columns=1)) if n > 1 else None
    return ResponsiveFigure(wide, narrow)
