"""Chapter 4, "Does GNI find flatter minima?": the runs, their probes, which models are
flatter, and what it costs.

The Hessian mathematics is :mod:`gni.sharpness` and the probes of stored runs are
:mod:`gni.probes`; this module designs the chapter's runs (:class:`Design`), reads their
probes into one table (:func:`probe_table`: one row per run), compares the arms' measures
and words the chapter's answer. The rest of the chapter (whether flatness predicts
generalization, the landscapes, the eigenvalue densities) is
:mod:`gni.chapters.sharpness_shapes`, which reads the same table and takes its names and
constants from here.

Conventions: a *probe* is a dict read from ``<record>/probe_<name>.json``. The probe loss
is in nats per character; the eigenvalues in nats per character per squared unit of
weight. The measures are scales, so they are compared as log2 ratios (arm / reference,
paired by seed) and shown as factors (:func:`gni.report.ratio`); a comparison is
significant when its Holm-adjusted p-value is below :data:`gni.stats.ALPHA`, and a null
states the factor it could detect (80% power, Bonferroni's level over its family: at
least Holm's bar for every comparison). Costs are in minutes of one core.
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
from gni.grids import expand
from gni.regularizers import BASELINE, GNI_ARMS, REGULARIZERS, TEMPLATE, combined
from gni.results import ResultsStore, load_curves, read_extra
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
KIND_COLORS = {  # each kind of arm (Design.kind), in the scatter plots
    "baseline": "black",
    "regularizer": _PALETTE[1],
    "GNI": _PALETTE[0],
    "regularizer + GNI": _PALETTE[4],
}
XLABEL = f"log\N{SUBSCRIPT TWO}(measure / the reference's): {MINUS}1 is half as sharp"


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
    values["probe_batches_text"] = report.plural(settings["n_batches"], "fixed batch", "es")
    values["slq_vectors_text"] = report.plural(settings["slq_vectors"], "random vector")
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
