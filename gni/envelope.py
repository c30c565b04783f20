"""The decisive test's envelope: every arm tuned alike, piloted, then frozen before confirming.

The design is the committed pre-registration ``book/preregistration/design.yaml``, read by
:func:`gni.preregistration.load_design`. For each regime (a profile), dataset and arm it
declares, a study draws ``trials`` settings with Optuna's TPE sampler, seeded alike for
every arm, and trains each one on the regime's tuning seed; the value told to the sampler
is the run's primary measure (best validation loss). Studies run one trial after another,
so a study is a pure function of its records: run again, it replays the same suggestions,
finds each run in the results store and trains only what is missing. That is how it resumes.

A study's trials are summarised in ``<results>/envelope/<regime>-<dataset>-<arm>.json``
(:data:`FORMAT`): the trial number, its parameters, its run id and value, and the
learning-rate range it was drawn from. A chosen learning rate within ``edge_factor`` of an
edge of its range extends the range on that side and adds trials (the design's rule).

Then the pilot reruns each arm's choice on the pilot seeds; :func:`freeze` turns the pilot's
paired spread into the number of confirmation seeds (:func:`seeds_needed`) and writes
``book/preregistration/<regime>.yaml``, which is committed before any confirmation run.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gni import GniError, paths
from gni.atomic import atomic_file, write_json
from gni.config import RunConfig, make_config
from gni.preregistration import Design, frozen_path
from gni.results import ResultsStore
from gni.stats import corrected_alpha, detectable_effect, sd_upper_bound
from gni.untrusted import load_yaml, read_text
from gni.validation import check_seeds

__all__ = [
    "FORMAT",
    "STAGES",
    "arm_overrides",
    "chosen_params",
    "confirmation_configs",
    "freeze",
    "load_frozen",
    "load_trials",
    "on_edge",
    "pilot_configs",
    "pooled_paired_sd",
    "run_stage",
    "seeds_needed",
    "trials_path",
    "tune",
]

#: The version of a study's trials record.
FORMAT = 1
#: Significant digits kept of every tuned number: the run's settings, as its labels print them.
DIGITS = 4
#: The most extensions of a learning-rate range one study makes.
MAX_EXTENSIONS = 3


def trials_path(regime: str, dataset: str, arm: str, root: Path | None = None) -> Path:
    """Where a study's trials are summarised, beside the run records."""
    return (root or paths.results_dir()) / "envelope" / f"{regime}-{dataset}-{arm}.json"


def _rounded(x: float) -> float:
    return float(f"{x:.{DIGITS}g}")


