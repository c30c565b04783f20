"""The seed registry: a seed called fresh never chose anything its report depends on."""

from __future__ import annotations

import ast
import json

import pytest

from gni import GniError, paths
from gni.parameters import split_seeds
from gni.seeds import check_registry, load_registry, overlap, overlap_sentence

REGISTRY = """
choices:
  screen: {chapter: 02_b, seeds: [0, 1], chooses: the picks}
  confirm: {chapter: 02_b, seeds: [2, 3], chooses: the best pick, after: [screen]}
reports:
  confirmation: {chapter: 02_b, seeds: [2, 3], after: [screen], fresh: true}
  later: {chapter: 03_c, seeds: [1, 2, 9], after: [confirm], fresh: false}
"""


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "seeds.yaml"
    path.write_text(REGISTRY)
    return load_registry(path)


def test_overlap_follows_a_reports_choices_back_to_the_first(registry):
    assert overlap("confirmation", registry=registry) == {}
    assert overlap("later", registry=registry) == {"confirm": (2,), "screen": (1,)}
    assert overlap("later", seeds=[9, 10], registry=registry) == {}
    text = overlap_sentence("later", registry=registry)
    assert "seeds 2 also chose the best pick (02_b)" in text and "not fresh" in text
    check_registry(registry)


def test_a_seed_called_fresh_that_chose_something_fails_the_check(tmp_path):
    path = tmp_path / "seeds.yaml"
    path.write_text(REGISTRY.replace("fresh: false", "fresh: true"))
    with pytest.raises(GniError, match=r"later .* calls its seeds fresh"):
        check_registry(load_registry(path))
    path.write_text(REGISTRY.replace("after: [confirm]", "after: [nothing]"))
    with pytest.raises(GniError, match="no choice 'nothing'"):
        load_registry(path)


def test_the_books_registry_holds():
    check_registry()


def _defaults(chapter: str) -> dict[str, object]:
    """The parameters cell of ``notebooks/<chapter>.ipynb``: name -> default value."""
    notebook = json.loads((paths.home() / "notebooks" / f"{chapter}.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {
        n.target.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.AnnAssign)
    }


def _grid_seeds(name: str) -> list[int]:
    import yaml

    return yaml.safe_load((paths.home() / "grids" / f"{name}.yaml").read_text())["seeds"]


def test_the_registry_names_the_seeds_the_chapters_run_with():
    registry = load_registry()
    reports, choices = registry.reports, registry.choices
    assert list(reports["reproduce"].seeds) == list(range(_defaults("01_reproduce")["n_seeds"]))
    schedules = _defaults("02_schedules")
    assert list(reports["confirmation"].seeds) == split_seeds(schedules["confirm_seeds"])
    assert list(choices["confirmed-best"].seeds) == split_seeds(schedules["confirm_seeds"])
    assert list(reports["transfer"].seeds) == split_seeds(schedules["transfer_seeds"])
    assert list(choices["screen-picks"].seeds) == _grid_seeds(schedules["screen_grid"])
    assert list(choices["sgd-learning-rate"].seeds) == _grid_seeds(schedules["sgd_grid"])
    assert list(choices["cpu-long-shape"].seeds) == _grid_seeds("calibrate_cpu_long")
    regularizers = _defaults("03_regularizers")
    assert list(reports["regularizers"].seeds) == split_seeds(regularizers["report_seeds"])
    assert regularizers["tuning"] == "shakespeare_char:" + ",".join(
        map(str, choices["regularizer-tuning"].seeds)
    )
    sharpness = _defaults("04_sharpness")
    assert list(reports["sharpness"].seeds) == split_seeds(sharpness["probe_seeds"])
    assert split_seeds(sharpness["tuning_seeds"]) == list(choices["regularizer-tuning"].seeds)
