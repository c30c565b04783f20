"""How the book prints an estimate: one formatter for an interval, one for a ratio.

Every chapter prints a paired difference the same way: its mean signed, then its 95%
confidence interval in brackets (:func:`interval`), or the interval alone beside other
columns (:func:`bounds`); a difference of log2 measures as the factor it stands for
(:func:`ratio`). With fewer than two pairs there is no interval, and the text says why.
p-values are :func:`gni.stats.p_text` and :func:`gni.stats.p_clause`. Names run together
as prose with :func:`and_list`, and a count agrees with its noun by :func:`plural`.
"""

from __future__ import annotations

from collections.abc import Sequence

from gni.stats import Estimate

__all__ = [
    "TIMES",
    "and_list",
    "bounds",
    "interval",
    "plural",
    "ratio",
]

#: The multiplication sign before a factor (x0.52)
TIMES = "\N{MULTIPLICATION SIGN}"


def _no_interval(e: Estimate) -> str:
    return f"n/a: {e.n} pair{'s' * (e.n != 1)}"


def interval(e: Estimate, digits: int = 3) -> str:
    """``+0.012 [-0.004, +0.028]``; ``+0.012 (n/a: 1 pair)`` without an interval."""
    if e.n < 2:
        return f"{e.mean:+.{digits}f} ({_no_interval(e)})"
    return f"{e.mean:+.{digits}f} [{e.lo:+.{digits}f}, {e.hi:+.{digits}f}]"


def bounds(e: Estimate, digits: int = 3) -> str:
    """The interval alone, signed: ``[-0.003, +0.027]``; ``n/a: 1 pair`` without one."""
    if e.n < 2:
        return _no_interval(e)
    return f"[{e.lo:+.{digits}f}, {e.hi:+.{digits}f}]"


def ratio(e: Estimate) -> str:
    """A difference of log2 measures as a factor: ``x0.52 [0.31, 0.87]`` (with a times
    sign); ``x0.52 (n/a: 1 pair)`` without an interval."""
    if e.n < 2:
        return f"{TIMES}{2**e.mean:.2f} ({_no_interval(e)})"
    return f"{TIMES}{2**e.mean:.2f} [{2**e.lo:.2f}, {2**e.hi:.2f}]"


def plural(n: int, word: str, ending: str = "s") -> str:
    """``0 runs``, ``1 run``, ``2 fixed batches`` (with ``ending="es"``)."""
    return f"{n} {word}" + ("" if n == 1 else ending)


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
