"""Sweeps: grids of runs, trained where the results store lacks them, locally or on Dask.

A grid is a YAML file (or the same dict in Python)::

    base:                      # every run: a dataset, a profile, RunConfig overrides
      dataset: shakespeare_char
      profile: cpu
      overrides: {max_iters: 600}
    axes:                      # the cartesian product of the axes
      method:                  # an axis of named variants: dicts of overrides
        - {label: baseline}
        - {label: gni, noise_schedule: exponential, noise_args: {sigma0: 0.01, gamma: 0.999}}
      dropout: [0.0, 0.1]      # an axis of values for one RunConfig field
    seeds: [0, 1, 2]           # or `n_seeds: 3` for seeds 0, 1, 2

An axis named ``dataset`` or ``profile`` chooses those (each dataset keeps its own
profile settings). :func:`run` trains the runs the store lacks, loads the rest, and
returns one row per run: the axis labels, the config and the summary. A run that
raises is reported with status ``failed`` and its error, and does not stop the others;
it is not recorded, so the next sweep tries it again. A diverged run is a record.

Executors: ``local`` (in this process with ``workers=1``, else worker processes) and
``dask`` (a ``distributed.LocalCluster`` of ``workers`` processes, or the cluster at
``scheduler``, e.g. one started by dask-jobqueue; its workers must see the same results
store and data folders). Each worker trains with ``threads_per_worker`` torch threads.
Both run through one loop (:func:`_train_all`) on a ``concurrent.futures.Executor``.

Ctrl-C stops a sweep at once: its queued runs are cancelled and its local worker processes
(or the Dask cluster it started) stopped; a run cut short leaves no record, and the next
sweep resumes it from its last checkpoint. (On a cluster given by ``scheduler`` a run
already started finishes.) Local worker processes also die with a sweep that is killed.

A grid of more than :data:`MAX_RUNS` runs is refused unless ``max_runs`` (``gni sweep
--max-runs``) allows it; one of :data:`REPORT_RUNS` or more says its size before it is
expanded. A record that cannot be read counts as missing: it is retrained, and the
unreadable copy is moved aside (see :mod:`gni.results`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import itertools
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from gni import GniError
from gni.atomic import atomic_file
from gni.config import FIELDS, RunConfig, make_config
from gni.data import prepare
from gni.results import RecordError, ResultsStore, config_columns, load_runs, read_extra
from gni.untrusted import load_yaml, read_text, shown

EXECUTORS = ("local", "dask")
GRID_KEYS = ("base", "axes", "seeds", "n_seeds")
BASE_KEYS = ("dataset", "profile", "overrides")
MAX_RUNS = 10_000  # a larger grid is refused unless max_runs (--max-runs) allows it
REPORT_RUNS = 1_000  # a grid this large says how many runs it has before expanding them
SCHEDULER_TIMEOUT_S = 5.0  # an unreachable --scheduler fails after this long
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# A probe measures a finished run: probe(config, record_folder) -> dict, saved as
# <record>/probe_<name>.json. Probes must be importable top-level functions (Dask
# sends them to workers by reference).
Probe = Callable[[RunConfig, Path], dict[str, Any]]


@dataclass(frozen=True)
class SweepPoint:
    config: RunConfig
    labels: dict[str, Any] = field(default_factory=dict)  # axis name -> label or value


def load_grid(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GniError(f"grid file {path} does not exist")
    grid = load_yaml(read_text(path, f"grid file {path}"), f"grid file {path}")
    if not isinstance(grid, dict):
        raise GniError(f"grid file {path} must hold a mapping with keys {', '.join(GRID_KEYS)}")
    return grid


def _seeds(grid: dict[str, Any]) -> Sequence[int]:
    if "seeds" in grid and "n_seeds" in grid:
        raise GniError("the grid gives both seeds and n_seeds; give one")
    if "n_seeds" in grid:
        n = grid["n_seeds"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
            raise GniError(f"n_seeds={shown(n)} must be an integer from 1 to {MAX_SEEDS:,}")
        return range(n)  # not a list: its length is known before a huge grid is refused
    seeds = grid.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise GniError(f"seeds={shown(seeds)} must be a non-empty list of integers >= 0")
    return seeds


def _axis_variants(name: str, values: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(label, overrides) for each value of an axis."""
    if not isinstance(values, list) or not values:
        raise GniError(f"axis {name!r} must be a non-empty list, not {shown(values)}")
    variants = []
    for value in values:
        if isinstance(value, dict):
            if name in FIELDS:
                raise GniError(
                    f"axis {name!r} of named variants shares its name with a config field; "
                    "rename the axis (e.g. 'method')"
                )
            overrides = dict(value)
            label = overrides.pop("label", None)
            if label is None:
                raise GniError(f"axis {name!r}: the variant {shown(value)} needs a label")
            variants.append((label, overrides))
        else:
            variants.append((value, {name: value}))
    return variants


