"""The regularizer comparison's arms: what chapters 3 and 4 both build on."""

import ast
import dataclasses
from pathlib import Path

import pandas as pd
import papermill

from gni.parameters import split_numbers
from gni.regularizers import (
    BASELINE,
    GNI_ARMS,
    LEARNING_RATES,
    REGULARIZERS,
    TEMPLATE,
    TEMPLATE_GNI,
    Grids,
    combined,
    report_arms,
)
from gni.tuning import Selection

CHAPTER_3 = Path(__file__).resolve().parents[1] / "notebooks" / "03_regularizers.ipynb"
GRID_PARAMETERS = {"dropout", "weight_decay", "label_smoothing"}  # named <field>_values there


def test_the_arms_are_the_baseline_the_regularizers_gni_and_the_template():
    arms = Grids().arms()
    assert [a.name for a in arms] == [BASELINE, *REGULARIZERS, *GNI_ARMS, TEMPLATE]
    by_name = {a.name: a for a in arms}
    assert by_name["weight decay"].strength == "weight_decay"
    assert by_name["weight decay"].values == (0.1, 1.0)
    assert by_name[GNI_ARMS[1]].settings == {
        "noise_schedule": "exponential",
        "noise_args": {"gamma": 0.99},
    }
    assert by_name[TEMPLATE].settings == {"dropout": 0.2, "weight_decay": 0.1}
    assert by_name[BASELINE].values == () and by_name[TEMPLATE].values == ()


def test_chapter_3s_parameters_default_to_the_grids_chapter_4_probes():
    defaults = {
        name: ast.literal_eval(p["default"])
        for name, p in papermill.inspect_notebook(str(CHAPTER_3)).items()
    }
    assert tuple(split_numbers(defaults["learning_rates"])) == LEARNING_RATES
    for field in dataclasses.fields(Grids):
        value = defaults[f"{field.name}_values" if field.name in GRID_PARAMETERS else field.name]
        expected = getattr(Grids(), field.name)
        assert (tuple(split_numbers(value)) if isinstance(value, str) else value) == expected


def _selection(gni_scores: tuple[float, float]) -> Selection:
    chosen = {a.name: {"learning_rate": 0.001} for a in Grids().arms()}
    chosen[GNI_ARMS[0]] |= {"noise_schedule": "constant", "noise_args": {"sigma0": 1e-4}}
    chosen[GNI_ARMS[1]] |= {"noise_schedule": "exponential", "noise_args": {"sigma0": 1e-3}}
    chosen[TEMPLATE] = {"learning_rate": 0.002, "dropout": 0.2, "weight_decay": 0.1}
    means = dict(zip(GNI_ARMS, gni_scores, strict=True))
    scores = pd.DataFrame(
        [{"arm": name, "mean": means.get(name, 2.0), "chosen": True} for name in chosen]
        + [{"arm": GNI_ARMS[0], "mean": 0.0, "chosen": False}]  # not chosen: never counted
    )
    return Selection(chosen, scores)


def test_report_arms_adds_the_better_gni_to_the_template_and_with_synergy_to_each():
    chosen, gni = report_arms(_selection((2.1, 2.05)), synergy=False)
    assert gni == GNI_ARMS[1]
    assert chosen[TEMPLATE_GNI] == {
        "learning_rate": 0.002,
        "dropout": 0.2,
        "weight_decay": 0.1,
        "noise_schedule": "exponential",
        "noise_args": {"sigma0": 1e-3},
    }
    assert not any(combined(x) in chosen for x in REGULARIZERS)
    chosen, gni = report_arms(_selection((2.0, 2.05)), synergy=True)
    assert gni == GNI_ARMS[0]
    assert chosen[combined("dropout")]["noise_args"] == {"sigma0": 1e-4}
    assert len(chosen) == len(Grids().arms()) + 1 + len(REGULARIZERS)
