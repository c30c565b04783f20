"""Tables of the book: one HTML look for every table, readable in the book and in Jupyter.

Numbers are right-aligned in tabular figures with thousands separators and never wrap;
a column of decimals shows them all with the same number of decimals; text wraps only
between words; a table wider than the text column may take the page's full width
(``full-width``, on wide pages), and one wider still scrolls inside its own box, which
shows that it does (``gni.css``). The table's id is fixed, so re-executing a chapter
gives the same HTML.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import pandas as pd
from IPython.display import HTML

# a formatted number, an interval or a "mean ± half-width": right-aligned
# \u2212: the minus sign; \u00d7 and \u00f7 (times, divided by): ratios such as x0.47
_SYMBOLS = r"\s\d,.+\-\u2212±\[\]()e%\u00d7\u00f7/"
_NUMERIC = re.compile(rf"^[{_SYMBOLS}]*\d[{_SYMBOLS}]*$")
_CELL = "padding: 0.2em 0.55em; vertical-align: top;"


def format_value(value: Any) -> str:
    """Integers with thousands separators, other numbers with 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return f"{int(value):,}"
    return f"{float(value):,.4g}" if abs(float(value)) >= 1000 else f"{float(value):.4g}"


def column_decimals(values: Sequence[Any]) -> int | None:
    """The decimals that show a column of non-integer numbers alike: enough for 4
    significant digits of its largest magnitude (at least 0, at most 4). None when the
    column holds anything else (integers, text), whose values are formatted one by one."""
    reals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not reals or not all(
        isinstance(v, Real) and not isinstance(v, Integral | bool) for v in reals
    ):
        return None
    largest = max(abs(float(v)) for v in reals)
    if largest == 0 or not math.isfinite(largest):
        return None
    return min(4, max(0, 3 - math.floor(math.log10(largest))))


def _align(text: str) -> str:
    if _NUMERIC.match(text) or text in ("", "n/a", "none"):
        return "text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;"
    return "text-align: left;"


def html_table(frame: pd.DataFrame, table_id: str, raw_html: tuple[str, ...] = ()) -> HTML:
    """``frame`` as the book's HTML table. Cells are escaped except in ``raw_html`` columns;
    an unnamed RangeIndex (row numbers, no information) is not shown."""
    shown = frame.copy()
    for column in shown.columns:
        decimals = column_decimals(list(shown[column]))
        if column in raw_html:
            shown[column] = shown[column].astype(str)
        elif decimals is not None:
            shown[column] = [
                "" if v is None or v != v else f"{float(v):,.{decimals}f}" for v in shown[column]
            ]
        else:
            shown[column] = [html.escape(format_value(v)) for v in shown[column]]
    styler = (
        shown.style.set_uuid(table_id)
        .map(lambda text: _align(html.unescape(text)) if isinstance(text, str) else "")
        .set_table_styles(
            [
                {"selector": "", "props": "font-size: 0.85em; border-collapse: collapse;"},
                {"selector": "td, th", "props": _CELL},
                {"selector": "th", "props": "text-align: left;"},
            ]
        )
    )
    if isinstance(frame.index, pd.RangeIndex) and frame.index.name is None:
        styler = styler.hide(axis="index")
    return HTML(
        '<div class="gni-table full-width" style="overflow-x: auto; margin-bottom: 1em;">'
        f"{styler.to_html()}</div>"
    )


def digest_html(digest: str, shown: int = 12) -> str:
    """A digest shortened to its first ``shown`` characters, the full value on hover."""
    return (
        f'<code title="{html.escape(digest)}" style="white-space: nowrap">'
        f"{html.escape(digest[:shown])}…</code>"
    )


def link_html(url: str) -> str:
    """A link to ``url`` that shows only its last part (the file name); the whole on hover."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return f'<a href="{html.escape(url)}" title="{html.escape(url)}">{html.escape(name)}</a>'
