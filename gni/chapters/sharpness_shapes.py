"""Chapter 4's second half: whether flatness predicts generalization, the loss landscapes
around the trained weights, and the Hessian's eigenvalue densities.

What these share is the shape of the loss surface: its sharpness measures against the
runs' generalization, its slices (a random direction, the line from the initial weights,
a plane, the line between two minima) and its spectrum. Each function reads the probe
table (:func:`gni.chapters.sharpness.probe_table`, one row per run) or the sharpness
probes by run id; the measures' names, the design and the shared symbols are
:mod:`gni.chapters.sharpness`'s, imported from there.

Conventions: losses, excess losses (the loss minus that at the final weights) and barriers
are in nats per character; distances between weights are Euclidean norms in the
weights' units; eigenvalues in nats per character per squared unit of weight, and their
densities per unit of eigenvalue (Gaussian-smoothed stochastic Lanczos quadrature).
Correlations are Spearman's, of the measure's logarithm with the generalization gap
(validation minus training loss) or the best validation loss, with 95% intervals that
resample whole configurations (:mod:`gni.clustered`). Rescaling ratios are a measure
after the function-preserving rescaling divided by before (unitless). Bands are 95%
intervals over the seeds (:func:`gni.stats.curve_band`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gni import plots, stats
from gni.chapters.sharpness import (
    CHAPTER1,
    CHAPTER2,
    KIND_COLORS,
    MEASURES,
    MINUS,
    RESCALED,
    RHO,
    SHORT,
    TIMES,
    Design,
)
from gni.clustered import Correlation, clustered_spearman, within_spearman
from gni.probes import interpolation_between
from gni.regularizers import REGULARIZERS
from gni.results import ResultsStore
from gni.sharpness import SpectralDensity

LANDSCAPE_PANELS = ("filter-normalized direction", "initial \N{RIGHTWARDS ARROW} final weights")
GNI_PANEL, CONTROL_PANEL = "GNI against no noise", "controls: other changes"
_SUPERSCRIPTS = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)

# ---------------------------------------------------------------------------------------
# Does flatness predict generalization?


@dataclass(frozen=True)
class Correlations:
    """Spearman's rho of each measure (as trained and rescaled) with the generalization
    gap: across all runs, over the configurations' means, within configurations; and of
    each measure as trained with the best validation loss. Keys: (measure, weights),
    with weights "as trained" or "rescaled" (``with_loss``: "as trained" only)."""

    across: dict[tuple[str, str], Correlation]
    configurations: dict[tuple[str, str], Correlation]
    within: dict[tuple[str, str], Correlation]
    with_loss: dict[tuple[str, str], Correlation]


def log_of(column: pd.Series) -> pd.Series:
    """The natural logarithm of the positive values; NaN elsewhere."""
    return np.log(column.where(column > 0))


def correlate(probes: pd.DataFrame) -> Correlations:
    """The :class:`Correlations` of :func:`probe_table`'s runs, their clusters the
    configurations (``arm``): every interval resamples whole configurations
    (:func:`gni.clustered.clustered_spearman`, :func:`gni.clustered.within_spearman`)."""
    across, configurations, within, with_loss = {}, {}, {}, {}
    arm = probes["arm"]
    for m in MEASURES:
        for weights, column in (("as trained", m), ("rescaled", f"rescaled_{m}")):
            if column not in probes:  # the trace is not re-measured
                continue
            x = log_of(probes[column])
            across[(m, weights)] = clustered_spearman(x, probes["gap"], arm)
            means = pd.DataFrame({"x": x, "gap": probes["gap"], "arm": arm}).groupby("arm").mean()
            configurations[(m, weights)] = clustered_spearman(means["x"], means["gap"], means.index)
            within[(m, weights)] = within_spearman(x, probes["gap"], arm)
        with_loss[(m, "as trained")] = clustered_spearman(
            log_of(probes[m]), probes["best_val_loss"], arm
        )
    return Correlations(across, configurations, within, with_loss)


def ranking(c: Correlation) -> str:
    """What a correlation with the gap says, from the signs of its interval's ends."""
    if c.lo > 0:
        return "the sharper runs have the larger generalization gaps"
    if c.hi < 0:
        return "the sharper runs have the smaller generalization gaps"
    return "the measure does not rank the runs' generalization gaps"


