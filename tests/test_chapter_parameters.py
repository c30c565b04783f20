"""Each chapter's parameter rules (gni.chapters.parameters), applied as the chapter's
second cell applies them: after its own parameters cell and a papermill-injected cell,
read from the committed notebooks. One real papermill run per chapter is in test_book."""

import json
from pathlib import Path
from typing import Any

import pytest

from gni.chapters.parameters import RULES, check_chapter, grid_names, tuned_datasets
from gni.parameters import PAPERMILL_HEADER

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def parameters_cell(chapter: str) -> str:
    cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]
    return next(
        "".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", [])
    )


def check_injected(chapter: str, **injected: Any) -> dict[str, Any]:
    """Run the chapter's parameters cell, then papermill's injected cell with ``injected``,
    then the chapter's check, in one namespace, as the kernel does."""
    namespace: dict[str, Any] = {}
    declared = parameters_cell(chapter)
    exec(declared, namespace)
    cell = PAPERMILL_HEADER + "".join(f"{k} = {v!r}\n" for k, v in injected.items())
    exec(cell, namespace)
    namespace["_ih"] = ["", declared, cell, "check_chapter(...)"]
    check_chapter(chapter, namespace)
    return namespace


@pytest.mark.parametrize("chapter", sorted(RULES))
def test_every_chapter_passes_its_own_defaults(chapter):
    check_injected(chapter)


def test_every_chapter_with_parameters_has_rules():
    with_parameters = {
        p.stem
        for p in NOTEBOOKS.glob("*.ipynb")
        if any(
            "parameters" in c["metadata"].get("tags", [])
            for c in json.loads(p.read_text())["cells"]
        )
    }
    assert with_parameters == set(RULES)


@pytest.mark.parametrize(
    ("chapter", "name", "value", "message"),
    [
        (
            "01_reproduce",
            "n_seeds",
            0,
            "parameter n_seeds=0 is out of range; allowed: a finite number >= 2",
        ),
        ("01_reproduce", "n_seeds", "three", "parameter n_seeds='three' must be of type int"),
        ("01_reproduce", "n_seeds", 2.5, "parameter n_seeds=2.5 must be of type int"),
        ("01_reproduce", "n_seed", 3, "parameter(s) n_seed are not parameters of this chapter"),
        (
            "01_reproduce",
            "datasets",
            "wiki",
            "parameter datasets='wiki' is out of range; allowed: a comma",
        ),
        (
            "01_reproduce",
            "profile",
            "gpu",
            "parameter profile='gpu' is out of range; allowed: one of smoke, cpu",
        ),
        ("01_reproduce", "gamma", 0.0, "parameter gamma=0.0 is out of range; allowed: in (0, 1]"),
        (
            "02_schedules",
            "screen_grid",
            "nope",
            "parameter screen_grid='nope' is out of range; allowed: one of ",
        ),
        ("02_schedules", "confirm_seeds", "2", "parameter confirm_seeds='2' is out of range"),
        ("02_schedules", "workers", 0, "parameter workers=0 is out of range"),
        (
            "02_schedules",
            "executor",
            "slurm",
            "parameter executor='slurm' is out of range; allowed: one of local, dask",
        ),
        (
            "03_regularizers",
            "tuning",
            "wiki:0",
            "parameter tuning='wiki:0' is out of range; allowed: 'name:seeds",
        ),
        (
            "03_regularizers",
            "transfers",
            "text8:text8",
            "parameter transfers='text8:text8' is out of range",
        ),
        (
            "03_regularizers",
            "learning_rates",
            "0.001,0.001",
            "parameter learning_rates='0.001,0.001' is out of",
        ),
        (
            "03_regularizers",
            "template_dropout",
            1.5,
            "parameter template_dropout=1.5 is out of range; allowed: in [0, 1]",
        ),
        (
            "04_sharpness",
            "dataset",
            "wiki",
            "parameter dataset='wiki' is out of range; allowed: one of",
        ),
        ("04_sharpness", "probe_seeds", "2", "parameter probe_seeds='2' is out of range"),
        (
            "04_sharpness",
            "paper_gamma",
            1.5,
            "parameter paper_gamma=1.5 is out of range; allowed: in (0, 1]",
        ),
        (
            "05_cost",
            "profile",
            "gpu",
            "parameter profile='gpu' is out of range; allowed: one of smoke, cpu",
        ),
        ("06_claims", "profile", "gpu", "parameter profile='gpu' is out of range"),
    ],
)
def test_a_bad_value_names_the_parameter_and_what_is_allowed(chapter, name, value, message):
    with pytest.raises(ValueError) as error:
        check_injected(chapter, **{name: value})
    assert message in str(error.value)


def test_good_values_pass_and_ints_become_floats():
    namespace = check_injected("04_sharpness", paper_sigma0=0, probe_seeds="5, 6")
    assert namespace["paper_sigma0"] == 0.0 and isinstance(namespace["paper_sigma0"], float)


def test_chapter_3_transfers_name_a_dataset_it_tunes():
    check_injected("03_regularizers", tuning="text8:0,1", transfers="enwik8:text8")
    with pytest.raises(ValueError, match="transfers='enwik8:text8' is out of range"):
        check_injected("03_regularizers", transfers="enwik8:text8")  # text8 is not tuned
    assert tuned_datasets("shakespeare_char:0,1; text8:0") == ["shakespeare_char", "text8"]
    assert tuned_datasets("wiki:0") == [] and tuned_datasets(3) == []


def test_grids_are_the_grid_files_of_the_checkout():
    names = grid_names()
    assert "schedules_screen" in names and all("/" not in n for n in names)


def test_a_chapter_without_rules_is_named():
    with pytest.raises(ValueError, match="chapter '07_x' has no parameter rules"):
        check_chapter("07_x", {})
