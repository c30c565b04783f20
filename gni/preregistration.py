"""The decisive test's pre-registration: its design, read and checked.

Stage 1 is the committed ``book/preregistration/design.yaml`` (:func:`design_path`): the
arms, the search space, the regimes with their seeds and trial budgets, the seed rule and
the hypotheses with their families. :func:`load_design` reads it as untrusted YAML and
checks every field, naming the bad value. Stage 2 of each regime, ``<regime>.yaml`` beside
it (:func:`frozen_path`), is written by :func:`gni.envelope.freeze` before any
confirmation run. :func:`at_smoke_size` shrinks a design for tests and CI.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gni import GniError, paths
from gni.config import PROFILES
from gni.data import DATASETS
from gni.untrusted import load_yaml, read_text, shown
from gni.validation import check_seeds

__all__ = [
    "Design",
    "Regime",
    "at_smoke_size",
    "design_path",
    "frozen_path",
    "load_design",
]


def design_path() -> Path:
    """The committed design: ``book/preregistration/design.yaml`` in the checkout."""
    return paths.home() / "book" / "preregistration" / "design.yaml"


def frozen_path(regime: str, design_file: Path | None = None) -> Path:
    """The committed second stage of ``regime``: ``<regime>.yaml`` beside the design."""
    return (design_file or design_path()).parent / f"{regime}.yaml"


@dataclass(frozen=True)
class Regime:
    """One regime of the design: a profile and what it tunes, pilots and confirms."""

    name: str
    profile: str
    datasets: dict[str, tuple[str, ...]]  # dataset -> its arms
    trials: int
    startup_trials: int
    tuning_seed: int
    pilot_seeds: tuple[int, ...]
    first_seed: int
    min_seeds: int
    max_seeds: int
    warm_start: str | None = None  # a regime whose choices are each arm's first trial


@dataclass(frozen=True)
class Design:
    """``book/preregistration/design.yaml``, checked."""

    alpha: float
    power: float
    target_mde: float
    primary_measure: str
    secondary_measures: tuple[str, ...]
    arms: dict[str, dict[str, Any]]  # name -> {settings, noise}
    learning_rate: tuple[float, float]
    noise_families: dict[str, dict[str, Any]]  # name -> {settings, sigma0: (lo, hi), [decay]}
    edge_factor: float
    extension_factor: float
    extension_trials: int
    sampler_seed: int
    regimes: dict[str, Regime]
    sd_confidence: float
    hypotheses: dict[str, dict[str, Any]]

    def regime(self, name: str) -> Regime:
        if name not in self.regimes:
            raise GniError(
                f"regime {shown(name)} is not in the design; allowed: {list(self.regimes)}"
            )
        return self.regimes[name]

    def largest_family(self) -> int:
        """The most tests any hypothesis's family holds: every regime and dataset where
        both of its arms run."""
        return max(
            len(self.family(h)) for h in self.hypotheses if "treatment" in self.hypotheses[h]
        )

    def family(self, hypothesis: str) -> list[tuple[str, str]]:
        """(regime, dataset) of every test in ``hypothesis``'s family."""
        h = self.hypotheses[hypothesis]
        return [
            (r.name, dataset)
            for r in self.regimes.values()
            for dataset, arms in r.datasets.items()
            if h["treatment"] in arms and h["reference"] in arms
        ]


def _range(value: Any, where: str) -> tuple[float, float]:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and 0 < value[0] < value[1]
    )
    if not ok:
        raise GniError(f"{where}={shown(value)}; allowed: [low, high] with 0 < low < high")
    return float(value[0]), float(value[1])


