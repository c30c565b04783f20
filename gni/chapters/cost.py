"""Chapter 5, what gradient noise costs: the benchmarks' records and the book's runs, read.

The ``benchmarks/`` scripts write one JSON record per device (``<name>_<device>.json``):
``noise_overhead`` times optimizer steps and whole training steps ``by_threads`` (torch
threads, keys "1", "2"; seconds), ``throughput`` times the trainer's step per setting,
``sweep_scaling`` times a sweep on several layouts of workers, ``sharpness`` one probe,
and ``regenerate_book`` the whole book. This module reads them, and the run records of
the chapters, into the page's tables and sentences. Overheads are in percent
(``100 * (with / without - 1)``), memory in MiB (2**20 bytes), throughput in tokens per
second; an interval is a 95% Student-t CI over paired repeats (:func:`gni.stats.mean_ci`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gni import report, stats
from gni.config import RunConfig
from gni.stats import Estimate

TIMES = report.TIMES
EN_DASH = "\N{EN DASH}"
MIB = 2**20  # bytes
FLOAT32 = 4  # bytes per parameter
OPTIMIZER = [  # noise_overhead's optimizer steps, in the figure's order
    "(a) AdamW",
    "(b) randn_like per tensor + AdamW",
    "(c) GradientNoise + AdamW",
    "(d) NoisyAdamW",
    "(e) NoisyAdamW, anticorrelated",
    "randn",
]
TREATED = {  # the training-step figure's rows: label -> (treated step, its base)
    "with noise": ("step with noise", "step without noise"),
    "diagnostics, over noise alone": ("step with noise and diagnostics", "step with noise"),
}
MEMORY_NAMES = {  # noise_overhead's state_bytes keys -> Table 3's names
    "no noise": "AdamW (no noise)",
    "GradientNoise + AdamW": "GradientNoise + AdamW",
    "NoisyAdamW": "NoisyAdamW",
    "NoisyAdamW, anticorrelated": "NoisyAdamW, anticorrelated",
    "GradientNoise, anticorrelated": "GradientNoise, anticorrelated + AdamW",
}
NOISE_NAMES = {"separate": "separate noise", "fused": "fused noise"}  # by noise_impl
NO_NOISE = {  # every noise field of a RunConfig at its default: the run without noise
    f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
    for f in dataclasses.fields(RunConfig)
    if f.name.startswith("noise_")
}
GOAL_MINUTES = 180.0  # the book from nothing, on the 2-core machine
THREAD_WORDS = {"1": "one", "2": "two"}


def read_benchmark(folder: Path, name: str) -> dict[str, dict[str, Any]]:
    """Every record of a benchmark (``<name>_<device>.json`` in ``folder``), by device:
    the CPU's first, then the others in the order of their file names."""
    found = {
        p.stem.removeprefix(f"{name}_"): json.loads(p.read_text())
        for p in sorted(folder.glob(f"{name}_*.json"))
    }
    return dict(sorted(found.items(), key=lambda item: item[0] != "cpu"))


def read_regeneration(path: Path) -> dict[str, Any]:
    """``benchmarks/regenerate_book.py``'s measurement, or {} when none is recorded."""
    return json.loads(path.read_text()) if path.is_file() else {}


def gpu_status(overhead: Mapping[str, Mapping[str, Any]]) -> str:
    """Whether the noise_overhead records (by device) hold a GPU's, and whose."""
    gpus = [record["device_name"] for device, record in overhead.items() if device != "cpu"]
    if not gpus:
        return "no benchmark has been run on a GPU yet"
    return "a GPU record (" + ", ".join(gpus) + ") is shown beside the CPU's"


def load_text(record: Mapping[str, Any]) -> str:
    """The one-minute load average when the benchmark started, or "not recorded"."""
    load = record.get("load_average_before")
    return f"{load[0]:.1f}" if load else "not recorded"


def threads_label(threads: str) -> str:
    """A thread count as a panel's title: "1 thread", "2 threads"."""
    return f"{threads} thread{'s' * (threads != '1')}"


