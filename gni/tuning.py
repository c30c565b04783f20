"""One tuning protocol, written once and applied alike to every arm of a comparison.

A comparison of regularizers is fair only when each arm gets the same tuning: the same
learning rates, the same seeds, the same rule of choice. An :class:`Arm` fixes some
settings and tunes one strength (``dropout``, ``weight_decay``, ``label_smoothing``, ...,
or ``noise_args.<key>``, an argument of its noise schedule) over a grid of values, or
none (the baseline). A :class:`Protocol` crosses that grid with its learning rates (each
with ``min_lr = lr * min_lr_ratio``, the profiles' lr / 10) and trains every
configuration on its tuning seeds::

    protocol = Protocol(learning_rates=(1e-3, 2e-3), tuning_seeds=(0, 1), report_seeds=(2, 3, 4))
    table = gni.sweep.run(protocol.tuning_grid(arms, "shakespeare_char", "cpu"))
    selection = protocol.select(table, arms)  # .chosen: overrides per arm; .scores: the table
    report = gni.sweep.run(protocol.report_grid(selection.chosen, "shakespeare_char", "cpu"))

Each arm keeps the configuration with the lowest mean ``measure`` (lower is better; a
validation measure, never the test split) over the tuning seeds. The report runs use
other seeds, so the numbers reported are not those the choice was made on.
"""

from __future__ import annotations

import copy
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gni import GniError
from gni.config import FIELDS, RunConfig, make_config
from gni.schedules import schedule_arguments
from gni.validation import check_seeds

NOISE_ARGS = "noise_args."  # prefix of a strength that is a noise-schedule argument
PROTOCOL_FIELDS = ("learning_rate", "min_lr")  # tuned by the protocol for every arm
GRID_FIELDS = ("dataset", "profile", "seed")  # chosen by the grid, not by an arm
STRENGTHS = tuple(
    name
    for name, hint in typing.get_type_hints(RunConfig).items()
    if hint is float and name not in PROTOCOL_FIELDS
)
MEASURES = ("best_val_loss", "final_val_loss", "final_val_bpc")  # validation only
NOISE_FIELDS = tuple(name for name in FIELDS if name.startswith("noise_"))  # with_noise adds


def _numbers(what: str, values: Sequence[float]) -> tuple[float, ...]:
    """``values`` as finite floats, distinct as labels print them (``:g``)."""
    numbers = tuple(values)
    for v in numbers:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise GniError(f"{what}: {v!r} is not allowed; allowed: finite numbers")
    printed = [f"{v:g}" for v in numbers]
    repeated = sorted({p for p in printed if printed.count(p) > 1})
    if repeated:
        raise GniError(
            f"{what}={numbers} repeat(s) {', '.join(repeated)}; give distinct values "
            "(distinct to 6 significant digits, as the labels print them)"
        )
    return tuple(float(v) for v in numbers)


