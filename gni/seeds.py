"""The seed registry: which seeds chose something, and which report on it.

A result reported on a seed that also helped choose what is reported is biased in the
choice's favour. ``book/seeds.yaml`` records every choice the book makes (its seeds, and
the earlier choices it builds on) and every set of reported runs (its seeds, and the
choices it depends on). :func:`overlap` follows a report's choices back to the first and
returns the seeds it shares with them: a report may call its seeds fresh only when that
overlap is empty (:func:`check_registry`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gni import GniError, paths
from gni.untrusted import load_yaml, read_text, shown


def registry_path() -> Path:
    return paths.home() / "book" / "seeds.yaml"


@dataclass(frozen=True)
class Use:
    """A choice or a report: its chapter, seeds and the choices it builds on."""

    name: str
    chapter: str
    seeds: tuple[int, ...]
    after: tuple[str, ...]
    fresh: bool | None = None  # reports only: whether the page calls its seeds fresh
    chooses: str = ""  # choices only: what is chosen


@dataclass(frozen=True)
class Registry:
    choices: dict[str, Use]
    reports: dict[str, Use]

    def choices_behind(self, names: Iterable[str]) -> list[Use]:
        """Every choice in ``names`` and every choice they build on, each once."""
        seen: dict[str, Use] = {}
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in self.choices:
                raise GniError(f"{registry_path().name}: no choice {shown(name)}")
            if name not in seen:
                seen[name] = self.choices[name]
                stack.extend(self.choices[name].after)
        return list(seen.values())


def _use(name: str, entry: object, where: str, report: bool) -> Use:
    if not isinstance(entry, dict):
        raise GniError(f"{where} {name}: a mapping expected, got {shown(entry)}")
    seeds = entry.get("seeds")
    if not isinstance(seeds, list) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise GniError(f"{where} {name}: seeds={shown(seeds)}; allowed: a list of seeds >= 0")
    after = entry.get("after", [])
    if not isinstance(after, list):
        raise GniError(f"{where} {name}: after={shown(after)}; allowed: a list of choices")
    fresh = entry.get("fresh")
    if report and not isinstance(fresh, bool):
        raise GniError(f"{where} {name}: fresh={shown(fresh)}; allowed: true or false")
    return Use(
        name,
        str(entry.get("chapter")),
        tuple(seeds),
        tuple(after),
        fresh,
        str(entry.get("chooses", "")),
    )


def load_registry(path: Path | None = None) -> Registry:
    """Read and check ``book/seeds.yaml`` (or ``path``)."""
    path = registry_path() if path is None else path
    data = load_yaml(read_text(path, str(path)), str(path))
    if not isinstance(data, dict) or set(data) != {"choices", "reports"}:
        raise GniError(f"{path}: a mapping of choices and reports expected")
    registry = Registry(
        {k: _use(k, v, f"{path} choice", False) for k, v in data["choices"].items()},
        {k: _use(k, v, f"{path} report", True) for k, v in data["reports"].items()},
    )
    for use in [*registry.choices.values(), *registry.reports.values()]:
        registry.choices_behind(use.after)  # every name it builds on exists
    return registry


def overlap(
    report: str, seeds: Iterable[int] | None = None, registry: Registry | None = None
) -> dict[str, tuple[int, ...]]:
    """The seeds of ``report`` (or ``seeds``, those a chapter runs with) that a choice it
    depends on was made on: choice name -> the shared seeds (only choices that share)."""
    registry = registry or load_registry()
    if report not in registry.reports:
        raise GniError(
            f"{registry_path().name}: no report {shown(report)}; "
            f"reports: {', '.join(registry.reports)}"
        )
    use = registry.reports[report]
    mine = set(use.seeds if seeds is None else seeds)
    shared = {}
    for choice in registry.choices_behind(use.after):
        common = tuple(sorted(mine & set(choice.seeds)))
        if common:
            shared[choice.name] = common
    return shared


def overlap_sentence(
    report: str, seeds: Iterable[int] | None = None, registry: Registry | None = None
) -> str:
    """What a page says of its report's seeds: that they are fresh, or which choices of
    the book were made on which of them."""
    registry = registry or load_registry()
    shared = overlap(report, seeds, registry)
    if not shared:
        return "none of these seeds was used to choose anything that is reported here"
    parts = [
        f"seeds {', '.join(map(str, s))} also chose {registry.choices[c].chooses} "
        f"({registry.choices[c].chapter})"
        for c, s in shared.items()
    ]
    return (
        "these seeds are not fresh for the book: "
        + "; ".join(parts)
        + ", so the results here are not independent of those choices"
    )


def check_registry(registry: Registry | None = None) -> None:
    """Raise GniError for a report that calls its seeds fresh while a choice it depends
    on used some of them (and for one that calls them not fresh when none was used)."""
    registry = registry or load_registry()
    for name, use in registry.reports.items():
        shared = overlap(name, registry=registry)
        if use.fresh and shared:
            raise GniError(
                f"report {name} ({use.chapter}) calls its seeds fresh, but "
                f"{shown(shared)} chose on them"
            )
        if not use.fresh and not shared:
            raise GniError(
                f"report {name} ({use.chapter}) calls its seeds not fresh, but no "
                "choice it depends on used them"
            )