def _base(grid: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The grid's checked ``base`` mapping and its ``overrides`` mapping."""
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise GniError(f"unknown grid key(s) {unknown}; allowed: {', '.join(GRID_KEYS)}")
    base = grid.get("base") or {}
    if not isinstance(base, dict):
        raise GniError(
            f"base must be a mapping with keys {', '.join(BASE_KEYS)}, not {shown(base)}"
        )
    unknown = sorted(set(base) - set(BASE_KEYS), key=str)
    if unknown:
        raise GniError(f"unknown base key(s) {unknown}; allowed: {', '.join(BASE_KEYS)}")
    overrides = base.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise GniError(
            f"base.overrides must be a mapping of config field to value, not {shown(overrides)}"
        )
    return base, overrides


def count_runs(grid: dict[str, Any]) -> int:
    """How many runs the grid has (checked as far as counting needs, nothing built)."""
    _base(grid)
    axes = grid.get("axes") or {}
    if not isinstance(axes, dict):
        raise GniError(f"axes must be a mapping of axis name to values, not {shown(axes)}")
    return math.prod(len(_axis_variants(n, v)) for n, v in axes.items()) * len(_seeds(grid))


def _point(
    base: dict[str, Any], overrides: dict[str, Any], profile: str | None, seed: int
) -> RunConfig:
    """One run's config; a value of the wrong kind is a GniError naming the run."""
    overrides = dict(overrides)
    dataset = overrides.pop("dataset", base.get("dataset"))
    chosen_profile = overrides.pop("profile", base.get("profile", "cpu"))
    if profile is not None:
        chosen_profile = profile
    if dataset is None:
        raise GniError("the grid names no dataset: set base.dataset or a dataset axis")
    try:
        return make_config(dataset, chosen_profile, seed, overrides)
    except GniError:
        raise
    except (TypeError, ValueError, ArithmeticError) as e:
        where = f"dataset={dataset!r}, profile={chosen_profile!r}, seed={seed}, {overrides}"
        raise GniError(f"the grid's run ({where}) is not valid: {type(e).__name__}: {e}") from None


def expand(
    grid: dict[str, Any], profile: str | None = None, max_runs: int = MAX_RUNS
) -> list[SweepPoint]:
    """Every run of the grid, validated; ``profile`` replaces the grid's profile.

    A grid of more than ``max_runs`` runs is refused before anything is built.
    """
    n_runs = count_runs(grid)
    if n_runs > max_runs:
        raise GniError(
            f"the grid has {n_runs:,} runs, more than the limit of {max_runs:,}; "
            f"to run them all, pass --max-runs {n_runs} (max_runs={n_runs} in Python)"
        )
    if n_runs >= REPORT_RUNS:
        print(f"gni: expanding a grid of {n_runs:,} runs ...", file=sys.stderr, flush=True)
    base, base_overrides = _base(grid)
    axes = grid.get("axes") or {}
    names = list(axes)
    variants = [_axis_variants(n, axes[n]) for n in names]
    seeds = _seeds(grid)
    points = []
    for combination in itertools.product(*variants):
        overrides = dict(base_overrides)
        for _, axis_overrides in combination:
            overrides.update(axis_overrides)
        labels = {n: label for n, (label, _) in zip(names, combination, strict=True)}
        for seed in seeds:
            points.append(SweepPoint(_point(base, overrides, profile, seed), labels))
    ids = [p.config.run_id for p in points]
    if len(set(ids)) != len(ids):
        raise GniError("the grid repeats a run: two combinations give the same settings")
    return points


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
        # lost a write race: the record on disk is another process's (RecordPath.kept)
        outcome["reused"] = result.reused or not getattr(result.path, "kept", True)
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
    made the executor (:func:`_local_executor`, :func:`_dask_executor`).
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


def _start_worker(parent: int) -> None:
    """First thing in each local worker process: leave Ctrl-C to the parent, die with it.

    A terminal's Ctrl-C reaches the whole process group; the parent cancels the queue and
    terminates its workers, so they ignore SIGINT. A worker whose parent dies (SIGTERM,
    SIGKILL) is killed at once on Linux (``PR_SET_PDEATHSIG``, sent when the thread that
    started it exits: :func:`run` holds that thread until the pool is shut down), and
    elsewhere exits within half a second. Its run leaves no record (records are written
    atomically); its last checkpoint lets the next sweep resume the run.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing one, of no use here (spawned workers do not
    # share it); a terminated worker would leave it for the resource tracker to warn about.
    tqdm.set_lock(threading.RLock())
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before prctl
                    os._exit(1)
                return
        except (OSError, AttributeError):  # no prctl: poll instead
            pass
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


class _InProcessExecutor(concurrent.futures.Executor):
    """Runs each call in this process as it is submitted (the local executor, one worker)."""

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:  # KeyboardInterrupt propagates: Ctrl-C stops the sweep
            future.set_exception(e)
        return future


def _terminate(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Kill the workers and cancel the queued runs now (as Python 3.14's
    ``terminate_workers``); the pool then cleans up without waiting for any run."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _local_executor(workers: int) -> Iterator[concurrent.futures.Executor]:
    """This process (``workers=1``) or a pool of spawned worker processes.

    On an interrupt (or any error) the queued runs are cancelled and the running ones
    killed: the sweep stops now, and the next one trains what is missing.
    """
    if workers == 1:
        yield _InProcessExecutor()
        return
    pool = concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown()


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded processes on 127.0.0.1.

    Dask's nannies give their workers ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc
    map and unmap every large tensor buffer: training steps measured 31% slower. These
    workers keep glibc's adaptive default. (A Dask cluster started with the defaults
    also writes the variable into its parent's environment, so processes started later
    from that parent inherit it.)
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )


class _DaskExecutor(concurrent.futures.Executor):
    """A Dask client as an Executor, like ``Client.get_executor(pure=False, retries=2)``,
    but each run's task is keyed ``train-<run_id>`` (in the dashboard, logs and
    ``client.processing()``). ``submit(fn, config, ...)`` takes the run's config first.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._tasks: list[Any] = []  # held, so that Dask keeps them

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future:
        key = f"train-{RunConfig.from_dict(args[0]).run_id}"
        task = self._client.submit(fn, *args, key=key, pure=False, retries=2, **kwargs)
        self._tasks.append(task)
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        task.add_done_callback(functools.partial(_settle, future))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self._client.cancel(self._tasks)
        if wait:
            from distributed import wait as wait_for

            wait_for(self._tasks)


