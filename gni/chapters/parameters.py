"""Each chapter's parameter rules, declared here and checked in the chapter's second cell.

A chapter declares its parameters, with types and defaults, in its ``parameters`` cell
(what ``papermill --help-notebook`` shows). The cell after it calls
``check_chapter("02_schedules", globals())``, which applies :data:`RULES` through
:func:`gni.parameters.check_parameters`: the same types, bounds and messages, tested here
without a kernel. A rule that depends on another parameter's value (chapter 3's transfers
name a tuned dataset) is built from the namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from gni import paths
from gni.config import PROFILES
from gni.data import DATASETS
from gni.executors import EXECUTORS
from gni.parameters import (
    Rule,
    at_least,
    check_parameters,
    in_range,
    names_by_name,
    names_from,
    number_list,
    one_of,
    seed_list,
    seeds_by_name,
    split_pairs,
)

GRID_PARAMETERS = (
    "screen_grid",
    "families_grid",
    "anticorrelated_grid",
    "placement_grid",
    "sgd_grid",
    "adam_grid",
)  # chapter 2's grid files, one per step
EXECUTION = {"executor": one_of(EXECUTORS), "workers": at_least(1)}
PROFILE = {"profile": one_of(PROFILES)}


def grid_names() -> list[str]:
    """The grids a chapter may name: ``grids/<name>.yaml`` in the checkout."""
    return sorted(p.stem for p in (paths.home() / "grids").glob("*.yaml"))


def tuned_datasets(tuning: Any) -> list[str]:
    """The datasets chapter 3 tunes (``"shakespeare_char:0,1; ..."``); none when the value
    is malformed, which the ``tuning`` rule then reports."""
    if isinstance(tuning, str) and seeds_by_name(DATASETS).ok(tuning):
        return list(split_pairs(tuning))
    return []


def reproduce_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    return {
        **PROFILE,
        "n_seeds": at_least(2),  # a confidence interval needs two seeds
        "datasets": names_from(DATASETS),
        "sigma0": at_least(0),
        "gamma": in_range(0, 1, low_open=True),
        **EXECUTION,
    }


def schedules_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    grids = one_of(grid_names())
    return {
        **PROFILE,
        **{name: grids for name in GRID_PARAMETERS},
        "n_picks": at_least(1),
        "confirm_seeds": seed_list(2),
        "transfer_datasets": names_from(DATASETS),
        "transfer_seeds": seed_list(2),
        **EXECUTION,
    }


def regularizers_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    return {
        **PROFILE,
        "learning_rates": number_list(1e-12, minimum_count=1),
        "dropout_values": number_list(0.0),
        "weight_decay_values": number_list(0.0),
        "label_smoothing_values": number_list(0.0),
        "anticorrelated_sigma0": number_list(0.0),
        "exponential_sigma0": number_list(0.0),
        "exponential_gamma": in_range(0, 1, low_open=True),
        "template_dropout": in_range(0, 1),
        "template_weight_decay": at_least(0),
        "tuning": seeds_by_name(DATASETS),
        "transfers": names_by_name(DATASETS, tuned_datasets(values.get("tuning"))),
        "report_seeds": seed_list(2),
        "synergy_datasets": names_from(DATASETS),
        **EXECUTION,
    }


def sharpness_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    return {
        **PROFILE,
        "dataset": one_of(DATASETS),
        "learning_rates": number_list(1e-12, minimum_count=1),
        "tuning_seeds": seed_list(1),
        "probe_seeds": seed_list(2),
        "paper_sigma0": at_least(0),
        "paper_gamma": in_range(0, 1, low_open=True),
        **EXECUTION,
    }


def profile_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    return dict(PROFILE)


def decisive_rules(values: Mapping[str, Any]) -> dict[str, Rule]:
    # cpu: the pre-registered design as committed (its regimes name their own profiles)
    return {"profile": one_of(("cpu", "smoke")), "workers": at_least(1)}


# chapter -> its rules, given the values of its parameters
RULES: dict[str, Callable[[Mapping[str, Any]], dict[str, Rule]]] = {
    "01_reproduce": reproduce_rules,
    "02_schedules": schedules_rules,
    "03_regularizers": regularizers_rules,
    "04_sharpness": sharpness_rules,
    "05_cost": profile_rules,
    "06_claims": profile_rules,
    "08_decisive": decisive_rules,
}


def check_chapter(chapter: str, namespace: MutableMapping[str, Any]) -> None:
    """Check chapter ``chapter``'s parameters in ``namespace`` (its ``globals()``), as
    :func:`gni.parameters.check_parameters` does, with the chapter's :data:`RULES`."""
    if chapter not in RULES:
        raise ValueError(
            f"chapter {chapter!r} has no parameter rules; chapters: {', '.join(RULES)}"
        )
    check_parameters(namespace, RULES[chapter](namespace))