def _kind_name(kind: Any) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    kinds = typing.get_args(kind) or (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _get(entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = entry.get(key)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise GniError(f"{where}: {key}={shown(value)}; allowed: {_kind_name(kind)}")
    return value


def _regime(name: str, entry: Any, arms: Mapping[str, Any], where: str) -> Regime:
    where = f"{where} regime {name}"
    if not isinstance(entry, dict):
        raise GniError(f"{where}: a mapping expected, not {shown(entry)}")
    profile = _get(entry, "profile", str, where)
    if profile not in PROFILES:
        raise GniError(f"{where}: profile={shown(profile)}; allowed: {', '.join(PROFILES)}")
    datasets = {}
    for dataset, listed in _get(entry, "datasets", dict, where).items():
        unknown = [a for a in listed if a not in arms] if isinstance(listed, list) else [listed]
        if dataset not in DATASETS or unknown or not listed:
            raise GniError(
                f"{where}: datasets.{shown(dataset)}={shown(listed)}; allowed: a "
                f"dataset of {', '.join(DATASETS)} with a list of arms of {list(arms)}"
            )
        datasets[dataset] = tuple(listed)
    ints = {
        k: _get(entry, k, int, where)
        for k in ("trials", "startup_trials", "tuning_seed", "first_seed", "min_seeds", "max_seeds")
    }
    if (
        not 1 <= ints["startup_trials"] <= ints["trials"]
        or not 2 <= ints["min_seeds"] <= ints["max_seeds"]
    ):
        raise GniError(
            f"{where}: needs 1 <= startup_trials <= trials and 2 <= min_seeds <= max_seeds"
        )
    pilot = check_seeds(f"{where} pilot_seeds", _get(entry, "pilot_seeds", list, where))
    if len(pilot) < 2:
        raise GniError(f"{where}: pilot_seeds={shown(pilot)}; allowed: at least two seeds")
    return Regime(
        name=name,
        profile=profile,
        datasets=datasets,
        pilot_seeds=tuple(pilot),
        warm_start=entry.get("warm_start"),
        **ints,
    )


def load_design(path: Path | None = None) -> Design:
    """Read and check the design (default :func:`design_path`)."""
    path = path or design_path()
    where = str(path)
    data = load_yaml(read_text(path, where), where)
    if not isinstance(data, dict):
        raise GniError(f"{where}: a mapping expected")
    arms = _get(data, "arms", dict, where)
    for name, arm in arms.items():
        if (
            not isinstance(arm, dict)
            or not isinstance(arm.get("settings"), dict)
            or not isinstance(arm.get("noise"), bool)
        ):
            raise GniError(
                f"{where} arm {shown(name)}: needs settings (a mapping) and noise (true or false)"
            )
    space = _get(data, "space", dict, where)
    families = {}
    for name, family in _get(space, "families", dict, f"{where} space").items():
        fwhere = f"{where} family {name}"
        ranges = {k: _range(v, f"{fwhere} {k}") for k, v in family.items() if k != "settings"}
        if "sigma0" not in ranges or set(ranges) - {"sigma0", "decay"}:
            raise GniError(f"{fwhere}: needs sigma0 and allows decay, as [low, high]")
        families[name] = {"settings": _get(family, "settings", dict, fwhere), **ranges}
    regimes = {n: _regime(n, e, arms, where) for n, e in _get(data, "regimes", dict, where).items()}
    for r in regimes.values():
        if r.warm_start is not None and r.warm_start not in regimes:
            raise GniError(
                f"{where} regime {r.name}: warm_start={shown(r.warm_start)} is not a regime"
            )
    hypotheses = _get(data, "hypotheses", dict, where)
    for name, h in hypotheses.items():
        ok = isinstance(h, dict) and (
            ("all_of" in h and h["all_of"] in hypotheses)
            or (
                h.get("treatment") in arms
                and h.get("reference") in arms
                and h.get("direction") in ("lower", "higher")
            )
        )
        if not ok:
            raise GniError(
                f"{where} hypothesis {shown(name)}: needs treatment, reference (arms) and "
                "direction, or all_of"
            )
    design = Design(
        alpha=float(_get(data, "alpha", float, where)),
        power=float(_get(data, "power", float, where)),
        target_mde=float(_get(data, "target_mde", float, where)),
        primary_measure=_get(data, "primary_measure", str, where),
        secondary_measures=tuple(_get(data, "secondary_measures", list, where)),
        arms=arms,
        learning_rate=_range(space.get("learning_rate"), f"{where} space learning_rate"),
        noise_families=families,
        edge_factor=float(_get(data, "edge_factor", float, where)),
        extension_factor=float(_get(data, "extension_factor", int | float, where)),
        extension_trials=_get(data, "extension_trials", int, where),
        sampler_seed=_get(data, "sampler_seed", int, where),
        regimes=regimes,
        sd_confidence=float(
            _get(_get(data, "seed_rule", dict, where), "sd_confidence", float, where)
        ),
        hypotheses=hypotheses,
    )
    if design.edge_factor <= 1 or design.extension_factor <= 1:
        raise GniError(f"{where}: edge_factor and extension_factor must exceed 1")
    return design


def at_smoke_size(design: Design) -> Design:
    """The design with every regime on the ``smoke`` profile and the least of everything
    (two trials, one at random, two pilot and two confirmation seeds): the chapter's
    pipeline in seconds, for tests and CI. Its regimes are named ``smoke-<name>``, so its
    records never take the place of the design's own (``.gitignore`` keeps them out)."""
    regimes = {
        f"smoke-{name}": dataclasses.replace(
            r,
            name=f"smoke-{name}",
            warm_start=None if r.warm_start is None else f"smoke-{r.warm_start}",
            profile="smoke",
            trials=2,
            startup_trials=1,
            pilot_seeds=r.pilot_seeds[:2],
            min_seeds=2,
            max_seeds=2,
        )
        for name, r in design.regimes.items()
    }
    return dataclasses.replace(design, regimes=regimes, extension_trials=1)