def thread_panels(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """The (measure, title) panels of a forest plot by thread count, in their order."""
    return [(m, m) for m in dict.fromkeys(rows["measure"])]


def threads_text(values: Mapping[str, str]) -> str:
    """Values by thread count in words: ``{"1": a, "2": b}`` as "a with one thread and b
    with two"; ``{"2": a}`` as "a with two threads"."""
    parts = [f"{v} with {THREAD_WORDS.get(t, t)}" for t, v in values.items()]
    parts[0] += " thread" + "s" * (next(iter(values)) != "1")
    return " and ".join(parts)


def by_threads(
    record: Mapping[str, Any], key: str, prefix: str = TIMES, first: bool = False
) -> str:
    """The ratio ``key`` of the record's optimizer steps for each thread count (two at
    most): "x1.90 with one thread and x2.15 with two" (``first``) or "x1.90 and x2.15"
    (``prefix`` before each, a times sign by default)."""
    values = [f"{prefix}{r['ratios'][key]:.2f}" for r in record["by_threads"].values()]
    if len(values) == 1:
        return values[0]
    words = " with one thread and " if first else " and "
    return values[0] + words + values[1] + (" with two" if first else "")


def optimizer_summary(record: Mapping[str, Any]) -> str:
    """What the optimizer-step benchmark found: the noisy step and the draw against
    AdamW's step, the fused optimizer's extra in draws against its target, and the
    anticorrelated noise against independent noise."""
    target = record["targets"]["noisy_adamw_extra_over_randn"]
    return (
        "Over AdamW's step, the noisy step takes "
        f"{by_threads(record, 'noisy_adamw_over_adamw', first=True)}; the draw alone "
        f"{by_threads(record, 'randn_over_adamw')}: drawing the noise costs about as much as "
        "the update itself. The fused optimizer adds about one draw's worth of time to AdamW "
        f"({by_threads(record, 'noisy_adamw_extra_over_randn', prefix='')} draws; the target "
        f"is at most {target:g}), so on a CPU it is no faster than the obvious per-tensor "
        f"code; anticorrelated noise costs {by_threads(record, 'anticorrelated_over_independent')}"
        " of independent noise."
    )


def whiskers(record: Mapping[str, Any], names: Sequence[str], key: str) -> pd.DataFrame:
    """Rows for :func:`gni.plots.forest_panels`, one per (thread count, name): ``label``,
    ``measure`` (the thread count's panel) and ``difference``, an Estimate whose mean is
    the median call in milliseconds and whose ends are the fastest and slowest calls
    (``n``: the record's ``key``, its number of calls)."""
    rows = []
    for threads, r in record["by_threads"].items():
        for name in names:
            e = Estimate(
                r["median_seconds"][name] * 1e3,
                r["min_seconds"][name] * 1e3,
                r["max_seconds"][name] * 1e3,
                record[key],
            )
            rows.append({"label": name, "measure": threads_label(threads), "difference": e})
    return pd.DataFrame(rows)


def paired_overhead(
    record: Mapping[str, Any], treated: str, base: str = "step without noise"
) -> dict[str, Estimate]:
    """Per thread count: the overhead of ``treated`` over ``base`` in percent, from the
    repeats paired by position (timed back to back), as an Estimate (t interval)."""
    out = {}
    for threads, r in record["by_threads"].items():
        with_ = np.array(r["samples_seconds"][treated])
        without = np.array(r["samples_seconds"][base])
        out[threads] = stats.mean_ci(100 * (with_ / without - 1))
    return out


def overhead_rows(record: Mapping[str, Any]) -> pd.DataFrame:
    """The training-step figure's rows: each :data:`TREATED` overhead per thread count
    (``label``, ``measure``: the thread count's panel, ``difference``: in percent)."""
    rows = [
        {"label": label, "measure": threads_label(t), "difference": e}
        for label, (treated, base) in TREATED.items()
        for t, e in paired_overhead(record, treated, base).items()
    ]
    return pd.DataFrame(rows)


def percent(e: Estimate) -> str:
    """An overhead in percent with its interval: "+3.3% [+1.9, +4.7]"."""
    return f"{e.mean:+.1f}% {report.bounds(e, 1)}"


def overhead_text(overheads: Mapping[str, Estimate]) -> str:
    """Overheads by thread count in words: "+3.3% [+1.9, +4.7] with one thread and ..."."""
    return threads_text({t: percent(e) for t, e in overheads.items()})


def throughput_table(throughput: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Table 1: per device (the CPU as "CPU"), threads and variant, the median step in
    milliseconds, the fastest and slowest, tokens per second at the median, and the
    ratio of median step times to the same threads without noise."""
    rows = []
    for device, record in throughput.items():
        tokens = record["tokens_per_step"]
        settings = record["settings"]
        base = {s["threads"]: s["median_step_s"] for s in settings if s["variant"] == "no noise"}
        for s in settings:
            rows.append(
                {
                    "device": record["device_name"] if device != "cpu" else "CPU",
                    "variant": s["variant"],
                    "threads": s["threads"],
                    "ms per step (median)": f"{s['median_step_s'] * 1e3:.1f}",
                    f"fastest {EN_DASH} slowest (ms)": (
                        f"{s['min_step_s'] * 1e3:.1f} {EN_DASH} {s['max_step_s'] * 1e3:.1f}"
                    ),
                    "tokens/s": f"{tokens / s['median_step_s']:,.0f}",
                    "vs no noise": f"{s['median_step_s'] / base[s['threads']]:.3f}",
                }
            )
    table = pd.DataFrame(rows).sort_values(["device", "threads"], kind="stable")
    return table.set_index(["device", "threads", "variant"])


def _ratios_by_threads(ratios: Mapping[str, float], prefix: str) -> dict[str, float]:
    """The ratios named ``<prefix>_<threads>t``, by thread count."""
    return {
        key.split("_")[-1].removesuffix("t"): value
        for key, value in ratios.items()
        if key.startswith(prefix)
    }


def fused_vs_separate(ratios: Mapping[str, float]) -> str:
    """The throughput benchmark's fused step over the separate noise's, by threads."""
    found = _ratios_by_threads(ratios, "fused_over_separate")
    return threads_text({t: f"{v:.3f}" for t, v in found.items()})


def throughput_overhead(ratios: Mapping[str, float]) -> str:
    """The throughput benchmark's separate noise over no noise, in percent, by threads."""
    found = _ratios_by_threads(ratios, "separate_over_no_noise")
    return threads_text({t: f"{100 * (v - 1):+.1f}%" for t, v in found.items()})


def book_records(runs: pd.DataFrame) -> pd.DataFrame:
    """The book's ``ok`` runs (a :func:`gni.results.load_runs` table) with ``noise``: "no
    noise", or the noise implementation (:data:`NOISE_NAMES`)."""
    records = runs[runs["status"] == "ok"].copy()
    records["noise"] = np.where(
        records["noise_schedule"] == "none", "no noise", records["noise_impl"].map(NOISE_NAMES)
    )
    return records


def runs_table(records: pd.DataFrame) -> pd.DataFrame:
    """Table 2: per noise implementation, the runs, their tokens per second (median and
    quartiles) and their median peak memory (MiB)."""
    rows = []
    for noise, group in records.groupby("noise", sort=False):
        q = group["tokens_per_s"].quantile([0.25, 0.5, 0.75])
        rows.append(
            {
                "noise": noise,
                "runs": len(group),
                "tokens/s, median [quartiles]": (f"{q[0.5]:,.0f} [{q[0.25]:,.0f}, {q[0.75]:,.0f}]"),
                "peak memory (MiB), median": f"{group['peak_memory_mb'].median():.0f}",
            }
        )
    return pd.DataFrame(rows).set_index("noise")


def run_ratio(records: pd.DataFrame) -> str:
    """Per dataset, the median tokens per second of the runs with separate noise over
    that of the runs without: "enwik8 0.942; ..." ("n/a" without both)."""
    medians = records.groupby(["dataset", "noise"])["tokens_per_s"].median().unstack()
    if not {"separate noise", "no noise"} <= set(medians.columns):
        return "n/a"
    ratios = (medians["separate noise"] / medians["no noise"]).dropna()
    return "; ".join(f"{d} {v:.3f}" for d, v in ratios.items()) or "n/a"


def matched_ratios(records: pd.DataFrame, read_config: Callable[[str], RunConfig]) -> list[float]:
    """The speed (tokens per second) of each run with noise over its twin's: the
    recorded run whose config differs only in the noise fields (:data:`NO_NOISE`), so
    that the two trained alike. Runs without a twin among ``records`` are left out."""
    speed = records.set_index("run_id")["tokens_per_s"]
    matched = []
    for r in records[records["noise"] != "no noise"].itertuples():
        twin = dataclasses.replace(read_config(r.run_id), **NO_NOISE).run_id
        if twin in speed.index:
            matched.append(speed[r.run_id] / speed[twin])
    return matched


def matched_text(matched: Sequence[float]) -> str:
    """The mean speed ratio of the matched pairs and its 95% CI: "0.904 [0.873, 0.936]"."""
    if len(matched) < 2:
        return "n/a (fewer than two pairs)"
    e = stats.mean_ci(matched)
    return f"{e.mean:.3f} [{e.lo:.3f}, {e.hi:.3f}]"


def parameter_mib(record: Mapping[str, Any]) -> float:
    """One copy of the model's parameters in float32, in MiB."""
    return record["n_params"] * FLOAT32 / MIB


def extra_mib(record: Mapping[str, Any], name: str = "NoisyAdamW") -> float:
    """What implementation ``name`` keeps between steps beyond AdamW without noise, MiB."""
    memory = record["state_bytes"]
    return (memory[name] - memory["no noise"]) / MIB


def memory_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Table 3: what each implementation keeps between steps (MiB), its extra over no
    noise (MiB) and that extra in copies of the parameters."""
    memory = record["state_bytes"]
    base = memory["no noise"]
    rows = [
        {
            "implementation": MEMORY_NAMES.get(name, name),
            "kept between steps (MiB)": f"{b / MIB:.2f}",
            "extra over no noise (MiB)": f"{(b - base) / MIB:.2f}",
            "extra, in parameter copies": f"{(b - base) / (record['n_params'] * FLOAT32):.1f}",
        }
        for name, b in memory.items()
    ]
    return pd.DataFrame(rows).set_index("implementation")


def scaling_table(scaling: Mapping[str, Any]) -> pd.DataFrame:
    """Table 4: per layout of workers and threads, the sweep's wall time (min), the mean
    seconds per run and the share of a run's time in training steps."""
    rows = [
        {
            "layout": name,
            "wall time (min)": f"{layout['wall_seconds'] / 60:.1f}",
            "mean seconds per run": f"{layout['mean_run_seconds']:.0f}",
            "share in training steps": f"{100 * layout['share_in_steps']:.0f}%",
        }
        for name, layout in scaling["layouts"].items()
    ]
    return pd.DataFrame(rows).set_index("layout")


def per_run_range(scaling: Mapping[str, Any]) -> str:
    """The fewest and most mean seconds per run across the layouts: "39 to 63"."""
    seconds = [layout["mean_run_seconds"] for layout in scaling["layouts"].values()]
    return f"{min(seconds):.0f} to {max(seconds):.0f}"


def probe_cost(folders: Iterable[Path]) -> tuple[float, int]:
    """The seconds that the runs' probes took (every ``probe_*.json`` in each run's
    folder, its ``seconds``), and how many runs had the sharpness probe."""
    seconds, probed = 0.0, 0
    for folder in folders:
        probed += (folder / "probe_sharpness_probe.json").is_file()
        for path in folder.glob("probe_*.json"):
            seconds += json.loads(path.read_text()).get("seconds", 0.0)
    return seconds, probed


def _goal_text(total_minutes: float) -> str:
    goal = f"{GOAL_MINUTES / 60:.0f} hours"
    over = total_minutes - GOAL_MINUTES
    if over <= 0:
        return f"(within the goal of {goal})"
    return f"(over the goal of {goal} by " + (
        f"{over:.0f} min)" if over >= 1 else f"{60 * over:.0f} s)"
    )


def regeneration_text(
    regen: Mapping[str, Any], profile: str, n_probed: int, book_minutes: float
) -> str:
    """What regenerating the book from an empty store took, as ``benchmarks/
    regenerate_book.py`` measured it (``regen``) against :data:`GOAL_MINUTES`, by
    chapter; or, without a measurement of ``profile``, what the records' own run times
    (``book_minutes`` on two workers) say."""
    if not (regen.get("built") and regen.get("profile") == profile):
        return (
            "Regenerated from an empty results store on two workers, the book would take "
            f"about {book_minutes / 60:.1f} hours by these records' own run times; "
            "benchmarks/regenerate_book.py measures it end to end, and no such measurement "
            f"of the {profile} profile is recorded yet."
        )
    chapters = regen["chapters"]
    by_chapter = ", ".join(
        f"{name} {c['seconds'] / 60:.0f} min ({c['runs_trained']} runs)"
        for name, c in chapters.items()
    )
    text = (
        "Regenerated from an empty results store by benchmarks/regenerate_book.py on "
        f"{regen['workers']} workers of one thread, the book took "
        f"{regen['total_seconds'] / 3600:.2f} hours of wall time, measured "
        f"{_goal_text(regen['total_seconds'] / 60)}: {regen['runs']} runs trained "
        f"({n_probed} of them probed), by chapter (with the runs each chapter trained; later "
        f"chapters reuse earlier ones') {by_chapter}, and the HTML build "
        f"{regen['build_seconds'] / 60:.1f} min"
    )
    starts = max(c["attempts"] for c in chapters.values())
    if starts > 1:
        text += (
            f". It was interrupted and resumed ({starts} starts of a chapter at most), and "
            "the time of every start is counted, with the runs that an interruption cut "
            "short, so it bounds an uninterrupted regeneration from above; by the records' "
            f"own run times the runs need about {book_minutes:.0f} min on two workers"
        )
    return text + "."


def overhead_judgement(overheads: Mapping[str, Estimate], target: float) -> str:
    """The training step's overhead (percent, by threads) against the benchmark's
    ``target`` (percent): below it at every interval's top, above it at every interval's
    bottom, or around it."""
    if all(e.hi <= target for e in overheads.values()):
        return (
            f"below the benchmark's target of {target:.0f}% even at the top of its interval, "
            'which supports the paper\'s "negligible overhead" for this small model on a CPU'
        )
    if all(e.lo > target for e in overheads.values()):
        return f"above the benchmark's target of {target:.0f}%: on this CPU it is not negligible"
    return (
        f"around the benchmark's target of {target:.0f}% (its interval reaches past it): "
        "a few percent, small but not shown to be below the target"
    )


def answer_text(
    overheads: Mapping[str, Estimate],
    target: float,
    extra: float,
    peak: float,
    gpu_measured: bool,
    matched: Sequence[float],
) -> str:
    """The chapter's "In short": the training step's overhead (percent, by threads)
    against ``target`` (percent), the noise's ``extra`` memory (MiB) against a run's
    median ``peak`` (MiB), whether a GPU was measured, and, with two pairs or more, the
    book's runs against their twins without noise (:func:`matched_ratios`)."""
    gpu = (
        "a GPU record is shown beside it"
        if gpu_measured
        else "no GPU has been measured, where the draw weighs more against a faster step"
    )
    text = (
        "On a two-core CPU, gradient noise slows a whole training step by "
        f"{overhead_text(overheads)} (paired repeats, 95% CI): the draw of the noise doubles "
        "the optimizer step, but the optimizer step is a small part of a training step. The "
        f"slowdown is {overhead_judgement(overheads, target)}. The noise keeps one more "
        f"parameter copy in memory ({extra:.2f} MiB here, {100 * extra / peak:.1f}% of a run's "
        f"peak), two for anticorrelated noise; {gpu}."
    )
    if len(matched) >= 2:
        e = stats.mean_ci(matched)
        text += (
            f" The book's own runs with noise ran at {e.mean:.2f} [{e.lo:.2f}, {e.hi:.2f}] of "
            "the speed of their twins without it, in sweeps that do not control the timing as "
            "the benchmark does."
        )
    return text


def overhead_tests(overheads: Mapping[str, Estimate]) -> tuple[pd.DataFrame, list[str]]:
    """The comparisons and labels of the claim "negligible overhead" (for
    :func:`gni.claims.judge`): each thread count's mean overhead per training step."""
    tests = pd.DataFrame({"measure": "step_overhead", "difference": list(overheads.values())})
    labels = [f"the noise's overhead per training step, {threads_label(t)}" for t in overheads]
    return tests, labels