def loss_ranking(c: Correlation) -> str:
    """What a correlation with the best validation loss says, from its interval's ends."""
    if c.lo > 0:
        return "the flatter runs reach the lower validation losses"
    if c.hi < 0:
        return "the sharper runs reach the lower validation losses"
    return "the measure does not rank the runs' validation losses"


def correlation_rows(c: Correlations) -> pd.DataFrame:
    """Table 5: each measure's rho with the gap, as trained and rescaled."""
    rows = [
        {
            "measure": SHORT[m],
            "weights": w,
            f"{RHO}, all runs (configurations resampled)": across.format(),
            f"{RHO}, configuration means": c.configurations[(m, w)].format(),
            f"{RHO}, within configurations": c.within[(m, w)].format(),
        }
        for (m, w), across in c.across.items()
    ]
    return pd.DataFrame(rows).set_index(["measure", "weights"])


def rho_summary(correlations: Mapping[tuple[str, str], Correlation], weights: str) -> str:
    """Each measure's correlation of one kind of ``weights`` ("as trained", "rescaled"),
    ``top eigenvalue λ₁ rho = +0.61 [+0.04, +0.86]; ...`` (rho a Greek letter)."""
    return "; ".join(
        f"{MEASURES[m]} {RHO} = {c.format()}" for (m, w), c in correlations.items() if w == weights
    )


def correlation_figure(probes: pd.DataFrame) -> plots.ResponsiveFigure:
    """The gap against each rescaled measure, as trained and after the rescaling."""
    scatter = probes.copy()
    for m in RESCALED:
        scatter[f"{m} "] = scatter[f"rescaled_{m}"]  # the bottom row's columns
    return plots.responsive(
        plots.scatter_grid,
        scatter,
        [[(m, f"{SHORT[m]}, as trained"), (f"{m} ", f"{SHORT[m]}, rescaled")] for m in RESCALED],
        "gap",
        "gap (nats/char)",
        hue="kind",
        hue_order=[k for k in KIND_COLORS if k in set(probes["kind"])],
        colors=KIND_COLORS,
    )


def rescaling_ratios(probes: pd.DataFrame) -> dict[str, pd.Series]:
    """Each rescaled measure after the rescaling divided by before, per run."""
    return {m: probes[f"rescaled_{m}"] / probes[m] for m in RESCALED}


