"""Chapter 4, "Does GNI find flatter minima?": the analysis of the stored sharpness probes.

The Hessian mathematics is :mod:`gni.sharpness` and the probes of stored runs are
:mod:`gni.probes`; this module turns the probes of one chapter's runs into its tables,
comparisons, correlations, landscapes and sentences.

Conventions: a *probe* is a dict read from ``<record>/probe_<name>.json``. The probe loss
and barriers are in nats per character; the eigenvalues in nats per character per squared
unit of weight. The measures are scales, so they are compared as log2 ratios (arm /
reference, paired by seed) and shown as factors (:func:`gni.report.ratio`); a comparison
is significant when its Holm-adjusted p-value is below :data:`gni.stats.ALPHA`, and a null
states the factor it could detect (80% power, Bonferroni's level over its family: at least
Holm's bar for every comparison). Correlations are Spearman's, with intervals that resample
whole configurations (:mod:`gni.clustered`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns

from gni import plots, report, stats
from gni.claims import Declarations, factor_text, judge_family
from gni.clustered import Correlation, clustered_spearman, within_spearman
from gni.grids import expand
from gni.probes import interpolation_between
from gni.regularizers import BASELINE, GNI_ARMS, REGULARIZERS, TEMPLATE, combined
from gni.results import ResultsStore, load_curves, read_extra
from gni.sharpness import SpectralDensity
from gni.sweep import run
from gni.tuning import Arm, Protocol

CHAPTER1, CHAPTER2 = "GNI, chapter 1", "GNI, chapter 2"  # the earlier chapters' GNI
LAMBDA, EPSILON, RHO = "\N{GREEK SMALL LETTER LAMDA}", "\N{GREEK SMALL LETTER EPSILON}", "\u03c1"
MINUS, TIMES = "\N{MINUS SIGN}", "\N{MULTIPLICATION SIGN}"
MEASURES = {  # each measure's column and its name in prose
    "top_eigenvalue": f"top eigenvalue {LAMBDA}\N{SUBSCRIPT ONE}",
    "trace": "trace of H",
    "epsilon_sharpness": f"{EPSILON}-sharpness",
    "adaptive_sharpness": "adaptive sharpness",
    "average_sharpness": "average sharpness",
}
SHORT = {  # the same, in the tables' column heads
    "top_eigenvalue": f"{LAMBDA}\N{SUBSCRIPT ONE}",
    "trace": "trace",
    "epsilon_sharpness": f"{EPSILON}-sharpness",
    "adaptive_sharpness": "adaptive",
    "average_sharpness": "average",
}
RESCALED = [m for m in MEASURES if m != "trace"]  # what the rescaling probe measures
_PALETTE = sns.color_palette("colorblind")
KIND_COLORS = {
    "baseline": "black",
    "regularizer": _PALETTE[1],
    "GNI": _PALETTE[0],
    "regularizer + GNI": _PALETTE[4],
}
XLABEL = f"log\N{SUBSCRIPT TWO}(measure / the reference's): {MINUS}1 is half as sharp"
LANDSCAPE_PANELS = ("filter-normalized direction", "initial \N{RIGHTWARDS ARROW} final weights")
GNI_PANEL, CONTROL_PANEL = "GNI against no noise", "controls: other changes"
_SUPERSCRIPTS = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


# ---------------------------------------------------------------------------------------
# The runs


@dataclass
class Sweeps:
    """Trains (and probes) what the store lacks of a grid (:func:`gni.sweep.run`) and
    keeps every table it returns, for the page's run time."""

    profile: str
    executor: str
    workers: int
    tables: list[pd.DataFrame] = field(default_factory=list)

    def __call__(self, spec: dict[str, Any], probes: Sequence[Callable] = ()) -> pd.DataFrame:
        """One row per run of ``spec``, ``arm`` its label; a failed run raises."""
        table = run(
            spec,
            profile=self.profile,
            executor=self.executor,
            workers=self.workers,
            probes=probes,
            progress=False,
            raise_on_failure=True,
        )
        self.tables.append(table)
        return table

    def all_runs(self) -> pd.DataFrame:
        """Every run the sweeps returned, each once (by run id)."""
        return pd.concat(self.tables, ignore_index=True).drop_duplicates("run_id")


