"""Grids of runs: a YAML file (or the same dict in Python) and the runs it names.

A grid::

    base:                      # every run: a dataset, a profile, RunConfig overrides
      dataset: shakespeare_char
      profile: cpu
      overrides: {max_iters: 600}
    axes:                      # the cartesian product of the axes
      method:                  # an axis of named variants: dicts of overrides
        - {label: baseline}
        - {label: gni, noise_schedule: exponential, noise_args: {sigma0: 0.01, gamma: 0.999}}
      dropout: [0.0, 0.1]      # an axis of values for one RunConfig field
    seeds: [0, 1, 2]           # or `n_seeds: 3` for seeds 0, 1, 2

An axis named ``dataset`` or ``profile`` chooses those (each dataset keeps its own
profile settings). :func:`expand` validates every run before any is built; a grid of
more than :data:`MAX_RUNS` runs is refused unless ``max_runs`` (``gni sweep
--max-runs``) allows it, and one of :data:`REPORT_RUNS` or more says its size before it
is expanded. The file is read within the bounds of ``gni.untrusted.load_yaml``.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gni import GniError
from gni.config import FIELDS, RunConfig, make_config
from gni.untrusted import load_yaml, read_text, shown
from gni.validation import check_seeds

__all__ = [
    "BASE_KEYS",
    "GRID_KEYS",
    "MAX_RUNS",
    "MAX_SEEDS",
    "REPORT_RUNS",
    "SweepPoint",
    "count_runs",
    "expand",
    "load_grid",
]

#: The keys a grid file may have.
GRID_KEYS = ("base", "axes", "seeds", "n_seeds")
#: The keys of its base.
BASE_KEYS = ("dataset", "profile", "overrides")
#: A larger grid is refused unless max_runs (--max-runs) allows it
MAX_RUNS = 10_000
#: A grid this large says how many runs it has before expanding them
REPORT_RUNS = 1_000
#: A grid's n_seeds (its runs are limited by max_runs anyway)
MAX_SEEDS = 10**9


@dataclass(frozen=True)
class SweepPoint:
    config: RunConfig
    labels: dict[str, Any] = field(default_factory=dict)  # axis name -> label or value


def load_grid(path: str | Path) -> dict[str, Any]:
    """The grid file at ``path`` as a mapping (see the module docstring), read within the
    bounds of ``gni.untrusted.load_yaml``; :func:`expand` checks what it holds."""
    path = Path(path)
    if not path.is_file():
        raise GniError(f"grid file {path} does not exist")
    grid = load_yaml(read_text(path, f"grid file {path}"), f"grid file {path}")
    if not isinstance(grid, dict):
        raise GniError(f"grid file {path} must hold a mapping with keys {', '.join(GRID_KEYS)}")
    return grid


def _seeds(grid: dict[str, Any]) -> Sequence[int]:
    if "seeds" in grid and "n_seeds" in grid:
        raise GniError("the grid gives both seeds and n_seeds; give one")
    if "n_seeds" in grid:
        n = grid["n_seeds"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
            raise GniError(f"n_seeds={shown(n)} must be an integer from 1 to {MAX_SEEDS:,}")
        return range(n)  # not a list: its length is known before a huge grid is refused
    return check_seeds("seeds", grid.get("seeds", [0]))


def _axis_variants(name: str, values: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(label, overrides) for each value of an axis."""
    if not isinstance(values, list) or not values:
        raise GniError(f"axis {name!r} must be a non-empty list, not {shown(values)}")
    variants = []
    for value in values:
        if isinstance(value, dict):
            if name in FIELDS:
                raise GniError(
                    f"axis {name!r} of named variants shares its name with a config field; "
                    "rename the axis (e.g. 'method')"
                )
            overrides = dict(value)
            label = overrides.pop("label", None)
            if label is None:
                raise GniError(f"axis {name!r}: the variant {shown(value)} needs a label")
            variants.append((label, overrides))
        else:
            variants.append((value, {name: value}))
    return variants


def _base(grid: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The grid's checked ``base`` mapping and its ``overrides`` mapping."""
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise GniError(f"unknown grid key(s) {unknown}; allowed: {', '.join(GRID_KEYS)}")
    base = grid.get("base") or {}
    if not isinstance(base, dict):
        raise GniError(
            f"base must be a mapping with keys {', '.join(BASE_KEYS)}, not {shown(base)}"
        )
    unknown = sorted(set(base) - set(BASE_KEYS), key=str)
    if unknown:
        raise GniError(f"unknown base key(s) {unknown}; allowed: {', '.join(BASE_KEYS)}")
    overrides = base.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise GniError(
            f"base.overrides must be a mapping of config field to value, not {shown(overrides)}"
        )
    return base, overrides


def count_runs(grid: dict[str, Any]) -> int:
    """How many runs the grid has (checked as far as counting needs, nothing built)."""
    _base(grid)
    axes = grid.get("axes") or {}
    if not isinstance(axes, dict):
        raise GniError(f"axes must be a mapping of axis name to values, not {shown(axes)}")
    return math.prod(len(_axis_variants(n, v)) for n, v in axes.items()) * len(_seeds(grid))


def _point(
    base: dict[str, Any], overrides: dict[str, Any], profile: str | None, seed: int
) -> RunConfig:
    """One run's config; a value of the wrong kind is a GniError naming the run."""
    overrides = dict(overrides)
    dataset = overrides.pop("dataset", base.get("dataset"))
    chosen_profile = overrides.pop("profile", base.get("profile", "cpu"))
    if profile is not None:
        chosen_profile = profile
    if dataset is None:
        raise GniError("the grid names no dataset: set base.dataset or a dataset axis")
    try:
        return make_config(dataset, chosen_profile, seed, overrides)
    except GniError:
        raise
    except (TypeError, ValueError, ArithmeticError) as e:
        where = f"dataset={dataset!r}, profile={chosen_profile!r}, seed={seed}, {overrides}"
        raise GniError(f"the grid's run ({where}) is not valid: {type(e).__name__}: {e}") from None


def expand(
    grid: dict[str, Any], profile: str | None = None, max_runs: int = MAX_RUNS
) -> list[SweepPoint]:
    """Every run of the grid, validated; ``profile`` replaces the grid's profile.

    A grid of more than ``max_runs`` runs is refused before anything is built.
    """
    n_runs = count_runs(grid)
    if n_runs > max_runs:
        raise GniError(
            f"the grid has {n_runs:,} runs, more than the limit of {max_runs:,}; "
            f"to run them all, pass --max-runs {n_runs} (max_runs={n_runs} in Python)"
        )
    if n_runs >= REPORT_RUNS:
        print(f"gni: expanding a grid of {n_runs:,} runs ...", file=sys.stderr, flush=True)
    base, base_overrides = _base(grid)
    axes = grid.get("axes") or {}
    names = list(axes)
    variants = [_axis_variants(n, axes[n]) for n in names]
    seeds = _seeds(grid)
    points = []
    for combination in itertools.product(*variants):
        overrides = dict(base_overrides)
        for _, axis_overrides in combination:
            overrides.update(axis_overrides)
        labels = {n: label for n, (label, _) in zip(names, combination, strict=True)}
        for seed in seeds:
            points.append(SweepPoint(_point(base, overrides, profile, seed), labels))
    ids = [p.config.run_id for p in points]
    if len(set(ids)) != len(ids):
        raise GniError("the grid repeats a run: two combinations give the same settings")
    return points
