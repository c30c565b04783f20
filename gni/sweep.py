"""Sweeps: the runs of a grid (:mod:`gni.grids`), trained where the results store lacks
them, on an executor (:mod:`gni.executors`), and probed.

:func:`run` trains the runs the store lacks, loads the rest, and returns one row per run:
the axis labels, the config and the summary. A run that raises is reported with status
``failed`` and its error, and does not stop the others; it is not recorded, so the next
sweep tries it again. A diverged run is a record. With ``raise_on_failure`` (a chapter's
choice) failures raise one GniError once every other run has finished.

Both executors run through one loop (``_train_all``) on a
``concurrent.futures.Executor``; each worker trains with ``threads_per_worker`` torch
threads. Ctrl-C stops a sweep at once: its queued runs are cancelled and its workers
stopped; a run cut short leaves no record, and the next sweep resumes it from its last
checkpoint. A record that cannot be read counts as missing: it is retrained, and the
unreadable copy is moved aside (see :mod:`gni.results`).
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from gni import GniError
from gni.atomic import atomic_file
from gni.config import RunConfig
from gni.data import prepare
from gni.executors import EXECUTORS
from gni.executors import executor as executor_of
from gni.grids import MAX_RUNS, SweepPoint, expand, load_grid
from gni.results import RecordError, ResultsStore, config_columns, load_runs, read_extra
from gni.untrusted import shown

__all__ = [
    "MAX_LISTED",
    "MAX_THREADS",
    "MAX_WORKERS",
    "prepare_data",
    "run",
    "train_one",
]

# A probe measures a finished run: probe(config, record_folder) -> dict, saved as
# <record>/probe_<name>.json. Probes must be importable top-level functions (Dask
# sends them to workers by reference).
Probe = Callable[[RunConfig, Path], dict[str, Any]]


def train_one(
    config: dict[str, Any],
    results_root: str,
    threads: int | None,
    probes: Sequence[Probe] = (),
) -> dict[str, Any]:
    """Train (or reuse) one run and apply the probes; never raises.

    Returns {run_id, status, error, task_seconds, train_seconds}. Runs on workers.
    """
    started = time.perf_counter()
    run_config = RunConfig.from_dict(config)
    outcome: dict[str, Any] = {"run_id": run_config.run_id, "error": None, "reused": False}
    try:
        import torch

        from gni.train import train

        if threads:
            torch.set_num_threads(threads)
        result = train(run_config, store=ResultsStore(results_root), progress=False)
        outcome["status"] = result.status
        outcome["reused"] = result.reused  # True too when it lost a race to write the record
        outcome["train_seconds"] = result.summary.get("wall_seconds")
    except Exception as e:  # one failing run must not stop the sweep
        outcome["status"] = "failed"
        outcome["error"] = f"{type(e).__name__}: {e}"
        outcome["traceback"] = traceback.format_exc()
    else:
        outcome["probe_error"] = _apply_probes(probes, run_config, result.path)
    outcome["task_seconds"] = time.perf_counter() - started
    return outcome


def _probe_target(probe: Probe, record: Path) -> Path:
    return record / f"probe_{probe.__name__}.json"


def _probed(probe: Probe, record: Path) -> bool:
    """Whether the record holds a readable file of ``probe`` (an unreadable one is moved
    aside by :func:`gni.results.read_extra`, and the run probed again)."""
    target = _probe_target(probe, record)
    if not target.is_file():
        return False
    try:
        read_extra(target)
    except RecordError:
        return False
    return True


def _apply_probes(probes: Sequence[Probe], config: RunConfig, record: Path) -> str | None:
    """Apply each probe the record lacks; the errors of those that raised, else None.

    A probe that raises leaves no file: a later sweep tries it again.
    """
    errors = []
    for probe in probes:
        target = _probe_target(probe, record)
        if _probed(probe, record):
            continue
        try:
            values = probe(config, record)
        except Exception as e:  # a failing probe must not lose the run or stop the sweep
            errors.append(f"{probe.__name__}: {type(e).__name__}: {e}")
            continue
        with atomic_file(target) as tmp:
            tmp.write_text(json.dumps(values, indent=1) + "\n")
    return "; ".join(errors) or None


def _train_all(
    executor: concurrent.futures.Executor,
    configs: list[dict[str, Any]],
    root: str,
    threads: int | None,
    probes: Sequence[Probe],
    bar: tqdm,
) -> list[dict[str, Any]]:
    """Train ``configs`` on ``executor``: one outcome per run, collected as they complete.

    A run whose task raises (its worker died, say) is reported ``failed`` with the error
    and not recorded; the others go on. On an interrupt the runs not yet started are
    cancelled and the interrupt re-raised; stopping the running ones is up to whoever
    made the executor (:func:`gni.executors.executor`).
    """
    run_ids: dict[concurrent.futures.Future, str] = {}
    try:
        for config in configs:
            future = executor.submit(train_one, config, root, threads, probes)
            future.add_done_callback(lambda _: bar.update(1))
            run_ids[future] = RunConfig.from_dict(config).run_id
        return [_outcome(f, run_ids[f]) for f in concurrent.futures.as_completed(run_ids)]
    except BaseException:
        for future in run_ids:
            future.cancel()
        raise


def _outcome(future: concurrent.futures.Future, run_id: str) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as e:  # train_one never raises: the task itself failed
        error = f"{type(e).__name__}: {e}"
        return {"run_id": run_id, "status": "failed", "error": error, "reused": False}


#: Processes or Dask workers a sweep starts (each holds a model)
MAX_WORKERS = 1024
#: Torch threads a worker runs
MAX_THREADS = 1024


def _check_run_args(
    executor: str, workers: int, scheduler: str | None, threads_per_worker: int | None
) -> None:
    if executor not in EXECUTORS:
        raise GniError(f"executor={executor!r}; allowed: {', '.join(EXECUTORS)}")
    if not 1 <= workers <= MAX_WORKERS:
        raise GniError(f"workers={workers} is out of range; allowed: 1 to {MAX_WORKERS}")
    if threads_per_worker is not None and not 0 <= threads_per_worker <= MAX_THREADS:
        raise GniError(
            f"threads_per_worker={threads_per_worker} must be >= 1 (0 or None: torch's "
            f"default) and at most {MAX_THREADS}"
        )
    if scheduler is not None and executor != "dask":
        raise GniError("a scheduler address needs executor='dask'")


def run(
    grid: dict[str, Any] | str | Path,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    threads_per_worker: int | None = 1,
    profile: str | None = None,
    probes: Sequence[Probe] = (),
    store: ResultsStore | None = None,
    progress: bool | None = None,
    max_runs: int = MAX_RUNS,
    raise_on_failure: bool = False,
) -> pd.DataFrame:
    """Train what the store lacks, load the rest; one row per run of the grid.

    Columns: the grid's axis labels, then the config and summary fields of
    :func:`gni.results.load_runs`, ``error`` (None unless the run failed),
    ``trained`` (True for the runs this call trained; False for those it loaded) and
    ``probe_error`` (None unless a probe raised; the run itself is kept). Recorded runs
    that lack a probe's file are probed on the executor, alongside the training.
    A grid of more than ``max_runs`` runs is refused. With ``raise_on_failure`` (a
    chapter's choice), a run that failed to train or a probe that raised is a GniError
    naming them, once every other run has finished; a diverged run is not a failure.
    """
    _check_run_args(executor, workers, scheduler, threads_per_worker)
    points = expand(load_grid(grid) if isinstance(grid, str | Path) else grid, profile, max_runs)
    store = store or ResultsStore()
    missing = [p.config.to_dict() for p in points if not store.has(p.config.run_id)]
    # probes added after the runs were made: the recorded runs are probed on the pool too
    unprobed = [
        p.config.to_dict()
        for p in points
        if store.has(p.config.run_id)
        and any(not _probed(q, store.path(p.config.run_id)) for q in probes)
    ]
    if missing or unprobed:
        store.check_writable()  # before any training, not after
    tasks = missing + unprobed
    prepare_data(tasks)
    show = progress if progress is not None else bool(tasks) and sys.stderr.isatty()
    outcomes: list[dict[str, Any]] = []
    with tqdm(total=len(tasks), disable=not show, desc="runs", unit="run") as bar:
        if tasks:
            with executor_of(executor, workers, scheduler) as pool:
                root = str(store.root)
                outcomes = _train_all(pool, tasks, root, threads_per_worker, probes, bar)
    errors = {o["run_id"]: o["error"] for o in outcomes if o["status"] == "failed"}
    trained = {o["run_id"] for o in outcomes if o["status"] != "failed" and not o["reused"]}
    probe_errors = {o["run_id"]: o["probe_error"] for o in outcomes if o.get("probe_error")}
    if raise_on_failure and (errors or probe_errors):
        raise GniError(_failures_text(errors, probe_errors))
    return _table(points, store, errors, trained, probe_errors)


#: Failures a GniError names one by one
MAX_LISTED = 10


def _failures_text(errors: dict[str, str], probe_errors: dict[str, str]) -> str:
    """One message naming the failed runs and probes (at most :data:`MAX_LISTED` each)."""
    parts = []
    for (noun, verb), failed in (
        (("run", "failed to train"), errors),
        (("probe", "raised"), probe_errors),
    ):
        if failed:
            what = f"{noun}{'s' * (len(failed) != 1)} {verb}"
            listed = [
                f"{run_id}: {shown(error)}" for run_id, error in list(failed.items())[:MAX_LISTED]
            ]
            more = f"; and {len(failed) - MAX_LISTED} more" if len(failed) > MAX_LISTED else ""
            parts.append(f"{len(failed)} {what} ({'; '.join(listed)}{more})")
    return "; ".join(parts) + "; run again to retry them (the records made are kept)"


def prepare_data(configs: Sequence[dict[str, Any]]) -> None:
    """Prepare, here and once, each dataset the runs ``configs`` read.

    Data that is not at hand is then one GniError that names the fix, raised before any
    run starts, instead of the same error once per run (a retry cannot help there).
    """
    for name, n_bytes in sorted({(c["dataset"], c["data_bytes"]) for c in configs}, key=str):
        prepare(name, n_bytes)


def _table(
    points: list[SweepPoint],
    store: ResultsStore,
    errors: dict[str, str],
    trained: set[str],
    probe_errors: dict[str, str],
) -> pd.DataFrame:
    ids = [p.config.run_id for p in points]
    records = load_runs([i for i in ids if store.has(i)], store=store)
    by_id = {row["run_id"]: row for row in records.to_dict("records")}
    rows = []
    for point, run_id in zip(points, ids, strict=True):
        if run_id in by_id:
            row = {**point.labels, **by_id[run_id], "error": None}
        else:
            row = {**point.labels, "run_id": run_id, **config_columns(point.config)}
            row |= {"status": "failed", "error": errors.get(run_id, "not run")}
        rows.append(row | {"trained": run_id in trained, "probe_error": probe_errors.get(run_id)})
    return pd.DataFrame(rows)
