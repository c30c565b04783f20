"""Noise schedules: pure functions of the optimizer step t returning sigma_t.

Conventions (the same in the code, the docs and the book):

- sigma_t is a **standard deviation**, never a variance;
- t counts optimizer steps from 0, so the first update uses sigma_0.

Each schedule is a frozen dataclass: calling it with t gives sigma_t, and ``latex``
describes it in one line for the book. ``make_schedule(name, **kwargs)`` builds one
by name and rejects unknown names and out-of-range arguments.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from gni import GniError

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "Exponential",
    "InverseSqrt",
    "Linear",
    "NoNoise",
    "Polynomial",
    "make_schedule",
    "match_total_variance",
    "schedule_arguments",
    "total_variance",
]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise GniError(message)


@dataclass(frozen=True)
class NoNoise:
    """sigma_t = 0: the baseline."""

    def __call__(self, t: int) -> float:
        return 0.0

    @property
    def latex(self) -> str:
        return r"\sigma_t = 0"


@dataclass(frozen=True)
class Constant:
    """sigma_t = sigma0 for every step."""

    sigma0: float

    def __post_init__(self) -> None:
        _require(self.sigma0 >= 0, f"sigma0={self.sigma0} must be >= 0")

    def __call__(self, t: int) -> float:
        return self.sigma0

    @property
    def latex(self) -> str:
        return rf"\sigma_t = \sigma_0,\ \sigma_0 = {self.sigma0:g}"


@dataclass(frozen=True)
class Exponential:
    """sigma_t = sigma0 * gamma**t: the paper's schedule (gamma in (0, 1])."""

    sigma0: float
    gamma: float

    def __post_init__(self) -> None:
        _require(self.sigma0 >= 0, f"sigma0={self.sigma0} must be >= 0")
        _require(0 < self.gamma <= 1, f"gamma={self.gamma} must be in (0, 1]")

    def __call__(self, t: int) -> float:
        return self.sigma0 * self.gamma**t

    @property
    def latex(self) -> str:
        return (
            rf"\sigma_t = \sigma_0 \gamma^t,\ \sigma_0 = {self.sigma0:g},\ \gamma = {self.gamma:g}"
        )


@dataclass(frozen=True)
class Polynomial:
    """Neelakantan et al. (2015): variance eta / (1 + t)**gamma, so
    sigma_t = sqrt(eta / (1 + t)**gamma).

    ``eta`` is their *variance* at t = 0 (they try 0.01, 0.3 and 1.0); gamma = 0.55.
    """

    eta: float
    gamma: float = 0.55

    def __post_init__(self) -> None:
        _require(self.eta >= 0, f"eta={self.eta} (a variance) must be >= 0")
        _require(0 < self.gamma <= 1, f"gamma={self.gamma} must be in (0, 1]")

    def __call__(self, t: int) -> float:
        return math.sqrt(self.eta / (1 + t) ** self.gamma)

    @property
    def latex(self) -> str:
        return (
            rf"\sigma_t = \sqrt{{\eta / (1 + t)^{{\gamma}}}},\ \eta = {self.eta:g},"
            rf"\ \gamma = {self.gamma:g}"
        )


@dataclass(frozen=True)
class Linear:
    """sigma_t falls linearly from sigma0 at t = 0 to 0 at t = total_steps, then stays 0."""

    sigma0: float
    total_steps: int

    def __post_init__(self) -> None:
        _require(self.sigma0 >= 0, f"sigma0={self.sigma0} must be >= 0")
        _require(self.total_steps >= 1, f"total_steps={self.total_steps} must be >= 1")

    def __call__(self, t: int) -> float:
        return self.sigma0 * max(0.0, 1.0 - t / self.total_steps)

    @property
    def latex(self) -> str:
        return (
            rf"\sigma_t = \sigma_0 \max(0, 1 - t/T),\ \sigma_0 = {self.sigma0:g},"
            rf"\ T = {self.total_steps}"
        )


@dataclass(frozen=True)
class Cosine:
    """sigma_t = sigma0 * (1 + cos(pi * t / total_steps)) / 2 up to total_steps, then 0."""

    sigma0: float
    total_steps: int

    def __post_init__(self) -> None:
        _require(self.sigma0 >= 0, f"sigma0={self.sigma0} must be >= 0")
        _require(self.total_steps >= 1, f"total_steps={self.total_steps} must be >= 1")

    def __call__(self, t: int) -> float:
        if t >= self.total_steps:
            return 0.0
        return self.sigma0 * 0.5 * (1.0 + math.cos(math.pi * t / self.total_steps))

    @property
    def latex(self) -> str:
        return (
            rf"\sigma_t = \tfrac{{\sigma_0}}{{2}}(1 + \cos(\pi t / T)),"
            rf"\ \sigma_0 = {self.sigma0:g},\ T = {self.total_steps}"
        )


