"""The noise's options, without torch: how sigma_t sets the noise's scale and how its
draws relate across steps. :mod:`gni.noise` and :mod:`gni.optim` check them, and
:mod:`gni.config` validates a run's settings with them (without importing torch).
"""

from __future__ import annotations

from gni import GniError

__all__ = [
    "KINDS",
    "SCALES",
    "check_kind",
    "check_scale",
]

#: How sigma_t sets the noise's per-entry std; as it is (absolute), or times the
#: gradient's RMS (relative).
SCALES = ("absolute", "relative")
#: How draws relate across steps; s_t z_t (independent), or s_t (z_t - z_{t-1}) / sqrt(2)
#: (anticorrelated).
KINDS = ("independent", "anticorrelated")


def check_scale(scale: str) -> None:
    """Raise :class:`gni.GniError` (a ValueError) unless ``scale`` is one of ``SCALES``."""
    if scale not in SCALES:
        raise GniError(f"scale={scale!r}; allowed: {', '.join(SCALES)}")


def check_kind(kind: str) -> None:
    """Raise :class:`gni.GniError` (a ValueError) unless ``kind`` is one of ``KINDS``."""
    if kind not in KINDS:
        raise GniError(f"kind={kind!r}; allowed: {', '.join(KINDS)}")