def _settle(future: concurrent.futures.Future, task: Any) -> None:
    """Give ``future`` the outcome of the Dask ``task`` (in Dask's callback thread)."""
    try:
        future.set_result(task.result())
    except Exception as e:
        future.set_exception(e)
    except BaseException as e:  # Dask's CancelledError is not an Exception
        future.set_exception(concurrent.futures.CancelledError(f"{type(e).__name__}: {e}"))


def check_scheduler(address: str, seconds: float = SCHEDULER_TIMEOUT_S) -> None:
    """GniError naming ``address`` unless a TCP connection to it opens within ``seconds``.

    Dask's client would retry for 30 s and then raise a traceback; this fails at once.
    Addresses of other kinds (``inproc://``, ``ucx://``) are left to Dask.
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location, default_port=8786)
    except (ValueError, TypeError) as e:
        raise GniError(
            f"scheduler {address!r} is not an address like tcp://host:8786: {e}"
        ) from None
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise GniError(
            f"cannot reach the Dask scheduler at {address} ({reason}, waited up to {seconds:g} s)"
        ) from None


def _client(scheduler: str | None, cluster: Any) -> Any:
    """A Dask client of ``cluster``, or of the scheduler at ``scheduler`` (checked first)."""
    from distributed import Client

    if scheduler is None:
        return Client(cluster)
    check_scheduler(scheduler)
    try:
        return Client(scheduler)
    except (OSError, TimeoutError) as e:
        raise GniError(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from None


@contextlib.contextmanager
def _dask_executor(workers: int, scheduler: str | None) -> Iterator[concurrent.futures.Executor]:
    """The cluster at ``scheduler``, or a :func:`local_cluster` of ``workers`` (closed
    after). On an interrupt the sweep's tasks are cancelled before the client closes."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise GniError("executor 'dask' needs dask.distributed: pip install 'gni[dask]'") from None
    with contextlib.ExitStack() as stack:
        cluster = None if scheduler is not None else stack.enter_context(local_cluster(workers))
        executor = _DaskExecutor(stack.enter_context(_client(scheduler, cluster)))
        try:
            yield executor
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise


def _executor(
    kind: str, workers: int, scheduler: str | None
) -> contextlib.AbstractContextManager[concurrent.futures.Executor]:
    return _dask_executor(workers, scheduler) if kind == "dask" else _local_executor(workers)


MAX_WORKERS = 1024  # processes or Dask workers a sweep starts (each holds a model)
MAX_THREADS = 1024  # torch threads a worker runs
MAX_SEEDS = 10**9  # a grid's n_seeds (its runs are limited by max_runs anyway)


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
) -> pd.DataFrame:
    """Train what the store lacks, load the rest; one row per run of the grid.

    Columns: the grid's axis labels, then the config and summary fields of
    :func:`gni.results.load_runs`, ``error`` (None unless the run failed),
    ``trained`` (True for the runs this call trained; False for those it loaded) and
    ``probe_error`` (None unless a probe raised; the run itself is kept). Recorded runs
    that lack a probe's file are probed on the executor, alongside the training.
    A grid of more than ``max_runs`` runs is refused.
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
            with _executor(executor, workers, scheduler) as pool:
                root = str(store.root)
                outcomes = _train_all(pool, tasks, root, threads_per_worker, probes, bar)
    errors = {o["run_id"]: o["error"] for o in outcomes if o["status"] == "failed"}
    trained = {o["run_id"] for o in outcomes if o["status"] != "failed" and not o["reused"]}
    probe_errors = {o["run_id"]: o["probe_error"] for o in outcomes if o.get("probe_error")}
    return _table(points, store, errors, trained, probe_errors)


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