def baseline_at(lr: float) -> str:
    """The name of the baseline trained at learning rate ``lr``."""
    return f"{BASELINE}, lr {lr:g}"


def chapter2_setting(name: str, settings: Mapping[str, Any]) -> str:
    """Chapter 2's confirmed best setting in words: its name, noise kind, schedule and
    arguments (``sigma0 0.00031224``)."""
    arguments = ", ".join(f"{k} {v:g}" for k, v in settings["noise_args"].items())
    return (
        f"{name}: {settings['noise_kind']} noise, {settings['noise_schedule']} schedule, "
        + arguments
    )


def extra_arms(
    paper_sigma0: float, paper_gamma: float, chapter2_settings: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The earlier chapters' GNI, as overrides at the profile's learning rate: chapter 1's
    (the paper's exponential schedule) and chapter 2's confirmed best."""
    return {
        CHAPTER1: {
            "noise_schedule": "exponential",
            "noise_args": {"sigma0": paper_sigma0, "gamma": paper_gamma},
        },
        CHAPTER2: chapter2_settings,
    }


def run_id_of(protocol: Protocol, overrides: dict[str, Any], dataset: str, profile: str) -> str:
    """The run id of a configuration on ``dataset`` at the protocol's first report seed."""
    grid = protocol.report_grid({"arm": overrides}, dataset, profile)
    return expand(grid)[0].config.run_id


@dataclass(frozen=True)
class Design:
    """The probed configurations and what each is compared with.

    ``probed``: every arm's overrides, baselines first, then chapter 3's chosen arms, then
    the earlier chapters' GNI that differ from all of those; ``same_as``: an earlier
    chapter's GNI (:data:`CHAPTER1`, :data:`CHAPTER2`) that is one of chapter 3's arms,
    by that arm's name; ``reference``: the arm each arm is compared with (the baseline at
    its learning rate; for a baseline, the one at the profile's); ``added``: X + GNI by X.
    """

    probed: dict[str, dict[str, Any]]
    baselines: tuple[str, ...]
    chosen: tuple[str, ...]
    same_as: dict[str, str]
    lr_of: dict[str, float]
    reference: dict[str, str]
    base_reference: str
    gni_probed: tuple[str, ...]
    added: dict[str, str]
    order: tuple[str, ...]
    kind: dict[str, str]

    @property
    def paper_gni(self) -> str:
        """Chapter 1's setting (the paper's schedule), by its name here."""
        return self.same_as.get(CHAPTER1, CHAPTER1)


def design(
    protocol: Protocol,
    dataset: str,
    profile: str,
    chosen: dict[str, dict[str, Any]],
    extra: dict[str, dict[str, Any]],
    profile_lr: float,
) -> Design:
    """The chapter's design from chapter 3's ``chosen`` configurations (the baseline
    removed) and the ``extra`` arms (:func:`extra_arms`): a baseline at each of the
    protocol's learning rates and at the profile's (``profile_lr``), and an extra arm
    that is one of chapter 3's runs (the same run id) probed once, under chapter 3's name."""
    baselines = {baseline_at(o["learning_rate"]): o for o in protocol.configurations(Arm(BASELINE))}
    if profile_lr not in protocol.learning_rates:
        baselines[baseline_at(profile_lr)] = {}
    chapter3_ids = {
        run_id_of(protocol, o, dataset, profile): arm for arm, o in {**baselines, **chosen}.items()
    }
    extra_ids = {arm: run_id_of(protocol, o, dataset, profile) for arm, o in extra.items()}
    same_as = {arm: chapter3_ids[i] for arm, i in extra_ids.items() if i in chapter3_ids}
    extra = {arm: o for arm, o in extra.items() if arm not in same_as}
    probed = {**baselines, **chosen, **extra}
    lr_of = {arm: o.get("learning_rate", profile_lr) for arm, o in probed.items()}
    reference = {arm: baseline_at(lr) for arm, lr in lr_of.items() if arm not in baselines}
    base_reference = baseline_at(profile_lr)
    for name in baselines:  # the learning rate alone: each other baseline against the profile's
        if name != base_reference:
            reference[name] = base_reference
    gni_probed = (*GNI_ARMS, *extra)
    added = {combined(x): x for x in [TEMPLATE, *REGULARIZERS]}  # X + GNI -> X
    kind = {
        **{a: "baseline" for a in baselines},
        **{a: "GNI" for a in gni_probed},
        **{a: "regularizer" for a in [*REGULARIZERS, TEMPLATE]},
        **{a: "regularizer + GNI" for a in added},
    }
    return Design(
        probed=probed,
        baselines=tuple(baselines),
        chosen=tuple(chosen),
        same_as=same_as,
        lr_of=lr_of,
        reference=reference,
        base_reference=base_reference,
        gni_probed=gni_probed,
        added=added,
        order=(*baselines, *REGULARIZERS, *gni_probed, TEMPLATE, *added),
        kind=kind,
    )


def extras_note(same_as: Mapping[str, str]) -> str:
    """Which earlier chapter's GNI is one of chapter 3's configurations, in words."""
    notes = [
        f"{'Chapter 1' if arm == CHAPTER1 else 'Chapter 2'}'s GNI and chapter 3's tuned {twin} "
        "are the same configuration, so its runs appear once, under chapter 3's name."
        for arm, twin in same_as.items()
    ]
    return " ".join(notes) or "Both differ from every configuration of chapter 3."


def arm_colors(d: Design) -> dict[str, Any]:
    """Each arm's colour: the baseline at the profile's learning rate black, the other
    baselines grey, every method its colour in every chapter (:func:`gni.plots.method_colors`)."""
    colors: dict[str, Any] = {d.base_reference: "black"}
    others = [b for b in d.baselines if b != d.base_reference]
    colors |= dict(zip(others, [_PALETTE[7], "0.75"], strict=False))
    return colors | plots.method_colors([*d.gni_probed, *REGULARIZERS, TEMPLATE])


def settings_text(overrides: Mapping[str, Any]) -> str:
    """A configuration's settings other than the learning rate, as ``name=value`` (the
    entries of a nested dict, such as ``noise_args``, by their own names, sorted)."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in ("learning_rate", "min_lr"):
            continue
        if isinstance(value, dict):
            flat |= {k: value[k] for k in sorted(value)}
        else:
            flat[key] = value
    return (
        ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in flat.items())
        or "none"
    )


def arms_table(d: Design, probes: pd.DataFrame) -> pd.DataFrame:
    """Table 1: each arm's kind, learning rate, settings, what it is compared with and
    how many of its runs were probed."""
    rows = [
        {
            "arm": arm,
            "kind": d.kind[arm],
            "learning rate": f"{d.lr_of[arm]:g}",
            "settings": settings_text(d.probed[arm]),
            "compared with": d.reference.get(arm, "(the reference)")
            + (f"; and {d.added[arm]}" if arm in d.added else ""),
            "runs probed": int((probes["arm"] == arm).sum()),
        }
        for arm in d.order
    ]
    return pd.DataFrame(rows).set_index("arm")


def lr_choices(d: Design) -> str:
    """The learning rate chapter 3's tuning chose for each arm, grouped by rate:
    ``0.002 for dropout, weight decay``."""
    at_lr: dict[float, list[str]] = {}
    for arm in d.chosen:
        at_lr.setdefault(d.lr_of[arm], []).append(arm)
    return "; ".join(f"{lr:g} for {', '.join(arms)}" for lr, arms in at_lr.items())


def diverged(runs: pd.DataFrame) -> str:
    """The runs that did not end ``ok``, as ``arm (seed s)``; "none" without any."""
    bad = runs[runs["status"] != "ok"]
    return ", ".join(f"{r.arm} (seed {r.seed})" for r in bad.itertuples()) or "none"


# ---------------------------------------------------------------------------------------
# The probes


def read_probes(store: ResultsStore, run_ids: Iterable[str], name: str) -> dict[str, dict]:
    """Each run's stored probe ``name`` (``probe_<name>.json``), by run id, each read once."""
    return {r: read_extra(store.path(r) / f"probe_{name}.json") for r in run_ids}


def generalization_gaps(curves: pd.DataFrame) -> pd.Series:
    """Each run's validation minus training loss at its last evaluation (nats per
    character), by run id; ``curves`` has ``run_id``, ``iter``, ``val_loss``, ``train_loss``."""
    last = curves.sort_values("iter").groupby("run_id").last()
    return last["val_loss"] - last["train_loss"]


def probe_table(
    runs: pd.DataFrame,
    sharp: Mapping[str, dict],
    rescaled: Mapping[str, dict],
    kind: Mapping[str, str],
) -> pd.DataFrame:
    """One row per probed run (``runs``: run_id, arm, seed, status, best_val_loss, gap):
    its losses, its five measures as trained (``sharp``, the sharpness probes by run id)
    and after the rescaling (``rescaled``), the run's ``alpha``, the seconds both probes
    took, and each measure's log2 (``log2_<measure>``; NaN where it is not positive)."""
    rows = []
    for r in runs.itertuples():
        p, q = sharp[r.run_id], rescaled[r.run_id]
        rows.append(
            {
                "run_id": r.run_id,
                "arm": r.arm,
                "seed": r.seed,
                "status": r.status,
                "kind": kind[r.arm],
                "probe_loss": p["loss"],
                "best_val_loss": r.best_val_loss,
                "gap": r.gap,
                "top_eigenvalue": p["top_eigenvalues"][0],
                "trace": p["trace"],
                "epsilon_sharpness": p["epsilon_sharpness"],
                "adaptive_sharpness": p["adaptive_sharpness"],
                "average_sharpness": p["average_sharpness"],
                "alpha": q["alpha"],
                "rescaled_loss": q["loss"],
                **{f"rescaled_{m}": q[m] for m in RESCALED},
                "probe_seconds": p["seconds"] + q["seconds"],
            }
        )
    probes = pd.DataFrame(rows)
    for m in MEASURES:  # the measures are scales: compared as log2 ratios
        probes[f"log2_{m}"] = np.log2(probes[m].where(probes[m] > 0))
    return probes


def load_probes(
    runs: pd.DataFrame, kind: Mapping[str, str], store: ResultsStore
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The :func:`probe_table` of the runs that ended ``ok``, with their generalization
    gaps from their curves, and their sharpness probes by run id (read once, for the
    landscapes and densities too)."""
    ok = runs[runs["status"] == "ok"].copy()
    ok["gap"] = ok["run_id"].map(generalization_gaps(load_curves(ok["run_id"], store)))
    sharp = read_probes(store, ok["run_id"], "sharpness_probe")
    rescaled = read_probes(store, ok["run_id"], "rescaled_probe")
    return probe_table(ok, sharp, rescaled, kind), sharp


def plural(n: int, word: str, ending: str = "s") -> str:
    """``1 fixed batch``, ``2 fixed batches``."""
    return f"{n} {word}" + (ending if n > 1 else "")


def settings_glue(settings: Mapping[str, Any]) -> dict[str, str]:
    """The probe settings the prose quotes, by glue name: ``setting_<key>`` (a float
    with ``:g``), and the batches and SLQ vectors in words."""
    keys = (
        "n_batches",
        "batch_size",
        "k",
        "trace_samples",
        "rho",
        "adaptive_rho",
        "sigma",
        "ascent_steps",
        "average_samples",
        "slq_vectors",
        "slq_steps",
        "split",
    )
    values = {
        f"setting_{k}": f"{settings[k]:g}" if isinstance(settings[k], float) else str(settings[k])
        for k in keys
    }
    values["probe_batches_text"] = plural(settings["n_batches"], "fixed batch", "es")
    values["slq_vectors_text"] = plural(settings["slq_vectors"], "random vector")
    return values


# ---------------------------------------------------------------------------------------
# Which models are flatter


def geometric(values: pd.Series) -> str:
    """The geometric mean of the positive values, times/divided by the factor of its 95% CI (a t
    interval of the logarithms: from the mean divided by the factor to it multiplied);
    the mean alone with fewer than two values."""
    e = stats.mean_ci(np.log(values[values > 0]))
    if e.n < 2:
        return f"{math.exp(e.mean):.3g}"
    return f"{math.exp(e.mean):.3g} {TIMES}/\N{DIVISION SIGN} {math.exp(e.half_width):.2f}"


def summary_tables(probes: pd.DataFrame, order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 2 and 3: each arm's measures (:func:`geometric`), and its runs, best
    validation loss, probe loss and gap (mean ± half-width of the 95% CI), in ``order``."""
    measure_rows, loss_rows = [], []
    for arm in order:
        group = probes[probes["arm"] == arm]
        if group.empty:
            continue
        measure_rows.append({"arm": arm, **{SHORT[m]: geometric(group[m]) for m in MEASURES}})
        loss_rows.append(
            {
                "arm": arm,
                "runs": len(group),
                "best val loss": stats.mean_ci(group["best_val_loss"]).format(3),
                "probe loss": stats.mean_ci(group["probe_loss"]).format(3),
                "generalization gap": stats.mean_ci(group["gap"]).format(3),
            }
        )
    return pd.DataFrame(measure_rows).set_index("arm"), pd.DataFrame(loss_rows).set_index("arm")


def compare(probes: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Each (reference, arm) pair: arm - reference in every log2 measure, paired by seed
    (:func:`gni.stats.paired_table`), with a ``reference`` column; ``measure`` is the
    measure's name without ``log2_``."""
    tables = []
    for reference, arm in pairs:
        sub = probes[probes["arm"].isin([reference, arm])]
        t = stats.paired_table(
            sub,
            [f"log2_{m}" for m in MEASURES],
            between="arm",
            baseline=reference,
            pair_by="seed",
            by=[],
        )
        tables.append(t.assign(reference=reference))
    effects = pd.concat(tables, ignore_index=True)
    effects["measure"] = effects["measure"].str.removeprefix("log2_")
    return effects


def comparison_pairs(
    d: Design, present: set[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (reference, arm) pairs of the two questions, among the ``present`` arms: the
    others' (regularizers and learning rates against their baseline), and GNI's (every
    GNI model against its baseline, and X + GNI against X)."""
    gni = [(d.reference[a], a) for a in d.gni_probed] + [(x, both) for both, x in d.added.items()]
    other = [
        (d.reference[a], a)
        for a in d.order
        if a in d.reference and a not in d.gni_probed and a not in d.added
    ]
    return [p for p in other if set(p) <= present], [p for p in gni if set(p) <= present]


def detectable_factor(e: stats.Estimate, family_size: int) -> float:
    """The factor a paired comparison of log2 measures detects with 80% power at the
    corrected level (:func:`gni.stats.corrected_alpha` over ``family_size``)."""
    alpha = stats.corrected_alpha(family_size)
    return 2 ** stats.minimum_detectable_effect(e, alpha=alpha)


def comparison_label(arm: str, reference: str, d: Design) -> str:
    """An arm compared with the baseline at its learning rate by its name alone; any
    other comparison as ``arm (vs reference)``."""
    if reference == d.base_reference and arm not in d.baselines:
        return arm
    return f"{arm} (vs {reference})"


def effects(
    probes: pd.DataFrame, d: Design, declarations: Declarations | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every comparison of the chapter (:func:`compare`), in two families for Holm over
    all five measures: GNI's, judged as the claim ``flatter`` of ``book/claims.yaml``
    (:func:`gni.claims.judge_family`), and the others'. Returns the table, with
    ``family``, ``label`` (:func:`comparison_label`) and ``detectable``
    (:func:`detectable_factor`) columns, and the judged tests."""
    other, gni = comparison_pairs(d, set(probes["arm"]))
    table = pd.concat(
        [compare(probes, other).assign(family="other"), compare(probes, gni).assign(family="GNI")],
        ignore_index=True,
    )
    is_gni = (table["family"] == "GNI").to_numpy()
    labels = [
        f"{r.arm} relative to {r.reference}, {MEASURES[r.measure]}"
        for r in table[is_gni].itertuples()
    ]
    table, judged = judge_family("flatter", table, is_gni, labels, declarations)
    table["label"] = [comparison_label(r.arm, r.reference, d) for r in table.itertuples()]
    table["detectable"] = [
        detectable_factor(e, n)
        for e, n in zip(table["difference"], table["family_size"], strict=True)
    ]
    return table, judged


def effects_figure(table: pd.DataFrame, measures: Sequence[str]) -> plots.ResponsiveFigure:
    """The forest plot of ``measures``: each comparison's log2 ratio with its interval
    and the span of its minimum detectable effect."""
    return plots.responsive(
        plots.forest_panels,
        table,
        "label",
        [(m, MEASURES[m]) for m in measures],
        order=list(dict.fromkeys(table["label"])),
        detectable=True,
        xlabel=XLABEL,
    )


def effects_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Table 4: every comparison's ratio, Holm p, detectable factor and seeds."""
    return pd.DataFrame(
        {
            "comparison": table["label"],
            "measure": table["measure"].map(MEASURES),
            "ratio [95% CI]": [report.ratio(e) for e in table["difference"]],
            "p (Holm)": ["n/a" if pd.isna(p) else f"{p:.3f}" for p in table["p_holm"]],
            "detectable factor (80%, corrected)": [factor_text(f) for f in table["detectable"]],
            "seeds": [e.n for e in table["difference"]],
        }
    ).set_index(["comparison", "measure"])


def lookup(table: pd.DataFrame, arm: str, measure: str) -> pd.Series:
    """The comparison of ``arm`` on ``measure``."""
    return table[(table["arm"] == arm) & (table["measure"] == measure)].iloc[0]


def verdict(r: Any) -> str:
    """A comparison (a row of :func:`effects`) in words: lower or higher where Holm's
    p is below :data:`gni.stats.ALPHA`, else not significant with its detectable factor."""
    ratio, p = report.ratio(r.difference), stats.p_clause(r.p_holm, "Holm p")
    if r.p_holm < stats.ALPHA:
        return f"{'lower' if r.difference.mean < 0 else 'higher'}, {ratio} ({p})"
    return f"not significant, {ratio} ({p}; detectable: a factor of {factor_text(r.detectable)})"


def verdicts(rows: pd.DataFrame, name: str = "label") -> str:
    """``name: verdict`` of every row, joined by semicolons."""
    return "; ".join(f"{getattr(r, name)}: {verdict(r)}" for r in rows.itertuples())


def lr_effect(table: pd.DataFrame, d: Design) -> str:
    """The top eigenvalue of each other baseline relative to the one at the profile's
    learning rate, in words."""
    parts = [
        f"the top eigenvalue of the {name} relative to the {d.base_reference} is "
        + verdict(lookup(table, name, "top_eigenvalue"))
        for name in d.baselines
        if name != d.base_reference and name in set(table["arm"])
    ]
    return "; ".join(parts) or "only one learning rate is probed"


def factor_range(factors: Sequence[float]) -> str:
    """``2.77 to 1,307`` (:func:`gni.claims.factor_text`); "n/a" without any."""
    return f"{factor_text(min(factors))} to {factor_text(max(factors))}" if factors else "n/a"


def top_gni(table: pd.DataFrame) -> pd.DataFrame:
    """The GNI family's comparisons in the top eigenvalue: the claim's headline tests."""
    return table[(table["measure"] == "top_eigenvalue") & (table["family"] == "GNI")]


def detectable_factors(rows: pd.DataFrame) -> list[float]:
    """The detectable factors of the comparisons of at least two pairs."""
    return [r.detectable for r in rows.itertuples() if r.difference.n >= 2]


def flatter_answer(
    rows: pd.DataFrame,
    seeds: Sequence[int],
    paper: Any = None,
    paper_loss: stats.PairedComparison | None = None,
) -> str:
    """The chapter's first answer: of the GNI comparisons in the top eigenvalue
    (:func:`top_gni`), how many are significantly lower and higher after Holm, naming
    them, the range of factors that could be missed, and, given chapter 1's comparison
    (``paper``, a row of :func:`effects`) and its best validation losses
    (``paper_loss``, GNI - baseline in nats per character), what they say."""
    significant = [r for r in rows.itertuples() if r.p_holm < stats.ALPHA]
    flatter = [r for r in significant if r.difference.mean < 0]
    sharper = [r for r in significant if r.difference.mean > 0]

    def named(group: list) -> str:
        shown = ", ".join(f"{r.label} {report.ratio(r.difference)}" for r in group)
        return f" ({shown})" if group else ""

    factors = detectable_factors(rows)
    text = (
        f"Of {len(rows)} comparisons of a model trained with GNI against the same "
        f"configuration without it (same learning rate, same seeds "
        f"{', '.join(map(str, seeds))}), {len(flatter)} find{'s' * (len(flatter) == 1)} a "
        f"significantly lower top Hessian eigenvalue{named(flatter)} and {len(sharper)} a "
        f"higher one{named(sharper)} after Holm's correction"
    )
    if factors:
        text += (
            f" (changes by less than a factor of {factor_range(factors)}, the detectable "
            "factors at the corrected level, could be missed)"
        )
    if paper is not None and paper_loss is not None:
        worse = "worse" if paper_loss.difference.mean > 0 else "better"
        text += (
            "; the top eigenvalue of the paper's schedule at chapter 1's setting relative to "
            f"the baseline's is {verdict(paper)}, and its best validation loss is {worse} "
            f"than the baseline's by {report.interval(paper_loss.difference)} nats per character"
        )
    return text + "."


def paper_loss(
    probes: pd.DataFrame, baseline: str, arm: str, seeds: Sequence[int]
) -> stats.PairedComparison:
    """``arm``'s best validation loss minus ``baseline``'s, paired by seed."""

    def losses(name: str) -> pd.Series:
        runs = probes[probes["arm"] == name].set_index("seed")
        return runs["best_val_loss"].reindex(list(seeds))

    return stats.paired_comparison(losses(baseline), losses(arm))


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


# ---------------------------------------------------------------------------------------
# What it costs


def cost(all_runs: pd.DataFrame, probes: pd.DataFrame, plane_seconds: float) -> dict[str, str]:
    """The page's cost in minutes of one core, by glue name: training (the records'
    wall seconds), probing (the probes' and the planes' seconds), both on two workers,
    and the seconds of one run's probes."""
    train = all_runs["wall_seconds"].sum() / 60
    probe = (probes["probe_seconds"].sum() + plane_seconds) / 60
    return {
        "train_minutes": f"{train:.0f}",
        "probe_minutes": f"{probe:.0f}",
        "total_minutes_two": f"{(train + probe) / 2:.0f}",
        "probe_seconds_each": f"{probes['probe_seconds'].mean():.0f}",
    }
