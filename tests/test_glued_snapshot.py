"""Every value the published chapters glue, against a committed snapshot.

The offline build (``.ci/offline_book``) proves that re-executing the chapters gives the
committed executed notebooks byte for byte; this test proves that those glue the values
the snapshot holds, so a refactor of a chapter cannot change a number of the book
unnoticed. When a change is meant to move the book's numbers, refresh the snapshot and
commit it with the change, where its diff shows every value that moved:

    .venv/bin/python tests/test_glued_snapshot.py --write
"""

import json
import sys
from pathlib import Path

from gni.book import glued_snapshot

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "book" / "executed"
SNAPSHOT = Path(__file__).with_name("glued_snapshot.json")


def book_snapshot() -> dict[str, dict[str, str]]:
    return {nb.stem: glued_snapshot(nb) for nb in sorted(EXECUTED.glob("*.ipynb"))}


def test_every_glued_value_of_the_published_book_is_the_snapshots():
    expected = json.loads(SNAPSHOT.read_text())
    found = book_snapshot()
    assert sorted(found) == sorted(expected)
    moved = [
        f"{chapter}: {name}: {expected[chapter].get(name)!r} -> {found[chapter].get(name)!r}"
        for chapter in expected
        for name in sorted(set(expected[chapter]) | set(found[chapter]))
        if expected[chapter].get(name) != found[chapter].get(name)
    ]
    assert not moved, "\n".join(moved[:40])


def test_the_snapshot_holds_numbers_tables_and_figures():
    snapshot = json.loads(SNAPSHOT.read_text())
    values = [v for chapter in snapshot.values() for v in chapter.values()]
    assert len(values) > 300
    assert sum(v == "figure" for v in values) > 20
    assert sum(v.startswith("sha256:") for v in values) > 30


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    SNAPSHOT.write_text(json.dumps(book_snapshot(), indent=1, ensure_ascii=False) + "\n")
