"""Input a user hands gni (grid files, chapter parameters): read within bounds, shown short.

A YAML file of a few hundred bytes can describe a structure of billions of nodes (each
alias repeats what its anchor names) or nest deeper than Python's recursion limit.
:func:`load_yaml` refuses such a document before anything walks it: it reads the
document's events (no recursion) to bound its size, depth and aliases, then counts the
nodes that its aliases expand to, then builds it with PyYAML's safe loader, which runs
no code. Error messages quote a value through :func:`shown`, which bounds what it
prints however large the value is.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml

from gni import GniError

__all__ = [
    "MAX_ALIASES",
    "MAX_CHARACTERS",
    "MAX_DEPTH",
    "MAX_NODES",
    "load_yaml",
    "read_text",
    "shown",
]

#: A grid or a parameters file is a few kB
MAX_CHARACTERS = 1_000_000
#: Nested mappings and lists
MAX_DEPTH = 64
#: *name references to &name anchors
MAX_ALIASES = 1_000
#: Scalars, lists and mappings, each alias counted as what it repeats
MAX_NODES = 100_000

_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 6
_SHORT.maxlong = 40


def shown(value: Any, limit: int = 160) -> str:
    """``repr(value)`` cut short: at most 3 levels deep, 6 items a level, 60 characters a
    string, and ``limit`` characters in all, so that an error message stays a line
    whatever the value (reprlib never walks what it does not show)."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_text(path: Path, where: str) -> str:
    """The UTF-8 text of ``path``, reading no more than :data:`MAX_CHARACTERS` + 1
    characters (a file of gigabytes is refused, not loaded); one GniError naming
    ``where`` if it cannot be read or is not UTF-8."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_CHARACTERS + 1)
    except UnicodeDecodeError as e:
        raise GniError(f"{where} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise GniError(f"{where}: {e.strerror or e}") from None
    if len(text) > MAX_CHARACTERS:
        raise GniError(f"{where} has more than {MAX_CHARACTERS:,} characters")
    return text


def load_yaml(text: str, where: str) -> Any:
    """The YAML document ``text`` as Python values, or one GniError naming ``where`` and
    the bound it breaks (:data:`MAX_CHARACTERS`, :data:`MAX_DEPTH`, :data:`MAX_ALIASES`,
    :data:`MAX_NODES`), its first syntax error, or a key a mapping repeats."""
    if len(text) > MAX_CHARACTERS:
        raise GniError(f"{where} has {len(text):,} characters; at most {MAX_CHARACTERS:,}")
    try:
        _check_events(text, where)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_nodes(node, where)
        return yaml.SafeLoader(text).get_single_data()
    except yaml.YAMLError as e:
        reason = " ".join(str(e).split())  # one line
        raise GniError(f"{where} is not valid YAML: {reason}") from None


def _check_events(text: str, where: str) -> None:
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise GniError(f"{where} nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise GniError(f"{where} has more than {MAX_ALIASES:,} aliases (*name)")


def _check_nodes(root: yaml.Node, where: str) -> None:
    """Count the nodes the document stands for, each alias as the nodes it repeats
    (memoised by node: linear in the document's own size), and refuse repeated keys."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            repeated: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    (repeated if key.value in seen else seen).add(key.value)
            if repeated:
                raise GniError(
                    f"{where} repeats the key(s) {shown(sorted(repeated))} in one mapping"
                )
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[id(node)] = min(total, MAX_NODES + 1)
        if total > MAX_NODES:
            raise GniError(
                f"{where} stands for more than {MAX_NODES:,} values (its aliases repeat "
                "what their anchors name); write the values out, or fewer of them"
            )
        return sizes[id(node)]

    size(root)
