"""Chapter parameters: declared once, checked in one call.

A chapter declares its parameters in the cell tagged ``parameters`` with a type and a
default (``n_seeds: int = 3  # ...``); that is what ``papermill --help-notebook`` shows.
The next cell calls :func:`check_parameters` with the bounds each one must meet:

    check_parameters(globals(), {"profile": one_of(PROFILES), "n_seeds": at_least(2)})

It checks every declared parameter's type (from the annotation), then its bound, and
rejects values papermill injected for names the chapter does not declare. Each error
names the parameter, the value, and what is allowed. ``gni book`` applies the same type
check to ``-p`` values before it executes anything (:func:`type_error`).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from gni import GniError
from gni.untrusted import shown
from gni.validation import check_seeds

PAPERMILL_HEADER = "# Parameters\n"  # the first line of papermill's injected cell
# The types a parameter may be declared with, by the name papermill infers.
TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Rule:
    """A bound on a parameter: ``ok(value)`` is True when allowed; ``allowed`` says what is."""

    ok: Callable[[Any], bool]
    allowed: str


def one_of(options: Iterable[str]) -> Rule:
    options = list(options)
    return Rule(lambda v: v in options, "one of " + ", ".join(options))


def at_least(minimum: float) -> Rule:
    """A finite number ``>= minimum`` (infinity is no setting)."""
    return Rule(lambda v: math.isfinite(v) and v >= minimum, f"a finite number >= {minimum:g}")


def in_range(low: float, high: float, low_open: bool = False) -> Rule:
    """``low <= v <= high`` (``low < v`` when ``low_open``)."""
    return Rule(
        lambda v: (low < v if low_open else low <= v) and v <= high,
        f"in {'(' if low_open else '['}{low:g}, {high:g}]",
    )


def names_from(known: Iterable[str]) -> Rule:
    """A comma-separated list of one or more of ``known`` (as ``papermill -p`` passes it)."""
    known = list(known)
    return Rule(
        lambda v: bool(split_names(v)) and all(n in known for n in split_names(v)),
        "a comma-separated list of " + ", ".join(known),
    )


def seed_list(minimum_count: int = 1) -> Rule:
    """A comma-separated list of at least ``minimum_count`` distinct integers >= 0."""

    def ok(value: str) -> bool:
        try:
            seeds = split_seeds(value)
        except ValueError:
            return False
        return len(seeds) >= minimum_count

    return Rule(ok, f"a comma-separated list of at least {minimum_count} distinct integers >= 0")


def split_seeds(value: str) -> list[int]:
    """``"2, 3,4"`` -> [2, 3, 4]; ValueError for anything else (or a repeated seed)."""
    names = split_names(value)
    if not all(re.fullmatch(r"\d+", v, re.ASCII) for v in names):
        raise GniError(f"seeds {shown(value)} must be distinct integers >= 0 (ASCII digits)")
    return list(check_seeds("seeds", [int(v) for v in names]))


def split_names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def number_list(low: float, minimum_count: int = 1) -> Rule:
    """A comma-separated list of at least ``minimum_count`` distinct numbers >= ``low``."""

    def ok(value: str) -> bool:
        try:
            numbers = split_numbers(value)
        except ValueError:
            return False
        return len(numbers) >= minimum_count and all(v >= low for v in numbers)

    return Rule(
        ok, f"a comma-separated list of at least {minimum_count} distinct numbers >= {low:g}"
    )


def split_numbers(value: str) -> list[float]:
    """``"1e-3, 0.002"`` -> [0.001, 0.002]; ValueError for anything else (or a repeat, a
    number that is not finite)."""
    texts = split_names(value)
    if not all(v.isascii() for v in texts):  # float() reads other scripts' digits too
        raise GniError(f"numbers {shown(value)} must be written in ASCII")
    numbers = [float(v) for v in texts]
    if any(not math.isfinite(v) for v in numbers) or len(set(numbers)) != len(numbers):
        raise GniError(f"numbers {shown(value)} must be distinct and finite")
    return numbers


def seeds_by_name(known: Iterable[str], minimum_count: int = 1) -> Rule:
    """``"name:seeds; name:seeds"``: names from ``known``, each once, each with a seed list
    of at least ``minimum_count`` (:func:`split_seeds_by_name`)."""
    known = list(known)

    def ok(value: str) -> bool:
        try:
            pairs = split_seeds_by_name(value)
        except ValueError:
            return False
        return bool(pairs) and all(
            name in known and len(seeds) >= minimum_count for name, seeds in pairs.items()
        )

    return Rule(
        ok,
        f"'name:seeds; ...' with names from {', '.join(known)} and at least {minimum_count} "
        "distinct seeds >= 0 each",
    )


def split_seeds_by_name(value: str) -> dict[str, list[int]]:
    """``"shakespeare_char:0,1; enwik8:0"`` -> {"shakespeare_char": [0, 1], "enwik8": [0]};
    ValueError for a malformed entry or a name given twice."""
    return {name: split_seeds(seeds) for name, seeds in split_pairs(value).items()}


def names_by_name(known: Iterable[str], targets: Iterable[str]) -> Rule:
    """``"name:target; ..."``: names from ``known``, each once and none of them a target
    (a dataset is tuned or takes another's tuning, not both), targets from ``targets``;
    or empty (no pairs)."""
    known, targets = list(known), list(targets)

    def ok(value: str) -> bool:
        try:
            pairs = split_pairs(value)
        except ValueError:
            return False
        return all(k in known and k not in targets and v in targets for k, v in pairs.items())

    return Rule(
        ok,
        f"'name:target; ...' with names from {', '.join(known)} other than the targets, and "
        f"targets from {', '.join(targets)}, or empty",
    )


def split_pairs(value: str) -> dict[str, str]:
    """``"a:x; b:y"`` -> {"a": "x", "b": "y"}; ValueError for an entry without one ``:``
    or a name given twice. (Not ``=``: papermill cannot read a default holding one.)"""
    pairs: dict[str, str] = {}
    for entry in (e.strip() for e in value.split(";")):
        if not entry:
            continue
        name, sep, rest = entry.partition(":")
        name, rest = name.strip(), rest.strip()
        if not sep or not name or not rest or ":" in rest or name in pairs:
            raise GniError(
                f"{shown(entry)} in {shown(value)} is not one 'name:value' with a new name"
            )
        pairs[name] = rest
    return pairs


def coerce(value: Any, type_name: str) -> Any:
    """``value`` typed as its chapter declares it (``type_name``: papermill's inferred
    type), not by YAML's rules: text becomes a float (``"1e-3"``), an int (ASCII digits)
    or a bool where the parameter is one, and a number becomes text where the parameter
    is a str (``learning_rates=0.001``). Anything else is returned as it is, for
    :func:`type_error` to judge."""
    if isinstance(value, str):
        text = value.strip()
        if type_name == "float" and text.isascii():
            try:
                return float(text)
            except ValueError:
                return value
        if type_name == "int" and re.fullmatch(r"[+-]?\d+", text, re.ASCII):
            return int(text)
        if type_name == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    elif type_name == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def type_error(name: str, value: Any, type_name: str) -> str | None:
    """Why ``value`` does not fit a parameter declared as ``type_name``; None if it does.

    An int is accepted for a float; a bool is not an int.
    """
    expected = TYPES.get(type_name)
    if expected is None:
        return None  # an undeclared or unusual type: the chapter's own rule decides
    fits = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        fits = abs(value) <= 2**1023  # an int a float can hold (1 and 400 zeros cannot)
    if fits:
        return None
    return (
        f"parameter {name}={shown(value)} must be of type {type_name} "
        f"(declared `{name}: {type_name}`), not {type(value).__name__}"
    )


def assigned_names(source: str) -> list[str]:
    """Names a cell assigns at top level (what papermill's injected cell does)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def check_parameters(namespace: MutableMapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Check a chapter's parameters in ``namespace`` (the notebook's ``globals()``).

    Declared parameters are the annotated names of the parameters cell. Call it in the
    cell right after the parameters cell: papermill injects its values in a cell between
    the two, and IPython's input history (``_ih``) holds that cell's source. Raises
    ValueError for a name that was injected but not declared, a value of the wrong type,
    or a value outside its rule. Ints given for float parameters become floats.
    """
    declared: dict[str, Any] = dict(namespace.get("__annotations__", {}))
    history = namespace.get("_ih") or []
    previous_cell = history[-2] if len(history) >= 2 else ""
    injected = previous_cell.startswith(PAPERMILL_HEADER)  # not a cell a reader ran by hand
    unknown = sorted(set(assigned_names(previous_cell)) - set(declared)) if injected else []
    if unknown:
        raise GniError(
            f"parameter(s) {', '.join(unknown)} are not parameters of this chapter; "
            f"it takes {', '.join(declared)}"
        )
    missing = sorted(set(rules) - set(declared))
    if missing:
        raise GniError(f"rules given for undeclared parameter(s) {', '.join(missing)}")
    for name, annotation in declared.items():
        value = namespace[name]
        type_name = annotation if isinstance(annotation, str) else annotation.__name__
        message = type_error(name, value, type_name)
        if message:
            raise GniError(message)
        if type_name == "float":
            namespace[name] = value = float(value)
        rule = rules.get(name)
        if rule is not None and not rule.ok(value):
            raise GniError(
                f"parameter {name}={shown(value)} is out of range; allowed: {rule.allowed}"
            )