@dataclass(frozen=True)
class Arm:
    """One arm: RunConfig overrides fixed for it (``settings``) and the strength it tunes.

    ``strength`` is a float RunConfig field (:data:`STRENGTHS`) or ``noise_args.<key>``,
    an argument of the noise schedule named in ``settings``; ``values`` is its grid.
    Without a strength (``None``, ``values`` empty) the arm is tuned over the learning
    rate only: the baseline, or a fixed combination.
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    strength: str | None = None
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise GniError(f"arm name={self.name!r}; allowed: a non-empty string")
        object.__setattr__(self, "settings", copy.deepcopy(dict(self.settings)))
        object.__setattr__(self, "values", _numbers(f"arm {self.name!r}: values", self.values))
        self._check_settings()
        self._check_strength()

    def _check_settings(self) -> None:
        for key in self.settings:
            if key not in FIELDS or key in GRID_FIELDS + PROTOCOL_FIELDS:
                fixed = ", ".join(GRID_FIELDS + PROTOCOL_FIELDS)
                raise GniError(
                    f"arm {self.name!r}: settings key {key!r} is not allowed; allowed: "
                    f"RunConfig fields other than {fixed} (the grid and the protocol set those)"
                )

    def _check_strength(self) -> None:
        if self.strength is None:
            if self.values:
                raise GniError(
                    f"arm {self.name!r}: values={self.values} given without a strength; "
                    "name the field they set, or give no values to tune the learning rate only"
                )
            return
        if not self.values:
            raise GniError(
                f"arm {self.name!r}: strength={self.strength!r} without values; give its grid"
            )
        if self.strength.startswith(NOISE_ARGS):
            self._check_noise_argument(self.strength.removeprefix(NOISE_ARGS))
        elif self.strength not in STRENGTHS:
            raise GniError(
                f"arm {self.name!r}: strength={self.strength!r} is not a field to tune; "
                f"allowed: {', '.join(STRENGTHS)}, or noise_args.<argument of the arm's "
                "noise schedule>"
            )
        elif self.strength in self.settings:
            raise GniError(
                f"arm {self.name!r}: strength={self.strength!r} is also fixed in its settings; "
                "an arm tunes a field or fixes it"
            )

    def _check_noise_argument(self, key: str) -> None:
        schedule = self.settings.get("noise_schedule", "none")
        try:
            arguments = list(schedule_arguments(schedule))
        except ValueError as e:
            raise GniError(f"arm {self.name!r}: {e}") from None
        if key not in arguments:
            takes = ", ".join(arguments) if arguments else "no arguments"
            raise GniError(
                f"arm {self.name!r}: strength={self.strength!r} is not an argument of noise "
                f"schedule {schedule!r} (it takes {takes}); set noise_schedule in the settings"
            )
        if key in self.settings.get("noise_args", {}):
            raise GniError(
                f"arm {self.name!r}: strength={self.strength!r} is also fixed in its "
                "settings' noise_args; an arm tunes an argument or fixes it"
            )


class _Candidate(NamedTuple):
    """One configuration of an arm: its label, learning rate, strength value, overrides."""

    label: str
    learning_rate: float
    value: float | None
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """What :meth:`Protocol.select` chose, and the scores it chose from.

    ``chosen``: arm name -> the chosen configuration's RunConfig overrides. ``scores``:
    one row per configuration, in grid order, with columns ``arm``, ``label``,
    ``learning_rate``, ``strength`` (the field) and ``value`` (missing without one),
    ``mean`` (the measure's mean over the runs counted in ``runs_ok``; NaN if none),
    ``runs_ok`` (tuning runs ``ok`` with a finite measure; a configuration can be
    chosen only when all its tuning runs are) and ``chosen``.
    """

    chosen: dict[str, dict[str, Any]]
    scores: pd.DataFrame


def _check_names(arms: Sequence[Arm]) -> None:
    names = [arm.name for arm in arms]
    if not names:
        raise GniError("no arms given; give at least one")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise GniError(f"arm name(s) {repeated} given more than once; arm names must be distinct")


def _check_distinct_runs(variants: list[dict[str, Any]], dataset: str, profile: str) -> None:
    """GniError naming the two labels when two variants give the same run (a grid can
    hold a run once), or naming the label of a variant that is not a valid RunConfig."""
    labels: dict[str, str] = {}
    for variant in variants:
        overrides = {k: v for k, v in variant.items() if k != "label"}
        try:
            run_id = make_config(dataset, profile, 0, overrides).run_id
        except GniError as e:
            raise GniError(f"{variant['label']!r}: {e}") from None
        if run_id in labels:
            raise GniError(
                f"{labels[run_id]!r} and {variant['label']!r} are the same run; a grid holds "
                "it once: drop the value from one of the arms"
            )
        labels[run_id] = variant["label"]


def _grid(
    variants: list[dict[str, Any]], dataset: str, profile: str, seeds: tuple[int, ...]
) -> dict[str, Any]:
    _check_distinct_runs(variants, dataset, profile)
    return {
        "base": {"dataset": dataset, "profile": profile},
        "axes": {"arm": variants},
        "seeds": list(seeds),
    }


@dataclass(frozen=True)
class Protocol:
    """The tuning every arm gets: learning rates x the arm's values, on ``tuning_seeds``.

    ``measure`` is a summary field, lower is better (:data:`MEASURES`: validation split
    only). Each learning rate ``lr`` runs with ``min_lr = lr * min_lr_ratio``, rounded to
    12 significant digits (so that 3e-3 gives the smoke profile's 3e-4 exactly, and its
    run ids). ``report_seeds`` must be disjoint from ``tuning_seeds``.
    """

    learning_rates: tuple[float, ...]
    tuning_seeds: tuple[int, ...]
    report_seeds: tuple[int, ...]
    measure: str = "best_val_loss"
    min_lr_ratio: float = 0.1

    def __post_init__(self) -> None:
        rates = _numbers("learning_rates", self.learning_rates)
        if not rates or not all(lr > 0 for lr in rates):
            raise GniError(f"learning_rates={rates}; allowed: numbers > 0, at least one")
        object.__setattr__(self, "learning_rates", rates)
        object.__setattr__(self, "tuning_seeds", check_seeds("tuning_seeds", self.tuning_seeds))
        object.__setattr__(self, "report_seeds", check_seeds("report_seeds", self.report_seeds))
        shared = sorted(set(self.tuning_seeds) & set(self.report_seeds))
        if shared:
            raise GniError(
                f"seed(s) {shared} are both tuning and report seeds; report on other seeds "
                "than those the choice was made on"
            )
        if self.measure not in MEASURES:
            raise GniError(f"measure={self.measure!r}; allowed: {', '.join(MEASURES)}")
        ratio = self.min_lr_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise GniError(f"min_lr_ratio={ratio!r}; allowed: 0 <= min_lr_ratio <= 1")

    def _candidates(self, arm: Arm) -> list[_Candidate]:
        """The arm's configurations in grid order: learning rates outer, values inner."""
        candidates = []
        for lr in self.learning_rates:
            base = copy.deepcopy(arm.settings)
            base |= {"learning_rate": lr, "min_lr": float(f"{lr * self.min_lr_ratio:.12g}")}
            label = f"{arm.name} | lr={lr:g}"
            if arm.strength is None:
                candidates.append(_Candidate(label, lr, None, base))
                continue
            for value in arm.values:
                overrides = copy.deepcopy(base)
                if arm.strength.startswith(NOISE_ARGS):
                    key = arm.strength.removeprefix(NOISE_ARGS)
                    overrides["noise_args"] = {**overrides.get("noise_args", {}), key: value}
                else:
                    overrides[arm.strength] = value
                candidates.append(
                    _Candidate(f"{label} | {arm.strength}={value:g}", lr, value, overrides)
                )
        return candidates

    def configurations(self, arm: Arm) -> list[dict[str, Any]]:
        """The arm's RunConfig overrides for every (learning rate, value) pair, in grid order."""
        return [c.overrides for c in self._candidates(arm)]

    def budget(self, arm: Arm) -> int:
        """Configurations tried for the arm (each on every tuning seed)."""
        return len(self.learning_rates) * max(1, len(arm.values))

    def tuning_grid(self, arms: Sequence[Arm], dataset: str, profile: str) -> dict[str, Any]:
        """A :mod:`gni.sweep` grid of every arm's configurations on the tuning seeds.

        One axis, ``arm``, of named variants labelled ``"<name> | lr=<lr>"`` or
        ``"<name> | lr=<lr> | <strength>=<value>"``. Two arms giving the same run (a
        dropout arm's 0 and the baseline, say) are refused, naming both labels.
        """
        _check_names(arms)
        variants = [
            {"label": c.label, **c.overrides} for arm in arms for c in self._candidates(arm)
        ]
        return _grid(variants, dataset, profile, self.tuning_seeds)

    def select(self, table: pd.DataFrame, arms: Sequence[Arm]) -> Selection:
        """Each arm's configuration with the lowest mean measure over the tuning seeds.

        ``table``: what ``gni.sweep.run(self.tuning_grid(arms, ...))`` returns (columns
        ``arm``, the label; ``seed``; ``status``; the measure). A configuration can be
        chosen only when each tuning seed has one run of it, ``ok`` with a finite measure
        (a diverged or failed run disqualifies it); ties go to the first in grid order.
        An arm with no such configuration is a GniError naming it.
        """
        _check_names(arms)
        needed = ["arm", "seed", "status", self.measure]
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise GniError(f"the table lacks column(s) {missing}; it has {list(table.columns)}")
        n_seeds = len(self.tuning_seeds)
        rows: list[dict[str, Any]] = []
        chosen: dict[str, dict[str, Any]] = {}
        for arm in arms:
            best: tuple[int, _Candidate] | None = None
            for candidate in self._candidates(arm):
                mean, runs_ok = self._score(table, candidate.label)
                if runs_ok == n_seeds and (best is None or mean < rows[best[0]]["mean"]):
                    best = (len(rows), candidate)
                rows.append(
                    {
                        "arm": arm.name,
                        "label": candidate.label,
                        "learning_rate": candidate.learning_rate,
                        "strength": arm.strength,
                        "value": math.nan if candidate.value is None else candidate.value,
                        "mean": mean,
                        "runs_ok": runs_ok,
                        "chosen": False,
                    }
                )
            if best is None:
                raise GniError(
                    f"arm {arm.name!r}: no configuration can be chosen; none has its runs on "
                    f"all tuning seeds {list(self.tuning_seeds)} ok with a finite {self.measure}"
                )
            rows[best[0]]["chosen"] = True
            chosen[arm.name] = copy.deepcopy(best[1].overrides)
        return Selection(chosen, pd.DataFrame(rows))

    def _score(self, table: pd.DataFrame, label: str) -> tuple[float, int]:
        """The mean measure of a configuration's tuning runs that are ``ok`` with a finite
        measure (NaN if none), and how many there are."""
        runs = table[(table["arm"] == label) & table["seed"].isin(self.tuning_seeds)]
        if runs["seed"].duplicated().any():
            raise GniError(
                f"the table holds more than one run of {label!r} for a seed "
                f"(seeds {sorted(runs['seed'].tolist())}); give one run per seed"
            )
        measure = pd.to_numeric(runs[self.measure], errors="coerce")
        ok = measure[(runs["status"] == "ok") & np.isfinite(measure)]
        return (float(ok.mean()) if len(ok) else math.nan), len(ok)

    def report_grid(
        self, chosen: dict[str, dict[str, Any]], dataset: str, profile: str
    ) -> dict[str, Any]:
        """A :mod:`gni.sweep` grid of each arm's chosen overrides (labelled by the arm's
        name, on axis ``arm``) on the report seeds."""
        if not chosen:
            raise GniError("no chosen configurations given; give at least one arm's")
        for name, overrides in chosen.items():
            if "label" in overrides:
                raise GniError(f"arm {name!r}: its overrides hold a 'label'; give overrides only")
        variants = [{"label": name, **copy.deepcopy(o)} for name, o in chosen.items()]
        return _grid(variants, dataset, profile, self.report_seeds)


def with_noise(overrides: dict[str, Any], noisy: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (an arm's chosen configuration) with the noise settings of ``noisy``
    (its ``noise_*`` fields) added: a regularizer's tuned configuration plus a tuned GNI,
    at the regularizer's learning rate. Neither is tuned again. A GniError if
    ``overrides`` already sets noise, or ``noisy`` sets none."""
    present = sorted(k for k in overrides if k in NOISE_FIELDS)
    if present:
        raise GniError(
            f"the overrides already set noise field(s) {present}; give a noiseless arm's"
        )
    noise = {k: copy.deepcopy(v) for k, v in noisy.items() if k in NOISE_FIELDS}
    if noise.get("noise_schedule", "none") == "none":
        raise GniError(f"the noisy overrides {noisy!r} set no noise schedule; give a GNI arm's")
    return copy.deepcopy(overrides) | noise
