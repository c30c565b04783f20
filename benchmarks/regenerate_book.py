"""Regenerate the whole book from an empty results store, and time it chapter by chapter.

Executes every chapter of ``_toc.yml``, in the order of their numbers, with the ``cpu``
profile, training on a Dask LocalCluster of two one-thread workers (the chapters'
``executor`` and ``workers`` parameters), then builds the HTML book, exactly as ``gni
book`` does; only the timing and the log are added. The first start refuses a results
store that already holds a ``cpu`` run: the point is to measure the book from nothing.

The log (JSON, rewritten atomically every ``HEARTBEAT_S`` seconds and after each
chapter) makes the measurement survive an interruption, even a hard kill: a rerun skips
the chapters it marks done, executes the interrupted one again (its finished runs are
in the store and are not trained again), and adds its time to the time already logged.
The time lost to an interruption (the runs cut short) is therefore counted, not hidden.

    GNI_DATA_MIRROR=... .venv/bin/python benchmarks/regenerate_book.py [--workers 2] [--log PATH]

The committed log is the book's own measurement; a new measurement needs a new ``--log``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from gni import paths
from gni.atomic import atomic_file
from gni.book import build_book, chapters, execute_chapter, execution_order
from gni.config import data_sizes
from gni.data import record_manifests
from gni.results import ResultsStore

HEARTBEAT_S = 30.0
PROFILE = "cpu"


def run_records(store: ResultsStore) -> int:
    """How many run records of the profile the store holds."""
    if not store.root.is_dir():
        return 0
    return sum(1 for p in store.root.glob(f"*-{PROFILE}-*") if (p / "summary.json").is_file())


def read_log(path: Path) -> dict[str, Any]:
    """A log written by this script; SystemExit with one line naming it otherwise."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("chapters"), dict):
            raise ValueError("not a log of this script (no chapters)")
        for name, entry in data["chapters"].items():
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("seconds"), int | float)
                and isinstance(entry.get("done"), bool)
                and all(type(entry.get(k)) is int for k in ("attempts", "runs_trained"))
            ):
                raise ValueError(f"chapter {name!r}: expected seconds, done, attempts and runs")
    except (OSError, ValueError) as e:
        raise SystemExit(f"regenerate_book.py: error: --log {path} cannot be read: {e}") from None
    return data


class Log:
    """The JSON log: per chapter, seconds spent (over every attempt) and whether it is done."""

    def __init__(self, path: Path, fresh: dict[str, Any]) -> None:
        self.path = path
        self.data = read_log(path) if path.is_file() else fresh
        self.lock = threading.Lock()

    def write(self) -> None:
        with self.lock, atomic_file(self.path) as tmp:
            self.data["total_seconds"] = sum(
                c["seconds"] for c in self.data["chapters"].values()
            ) + self.data.get("build_seconds", 0.0)
            tmp.write_text(json.dumps(self.data, indent=1) + "\n")

    def chapter(self, name: str) -> dict[str, Any]:
        return self.data["chapters"].setdefault(
            name, {"seconds": 0.0, "done": False, "attempts": 0, "runs_trained": 0}
        )


def timed(log: Log, entry: dict[str, Any], key: str, work: Any) -> Any:
    """Run ``work()``, adding its wall time to ``entry[key]`` every HEARTBEAT_S seconds
    and at the end (also when it raises), so that a kill loses at most one heartbeat."""
    before, start = entry.get(key, 0.0), time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            entry[key] = before + time.monotonic() - start
            log.write()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        return work()
    finally:
        stop.set()
        thread.join()
        entry[key] = before + time.monotonic() - start
        log.write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Dask workers, one thread each")
    parser.add_argument("--log", default="benchmarks/regenerate_book.json", help="the JSON log")
    args = parser.parse_args()
    if not 1 <= args.workers <= 1024:  # checked here, not after a chapter has run
        parser.error(f"--workers {args.workers}: allowed 1 to 1024")
    root = paths.home().resolve()
    store = ResultsStore()
    log_path = root / args.log
    if not log_path.is_file() and run_records(store):
        raise SystemExit(
            f"{store.root} already holds {run_records(store)} {PROFILE} run records: "
            "regeneration starts from an empty results store (or resume with the log)"
        )
    if log_path.is_file() and read_log(log_path).get("built"):
        raise SystemExit(
            f"{log_path} records a finished regeneration: to measure one of your own, "
            "empty the results store and pass --log with a new file"
        )
    log = Log(
        log_path,
        {
            "profile": PROFILE,
            "workers": args.workers,
            "threads_per_worker": 1,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "chapters": {},
        },
    )
    # the data manifests the setup chapter reads (so that the book builds without the
    # data) are part of the store: an emptied store gets them back before anything runs
    record_manifests(data_sizes(PROFILE))
    parameters = {"profile": PROFILE, "executor": "dask", "workers": args.workers}
    for name in execution_order(chapters(root)):
        entry = log.chapter(name)
        if entry["done"]:
            continue
        entry["attempts"] += 1
        print(f"executing {name} ...", flush=True)
        timed(log, entry, "seconds", lambda n=name: execute_chapter(root, n, parameters))
        # the store started empty and chapters run one after another: this chapter's runs
        # are the records beyond those of the chapters before it, over all its attempts
        earlier = sum(c["runs_trained"] for n, c in log.data["chapters"].items() if n != name)
        entry["runs_trained"] = run_records(store) - earlier
        entry["done"] = True
        log.write()
        print(
            f"  {name}: {entry['seconds'] / 60:.1f} min, {entry['runs_trained']} runs", flush=True
        )
    if not log.data.get("built"):
        timed(log, log.data, "build_seconds", lambda: build_book(root, execute=False))
        log.data["built"] = True
        log.data["runs"] = run_records(store)
        log.write()
    print(
        f"the book from nothing: {log.data['total_seconds'] / 3600:.2f} h, {log.data['runs']} runs"
    )


if __name__ == "__main__":
    main()