def arm_overrides(design: Design, arm: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The RunConfig overrides of ``arm`` at the sampled ``params`` (learning_rate, and for a
    noisy arm family, sigma0 and, for exponential, decay = 1 - gamma); ``min_lr`` is
    learning_rate / 10 as in every profile. Numbers keep ``DIGITS`` significant digits."""
    lr = _rounded(params["learning_rate"])
    overrides = {**design.arms[arm]["settings"], "learning_rate": lr, "min_lr": _rounded(lr / 10)}
    if not design.arms[arm]["noise"]:
        return overrides
    family = design.noise_families[params["family"]]
    args = {"sigma0": _rounded(params["sigma0"])}
    if "decay" in family:
        args["gamma"] = _rounded(1 - params["decay"])
    return {**overrides, **family["settings"], "noise_args": args}


def _suggest(trial: Any, design: Design, arm: str, lr_range: tuple[float, float]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", *lr_range, log=True)
    }
    if design.arms[arm]["noise"]:
        family = trial.suggest_categorical("family", sorted(design.noise_families))
        params["family"] = family
        for key in ("sigma0", "decay"):
            if key in design.noise_families[family]:
                params[key] = trial.suggest_float(
                    f"{family}.{key}", *design.noise_families[family][key], log=True
                )
    return params


def _distributions(
    design: Design, arm: str, params: Mapping[str, Any], lr_range: tuple[float, float]
) -> dict:
    import optuna

    dist: dict[str, Any] = {
        "learning_rate": optuna.distributions.FloatDistribution(*lr_range, log=True)
    }
    internal: dict[str, Any] = {"learning_rate": params["learning_rate"]}
    if design.arms[arm]["noise"]:
        dist["family"] = optuna.distributions.CategoricalDistribution(sorted(design.noise_families))
        internal["family"] = params["family"]
        for key in ("sigma0", "decay"):
            if key in params:
                low, high = design.noise_families[params["family"]][key]
                dist[f"{params['family']}.{key}"] = optuna.distributions.FloatDistribution(
                    low, high, log=True
                )
                internal[f"{params['family']}.{key}"] = params[key]
    return {"distributions": dist, "params": internal}


def on_edge(lr: float, lr_range: tuple[float, float], factor: float) -> str | None:
    """Which edge of ``lr_range`` ``lr`` lies within ``factor`` of: "low", "high" or None."""
    if lr < lr_range[0] * factor:
        return "low"
    if lr > lr_range[1] / factor:
        return "high"
    return None


def _value(summary: Mapping[str, Any], measure: str) -> float | None:
    value = summary.get(measure)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def tune(
    design: Design,
    regime: str,
    dataset: str,
    arm: str,
    store: ResultsStore | None = None,
    warm_params: Mapping[str, Any] | None = None,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Run (or replay) one study and write its trials record; returns the record.

    Each trial trains (or reuses) one run on the regime's tuning seed. ``warm_params``,
    when given, is the first trial. A run whose primary measure is not finite is a failed
    trial (the sampler learns nothing from it). The record holds every trial in order.
    The study trains on ``threads`` torch threads; the process's count is restored after.
    """
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _study(design, regime, dataset, arm, store or ResultsStore(), warm_params)
    finally:
        torch.set_num_threads(previous)  # the caller's process is left as it was


def _study(
    design: Design,
    regime: str,
    dataset: str,
    arm: str,
    store: ResultsStore,
    warm_params: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The body of :func:`tune`."""
    import optuna

    from gni.train import train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    r = design.regime(regime)
    lr_range = design.learning_rate
    trials: list[dict[str, Any]] = []
    extensions: list[dict[str, Any]] = []
    budget = r.trials
    while True:
        sampler = optuna.samplers.TPESampler(
            seed=design.sampler_seed,
            n_startup_trials=r.startup_trials,
            multivariate=True,
            group=True,
        )
        study = optuna.create_study(direction="minimize", sampler=sampler)
        for old in trials:  # an extension keeps the earlier trials
            state = (
                optuna.trial.TrialState.COMPLETE
                if old["value"] is not None
                else optuna.trial.TrialState.FAIL
            )
            study.add_trial(
                optuna.trial.create_trial(
                    state=state,
                    value=old["value"],
                    **_distributions(design, arm, old["params"], lr_range),
                )
            )
        if warm_params is not None and not trials:
            warm = dict(warm_params)  # clipped into this regime's range
            warm["learning_rate"] = min(max(warm["learning_rate"], lr_range[0]), lr_range[1])
            study.enqueue_trial(_distributions(design, arm, warm, lr_range)["params"])
        while len(trials) < budget:
            trial = study.ask()
            params = _suggest(trial, design, arm, lr_range)
            config = make_config(
                dataset, r.profile, r.tuning_seed, arm_overrides(design, arm, params)
            )
            result = train(config, store=store, progress=False)
            value = _value(result.summary, design.primary_measure)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            trials.append(
                {
                    "number": len(trials),
                    "params": params,
                    "run_id": config.run_id,
                    "value": value,
                    "lr_range": list(lr_range),
                }
            )
        best = chosen_params({"trials": trials})
        edge = on_edge(
            arm_overrides(design, arm, best)["learning_rate"], lr_range, design.edge_factor
        )
        if edge is None or len(extensions) >= MAX_EXTENSIONS:
            break
        low, high = lr_range
        lr_range = (
            (low / design.extension_factor, high)
            if edge == "low"
            else (low, high * design.extension_factor)
        )
        extensions.append(
            {"after_trial": len(trials) - 1, "edge": edge, "lr_range": list(lr_range)}
        )
        budget += design.extension_trials
    record = {
        "format": FORMAT,
        "regime": regime,
        "dataset": dataset,
        "arm": arm,
        "profile": r.profile,
        "seed": r.tuning_seed,
        "measure": design.primary_measure,
        "trials": trials,
        "extensions": extensions,
    }
    write_json(trials_path(regime, dataset, arm, store.root), record)
    return record


def _trial_problem(trial: Any) -> str | None:
    """What is wrong with one trial of a record, or None."""
    if not isinstance(trial, dict):
        return "a trial is not a mapping"
    number, value, lr_range = trial.get("number"), trial.get("value"), trial.get("lr_range")
    if isinstance(number, bool) or not isinstance(number, int):
        return "a trial's number is not an integer"
    if not isinstance(trial.get("params"), dict) or not isinstance(trial.get("run_id"), str):
        return f"trial {number} has no params mapping or run_id"
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"trial {number}'s value is not a number or null"
    if not (isinstance(lr_range, list) and len(lr_range) == 2):
        return f"trial {number}'s lr_range is not [low, high]"
    return None


def load_trials(regime: str, dataset: str, arm: str, root: Path | None = None) -> dict[str, Any]:
    """A study's trials record, read as untrusted JSON (bounded by
    ``gni.untrusted.read_text``) and checked; a GniError naming the file when it is
    missing, not JSON or not a trials record."""
    path = trials_path(regime, dataset, arm, root)
    if not path.is_file():
        raise GniError(f"{path}: no such trials record; run `gni envelope tune --regime {regime}`")
    try:
        data = json.loads(read_text(path, str(path)))
    except (ValueError, RecursionError) as e:
        raise GniError(f"{path}: not valid JSON ({' '.join(str(e).split())[:160]})") from None
    problem = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        problem = f"not a trials record of format {FORMAT}"
    elif not isinstance(data.get("trials"), list) or not data["trials"]:
        problem = "no trials"
    else:
        problem = next(filter(None, map(_trial_problem, data["trials"])), None)
    if problem:
        raise GniError(f"{path}: {problem}; run `gni envelope tune --regime {regime}` again")
    return data


def chosen_params(record: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of the trial with the lowest value (the earliest among equals)."""
    done = [t for t in record["trials"] if t["value"] is not None]
    if not done:
        raise GniError(
            f"no trial of {record.get('regime')} {record.get('dataset')} {record.get('arm')} "
            "finished"
        )
    return dict(min(done, key=lambda t: (t["value"], t["number"]))["params"])


def _study_task(design: Design, regime: str, dataset: str, arm: str, root: str) -> str:
    warm = None
    source = design.regime(regime).warm_start
    if source is not None:
        warm = chosen_params(load_trials(source, dataset, arm, Path(root)))
    record = tune(design, regime, dataset, arm, ResultsStore(root), warm)
    best = chosen_params(record)
    n = len(record["trials"])
    return f"{regime} {dataset} {arm}: {n} trials, chose {arm_overrides(design, arm, best)}"


def _run_studies(design: Design, regime: str, workers: int, store: ResultsStore) -> None:
    """Every study of ``regime``, ``workers`` at a time (each study's trials in order)."""
    from gni.executors import executor
    from gni.sweep import prepare_data

    r = design.regime(regime)
    studies = [(d, a) for d, arms in r.datasets.items() for a in arms]
    prepare_data([make_config(d, r.profile).to_dict() for d in r.datasets])
    with executor("local", workers, None) as pool:
        futures = [pool.submit(_study_task, design, regime, *s, str(store.root)) for s in studies]
        for future in futures:  # in the design's order, whichever finishes first
            print(future.result(), file=sys.stderr, flush=True)


def _grid(
    design: Design,
    regime: str,
    dataset: str,
    seeds: Sequence[int],
    root: Path,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A sweep grid: each arm's chosen settings (its trials', or ``settings``) on ``seeds``."""
    r = design.regime(regime)
    variants = []
    for arm in r.datasets[dataset]:
        overrides = (
            settings[arm]
            if settings is not None
            else arm_overrides(design, arm, chosen_params(load_trials(regime, dataset, arm, root)))
        )
        variants.append({"label": arm, **overrides})
    return {
        "base": {"dataset": dataset, "profile": r.profile},
        "axes": {"arm": variants},
        "seeds": list(seeds),
    }


def pilot_configs(design: Design, regime: str, root: Path | None = None) -> list[RunConfig]:
    """Every pilot run of ``regime``: each arm's chosen settings on each pilot seed."""
    from gni.grids import expand

    r = design.regime(regime)
    root = root or paths.results_dir()
    return [
        p.config for d in r.datasets for p in expand(_grid(design, regime, d, r.pilot_seeds, root))
    ]


def pooled_paired_sd(design: Design, regime: str, runs: pd.DataFrame) -> tuple[float, int]:
    """The pooled SD of every paired difference of ``regime``'s pilot (each hypothesis with
    both arms in a dataset; primary measure) and its degrees of freedom.

    ``runs`` has columns dataset, arm, seed and the primary measure.
    """
    r = design.regime(regime)
    squares, df = 0.0, 0
    for name, h in design.hypotheses.items():
        if "treatment" not in h:
            continue
        for dataset, arms in r.datasets.items():
            if h["treatment"] not in arms or h["reference"] not in arms:
                continue
            here = runs[runs["dataset"] == dataset].pivot(
                index="seed", columns="arm", values=design.primary_measure
            )
            diff = (here[h["treatment"]] - here[h["reference"]]).dropna()
            if len(diff) < 2:
                raise GniError(f"{regime} {dataset} {name}: fewer than two pilot pairs")
            squares += float(((diff - diff.mean()) ** 2).sum())
            df += len(diff) - 1
    if df == 0:
        raise GniError(f"{regime}: no pilot comparison to pool")
    return math.sqrt(squares / df), df


def seeds_needed(design: Design, regime: str, sd: float, df: int) -> tuple[int, float]:
    """(n, mde): the design's number of confirmation seeds and the effect it detects.

    The SD is ``sd``'s upper bound at ``sd_confidence`` (from ``df`` + 1 values); the test is
    two-sided at alpha over the largest family's size. n is the smallest from ``min_seeds``
    whose minimum detectable effect is at most ``target_mde``, else ``max_seeds``.
    """
    r = design.regime(regime)
    bound = sd_upper_bound(sd, df + 1, design.sd_confidence)
    alpha = corrected_alpha(design.largest_family(), design.alpha)

    def mde(n: int) -> float:
        return detectable_effect(bound, n, alpha, design.power)

    for n in range(r.min_seeds, r.max_seeds + 1):
        if mde(n) <= design.target_mde:
            return n, mde(n)
    return r.max_seeds, mde(r.max_seeds)


def _pilot_runs(design: Design, regime: str, store: ResultsStore) -> pd.DataFrame:
    """The pilot's recorded runs: one row per run, with its dataset, arm and seed."""
    from gni import sweep

    r = design.regime(regime)
    tables = [
        sweep.run(
            _grid(design, regime, d, r.pilot_seeds, store.root), store=store, raise_on_failure=True
        )
        for d in r.datasets
    ]
    return pd.concat(tables, ignore_index=True)


def freeze(
    design: Design, regime: str, store: ResultsStore | None = None, path: Path | None = None
) -> Path:
    """Write ``regime``'s second stage: the chosen settings, the pilot's spread, the seeds.

    Refuses when the file exists (a pre-registration is written once) or a pilot run is
    missing. Returns the path written.
    """
    store = store or ResultsStore()
    path = path or frozen_path(regime)
    if path.exists():
        raise GniError(
            f"{path} exists: a regime's pre-registration is written once; delete it only "
            "if no confirmation run has been made from it"
        )
    r = design.regime(regime)
    missing = [
        c.run_id for c in pilot_configs(design, regime, store.root) if not store.has(c.run_id)
    ]
    if missing:
        raise GniError(
            f"{len(missing)} pilot runs of {regime} are missing (e.g. {missing[0]}); run "
            f"`gni envelope pilot --regime {regime}` first"
        )
    sd, df = pooled_paired_sd(design, regime, _pilot_runs(design, regime, store))
    n, mde = seeds_needed(design, regime, sd, df)
    chosen = {
        d: {
            a: arm_overrides(design, a, chosen_params(load_trials(regime, d, a, store.root)))
            for a in arms
        }
        for d, arms in r.datasets.items()
    }
    stage = {
        "regime": regime,
        "profile": r.profile,
        "pilot_paired_sd": round(sd, 6),
        "pilot_df": df,
        "sd_bound": round(sd_upper_bound(sd, df + 1, design.sd_confidence), 6),
        "family_size": design.largest_family(),
        "n_seeds": n,
        "mde": round(mde, 6),
        "seeds": list(range(r.first_seed, r.first_seed + n)),
        "chosen": chosen,
    }
    header = (
        f"# Stage 2 of the decisive test's pre-registration for regime {regime}, written by\n"
        f"# `gni envelope freeze --regime {regime}` from the tuning and pilot records and\n"
        "# committed before the first confirmation run. See design.yaml for the rules.\n"
    )
    with atomic_file(path) as tmp:
        tmp.write_text(header + yaml.safe_dump(stage, sort_keys=False, width=100))
    return path


def load_frozen(regime: str, path: Path | None = None) -> dict[str, Any]:
    """A regime's second stage; a GniError when it has not been written (frozen) yet."""
    path = path or frozen_path(regime)
    if not path.is_file():
        raise GniError(
            f"{path} does not exist: run `gni envelope freeze --regime {regime}` and commit it"
        )
    data = load_yaml(read_text(path, str(path)), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("chosen"), dict):
        raise GniError(f"{path}: not a frozen stage (no chosen settings)")
    check_seeds(f"{path} seeds", data.get("seeds"))
    return data


def confirmation_configs(
    design: Design, regime: str, frozen: Mapping[str, Any]
) -> list[tuple[str, RunConfig]]:
    """Every confirmation run of ``regime`` as (arm, config): the frozen settings on the
    frozen seeds."""
    from gni.grids import expand

    r = design.regime(regime)
    return [
        (p.labels["arm"], p.config)
        for d in r.datasets
        for p in expand(_grid(design, regime, d, frozen["seeds"], Path("."), frozen["chosen"][d]))
    ]


#: The stages of a regime, in order.
STAGES = ("tune", "pilot", "freeze", "confirm")


def run_stage(
    design: Design, regime: str, stage: str, store: ResultsStore, frozen_file: Path, workers: int
) -> None:
    """One stage of ``regime`` (:data:`STAGES`); training what the store lacks."""
    from gni import sweep

    r = design.regime(regime)
    if stage == "tune":
        _run_studies(design, regime, workers, store)
        return
    if stage == "freeze":
        print(freeze(design, regime, store, frozen_file), file=sys.stderr)
        return
    if stage == "pilot":
        grids = [_grid(design, regime, d, r.pilot_seeds, store.root) for d in r.datasets]
    else:
        frozen = load_frozen(regime, frozen_file)
        grids = [
            _grid(design, regime, d, frozen["seeds"], store.root, frozen["chosen"][d])
            for d in r.datasets
        ]
    for grid in grids:
        sweep.run(grid, executor="local", workers=workers, store=store, raise_on_failure=True)
