"""Checks shared by the run settings, grids, tuning protocols and chapter parameters.

Each raises :class:`gni.GniError` with one line that names the bad value and what is
allowed, and returns the value in its canonical form.
"""

from __future__ import annotations

from typing import Any

from gni import GniError
from gni.untrusted import shown


def is_count(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_seeds(what: str, seeds: Any, minimum_count: int = 1) -> tuple[int, ...]:
    """``seeds`` as a tuple: a list or tuple of at least ``minimum_count`` distinct integers
    >= 0 (a seed given twice would train or count the same run twice)."""
    if (
        not isinstance(seeds, list | tuple | range)
        or len(seeds) < minimum_count
        or not all(is_count(s) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise GniError(
            f"{what}={shown(seeds)}; allowed: distinct integers >= 0, at least {minimum_count}"
        )
    return tuple(seeds)