def rescaling_rows(ratios: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Table 6: each measure's median, smallest and largest ratio."""
    rows = [
        {
            "measure": MEASURES[m],
            "median ratio": f"{r.median():.3f}",
            "smallest": f"{r.min():.3f}",
            "largest": f"{r.max():.3f}",
        }
        for m, r in ratios.items()
    ]
    return pd.DataFrame(rows).set_index("measure")


def value_range(values: Iterable[float], digits: int) -> str:
    """``0.13 to 7.48``: the smallest and largest value (NaN left out), ``digits``
    decimals; "n/a" without any value."""
    values = pd.Series(values, dtype=float)
    if values.isna().all():
        return "n/a"
    return f"{values.min():.{digits}f} to {values.max():.{digits}f}"


def superscript(n: int) -> str:
    """An integer in superscript digits: ``-7`` as ``⁻⁷``."""
    return str(n).translate(_SUPERSCRIPTS)


def times_ten(x: float) -> str:
    """``4.8 times 10⁻⁷`` (a multiplication sign): two significant digits in scientific notation."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa} {TIMES} 10{superscript(int(exponent))}"


def power_of_ten(x: float) -> str:
    """``10⁻⁷``: the power of ten nearest ``x`` (positive)."""
    return "10" + superscript(int(np.round(np.log10(x))))


# ---------------------------------------------------------------------------------------
# Landscapes


def plane_arms(d: Design, present: set[str]) -> list[str]:
    """The arms whose 2-D landscape is drawn: the profile's baseline and the earlier
    chapters' GNI (by their names here), those probed."""
    arms = [d.base_reference, *(d.same_as.get(x, x) for x in (CHAPTER1, CHAPTER2))]
    return [a for a in dict.fromkeys(arms) if a in present]


def plane_grid(d: Design, arms: Sequence[str], dataset: str, profile: str, seed: int) -> dict:
    """The sweep grid of ``arms`` at one ``seed`` (the runs are the probed ones)."""
    return {
        "base": {"dataset": dataset, "profile": profile},
        "axes": {"arm": [{"label": a, **d.probed[a]} for a in arms]},
        "seeds": [seed],
    }


def planes(
    runs: pd.DataFrame, plane: Mapping[str, dict]
) -> tuple[dict[str, tuple[list, list, np.ndarray]], float]:
    """Each ``ok`` run's plane (``plane``: the plane probes by run id): its axes and the
    loss minus the loss at the centre, by arm; and the seconds the probes took."""
    shown, seconds = {}, 0.0
    for r in runs[runs["status"] == "ok"].itertuples():
        p = plane[r.run_id]
        z = np.array(p["loss"])
        shown[r.arm] = (p["alpha"], p["beta"], z - z[len(z) // 2, len(z) // 2])
        seconds += p["seconds"]
    return shown, seconds


def plane_figure(
    shown: Mapping[str, tuple[list, list, np.ndarray]], arms: Sequence[str]
) -> plots.ResponsiveFigure:
    """Contours of each arm's plane on the same levels: 0 to the highest excess, at
    most 2 nats per character."""
    top = max(float(np.max(z)) for _, _, z in shown.values())
    levels = np.linspace(0.0, min(top, 2.0), 11)
    return plots.responsive(
        plots.contour_panels,
        {a: shown[a] for a in arms if a in shown},
        levels,
        colorbar_label="L(w + \N{GREEK SMALL LETTER ALPHA}d\N{SUBSCRIPT ONE} + "
        f"\N{GREEK SMALL LETTER BETA}d\N{SUBSCRIPT TWO}) {MINUS} L(w) (nats/char)",
    )


def landscape_lines(
    probes: pd.DataFrame, sharp: Mapping[str, dict], arms: Sequence[str]
) -> pd.DataFrame:
    """The excess loss over the final weights' along the random direction and along the
    line from the initial weights, one row per (run, point), for the runs of ``arms``."""
    lines = []
    for r in probes[probes["arm"].isin(arms)].itertuples():
        p = sharp[r.run_id]
        for what, key, x in zip(
            LANDSCAPE_PANELS, ("landscape", "interpolation"), ("alpha", "t"), strict=True
        ):
            excess = np.array(p[key]["loss"]) - p["loss"]
            lines += [
                {"arm": r.arm, "seed": r.seed, "panel": what, "x": xv, "excess": e}
                for xv, e in zip(p[key][x], excess, strict=True)
            ]
    return pd.DataFrame(lines)


def landscape_figure(
    lines: pd.DataFrame, arms: Sequence[str], colors: Mapping[str, Any]
) -> plots.ResponsiveFigure:
    """The mean excess loss over the seeds with its 95% band, in both panels."""
    band = stats.curve_band(lines, "excess", by=["panel", "arm"], x="x")
    return plots.responsive(
        plots.curve_panels,
        band,
        "excess loss (nats/char)",
        hue="arm",
        col="panel",
        sharey=True,
        hue_order=list(arms),
        col_order=list(LANDSCAPE_PANELS),
        x="x",
        xlabel=["\N{GREEK SMALL LETTER ALPHA}", "t"],
        colors=colors,
        legend_title="",
    )


def line_arms(d: Design, present: set[str]) -> dict[str, str]:
    """The arms joined to their reference by a straight line, by panel: the GNI models,
    and the controls (the other baselines and the regularizers)."""
    arms = {arm: GNI_PANEL for arm in d.gni_probed if arm in present}
    return arms | {
        arm: CONTROL_PANEL
        for arm in [*d.baselines, *REGULARIZERS]
        if arm in present and arm in d.reference
    }


def stored_interpolation(store: ResultsStore) -> Callable[[str, str], dict[str, Any]]:
    """:func:`gni.probes.interpolation_between` of two run ids in ``store``."""

    def between(a: str, b: str) -> dict[str, Any]:
        return interpolation_between(store.read_config(a), store.read_config(b), store)

    return between


def between_lines(
    probes: pd.DataFrame,
    arms: Mapping[str, str],
    reference: Mapping[str, str],
    seeds: Sequence[int],
    interpolate: Callable[[str, str], dict[str, Any]],
) -> pd.DataFrame:
    """The loss along the straight line from each reference's final weights to those of
    the arm of the same seed (``interpolate(run id a, run id b)``: ``t``, ``loss``,
    ``barrier``, ``distance``), one row per (arm, seed, t); a seed missing from either
    arm is skipped."""
    rows = []
    for arm, panel in arms.items():
        for seed in seeds:
            a = probes[(probes["arm"] == reference[arm]) & (probes["seed"] == seed)]
            b = probes[(probes["arm"] == arm) & (probes["seed"] == seed)]
            if a.empty or b.empty:
                continue
            line = interpolate(a["run_id"].iloc[0], b["run_id"].iloc[0])
            rows += [
                {
                    "arm": arm,
                    "seed": seed,
                    "panel": panel,
                    "reference": reference[arm],
                    "t": t,
                    "loss": v,
                    "barrier": line["barrier"],
                    "distance": line["distance"],
                }
                for t, v in zip(line["t"], line["loss"], strict=True)
            ]
    return pd.DataFrame(rows)


def between_figure(
    between: pd.DataFrame, arms: Mapping[str, str], colors: Mapping[str, Any]
) -> plots.ResponsiveFigure:
    """The mean loss along the lines over the seeds with its 95% band, by panel."""
    band = stats.curve_band(between, "loss", by=["panel", "arm"], x="t")
    return plots.responsive(
        plots.curve_panels,
        band,
        "probe loss (nats/char)",
        hue="arm",
        col="panel",
        sharey=True,
        hue_order=list(arms),
        col_order=[GNI_PANEL, CONTROL_PANEL],
        x="t",
        xlabel="t (0: the reference, 1: the arm)",
        colors=colors,
        legend_title="",
    )


def barrier_rows(between: pd.DataFrame, arms: Mapping[str, str]) -> pd.DataFrame:
    """Table 7: each line's barrier and the distance between its ends, mean ± the
    half-width of the 95% CI over the seeds."""
    barriers = between.drop_duplicates(["arm", "seed"])
    rows = [
        {
            "arm": arm,
            "reference": g["reference"].iloc[0],
            "panel": arms[arm],
            "barrier (nats/char)": stats.mean_ci(g["barrier"]).format(3),
            f"distance \N{DOUBLE VERTICAL LINE}w {MINUS} w_ref\N{DOUBLE VERTICAL LINE}": (
                stats.mean_ci(g["distance"]).format(1)
            ),
        }
        for arm, g in barriers.groupby("arm", sort=False)
    ]
    return pd.DataFrame(rows).set_index("arm")


def mean_barriers(between: pd.DataFrame, arms: Mapping[str, str]) -> dict[str, pd.Series]:
    """Each arm's mean barrier over the seeds, by panel (:data:`GNI_PANEL`,
    :data:`CONTROL_PANEL`)."""
    mean = between.drop_duplicates(["arm", "seed"]).groupby("arm")["barrier"].mean()
    return {
        panel: mean[[a for a in arms if arms[a] == panel]] for panel in (GNI_PANEL, CONTROL_PANEL)
    }


def basins(gni: pd.Series, controls: pd.Series) -> str:
    """Whether each GNI model's mean barrier (by arm) is above every control's, in words."""
    if not len(controls):
        return "there is no control to compare them with"
    top = controls.max()
    above = [f"{a} ({b:.3f})" for a, b in gni.items() if b > top]
    inside = [f"{a} ({b:.3f})" for a, b in gni.items() if not b > top]
    if not inside:
        return (
            "every GNI configuration is separated from its baseline by a higher mean barrier "
            "than any control"
        )
    if not above:
        return (
            "no GNI configuration is separated from its baseline by a higher mean barrier "
            "than every control"
        )
    return (
        f"the mean barrier is higher than every control's for {', '.join(above)}, and "
        f"within the controls' range for {', '.join(inside)}"
    )


# ---------------------------------------------------------------------------------------
# The eigenvalue densities


def spectra(sharp: Mapping[str, dict]) -> dict[str, SpectralDensity]:
    """Each run's stochastic Lanczos quadrature (the probes' ``slq``), by run id."""
    return {
        run_id: SpectralDensity(
            [np.array(t) for t in p["slq"]["nodes"]],
            [np.array(w) for w in p["slq"]["weights"]],
            p["slq"]["hvps"],
        )
        for run_id, p in sharp.items()
    }


def density_grid(spectra_: Mapping[str, SpectralDensity]) -> tuple[np.ndarray, float]:
    """400 points from 5 below the smallest Ritz value of any run to 5 above the
    largest, and the kernel's bandwidth: a hundredth of that span."""
    nodes = [np.concatenate(s.nodes) for s in spectra_.values()]
    low, high = min(float(np.min(n)) for n in nodes), max(float(np.max(n)) for n in nodes)
    grid = np.linspace(low - 5, high + 5, 400)
    return grid, (grid[-1] - grid[0]) / 100


def density_band(
    probes: pd.DataFrame,
    spectra_: Mapping[str, SpectralDensity],
    panels: Mapping[str, Sequence[str]],
) -> tuple[pd.DataFrame, float]:
    """The smoothed density of each run of each panel's arms (floored at 1e-12), its
    mean over the seeds with a 95% band (clipped at 1e-10 for the log scale), and the
    bandwidth (:func:`density_grid`). A run shown in two panels is evaluated once."""
    grid, bandwidth = density_grid(spectra_)
    values: dict[str, np.ndarray] = {}
    rows = []
    for panel, arms in panels.items():
        for r in probes[probes["arm"].isin(arms)].itertuples():
            if r.run_id not in values:
                values[r.run_id] = spectra_[r.run_id].density(grid, bandwidth)
            rows += [
                {
                    "panel": panel,
                    "arm": r.arm,
                    "seed": r.seed,
                    "eigenvalue": g,
                    "density": max(v, 1e-12),
                }
                for g, v in zip(grid, values[r.run_id], strict=True)
            ]
    band = stats.curve_band(pd.DataFrame(rows), "density", by=["panel", "arm"], x="eigenvalue")
    band[["mean", "lo", "hi"]] = band[["mean", "lo", "hi"]].clip(lower=1e-10)
    return band, bandwidth


def density_figure(
    band: pd.DataFrame,
    panels: Mapping[str, Sequence[str]],
    present: set[str],
    colors: Mapping[str, Any],
) -> plots.ResponsiveFigure:
    """The densities on a log scale, one panel per entry of ``panels``."""
    order = list(dict.fromkeys(a for arms in panels.values() for a in arms if a in present))
    return plots.responsive(
        plots.curve_panels,
        band,
        "density (log scale)",
        hue="arm",
        col="panel",
        sharey=True,
        hue_order=order,
        col_order=list(panels),
        x="eigenvalue",
        xlabel="eigenvalue of H",
        colors=colors,
        legend_title="",
        yscale="log",
        ylim=(1e-10, None),  # outliers' weights are ~1e-8
    )


def top_ritz_weight(spectra_: Mapping[str, SpectralDensity]) -> str:
    """The median over the runs' vectors of the quadrature weight of the largest Ritz
    value (the rightmost bump), as a power of ten."""
    weights = [
        w[np.argmax(t)] for s in spectra_.values() for t, w in zip(s.nodes, s.weights, strict=True)
    ]
    return power_of_ten(float(np.median(weights)))