@dataclass(frozen=True)
class InverseSqrt:
    """sigma_t = sigma0 * sqrt(warmup / max(t, warmup)): flat for ``warmup`` steps, then
    decaying as 1/sqrt(t)."""

    sigma0: float
    warmup: int = 1

    def __post_init__(self) -> None:
        _require(self.sigma0 >= 0, f"sigma0={self.sigma0} must be >= 0")
        _require(self.warmup >= 1, f"warmup={self.warmup} must be >= 1")

    def __call__(self, t: int) -> float:
        return self.sigma0 * math.sqrt(self.warmup / max(t, self.warmup))

    @property
    def latex(self) -> str:
        return (
            rf"\sigma_t = \sigma_0 \sqrt{{w / \max(t, w)}},\ \sigma_0 = {self.sigma0:g},"
            rf"\ w = {self.warmup}"
        )


Schedule = NoNoise | Constant | Exponential | Polynomial | Linear | Cosine | InverseSqrt

#: The noise schedules by name, each a frozen dataclass callable on the step t.
SCHEDULES: dict[str, type] = {
    "none": NoNoise,
    "constant": Constant,
    "exponential": Exponential,
    "polynomial": Polynomial,
    "linear": Linear,
    "cosine": Cosine,
    "inverse_sqrt": InverseSqrt,
}


def schedule_arguments(name: str) -> dict[str, object]:
    """The arguments of schedule ``name``: their defaults, or ``dataclasses.MISSING``."""
    if name not in SCHEDULES:
        raise GniError(f"unknown noise schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return {f.name: f.default for f in dataclasses.fields(SCHEDULES[name])}


def make_schedule(name: str, **kwargs: float) -> Schedule:
    """Build the schedule ``name`` from keyword arguments.

    >>> make_schedule("exponential", sigma0=0.01, gamma=0.999)(0)
    0.01
    """
    allowed = schedule_arguments(name)
    unknown = sorted(set(kwargs) - set(allowed))
    missing = sorted(k for k, v in allowed.items() if v is dataclasses.MISSING and k not in kwargs)
    if unknown or missing:
        problem = f"unknown argument(s) {unknown}" if unknown else f"missing argument(s) {missing}"
        raise GniError(
            f"noise schedule {name!r}: {problem}; it takes "
            + (", ".join(allowed) if allowed else "no arguments")
        )
    cls = SCHEDULES[name]
    typed = {}
    for f in dataclasses.fields(cls):
        if f.name in kwargs:
            value = kwargs[f.name]
            if not math.isfinite(value):
                raise GniError(f"noise schedule {name!r}: {f.name}={value} must be finite")
            if f.type == "int":
                if float(value) != int(value):
                    raise GniError(f"noise schedule {name!r}: {f.name}={value} must be an integer")
                value = int(value)
            else:
                value = float(value)
            typed[f.name] = value
    return cls(**typed)


# The argument that sets each schedule's amplitude, and whether it is a variance.
_AMPLITUDE = {"polynomial": ("eta", True)}


def total_variance(schedule: Schedule, steps: int) -> float:
    """The noise variance summed over steps 0 .. steps - 1: sum of sigma_t**2 (per entry)."""
    return math.fsum(schedule(t) ** 2 for t in range(steps))


def match_total_variance(
    name: str, arguments: dict[str, float], target: float, steps: int
) -> dict[str, float]:
    """``arguments`` of schedule ``name`` rescaled so that its total variance over
    ``steps`` steps is ``target``: schedules compared at matched total noise.

    The amplitude is ``sigma0`` (a standard deviation, scaled by the square root of the
    ratio) or, for ``polynomial``, Neelakantan's ``eta`` (a variance, scaled by the ratio).
    """
    _require(target >= 0, f"target={target} (a total variance) must be >= 0")
    current = total_variance(make_schedule(name, **arguments), steps)
    _require(current > 0, f"noise schedule {name!r} with {arguments} adds no noise to rescale")
    key, is_variance = _AMPLITUDE.get(name, ("sigma0", False))
    ratio = target / current
    return {**arguments, key: arguments[key] * (ratio if is_variance else math.sqrt(ratio))}
