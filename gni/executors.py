"""Where a sweep's runs train: this process, spawned worker processes, or Dask.

``local`` runs in this process with one worker, else in a pool of spawned processes that
ignore Ctrl-C (the parent stops them) and die with their parent (``PR_SET_PDEATHSIG`` on
Linux, polling elsewhere). ``dask`` uses a ``distributed.LocalCluster`` of ``workers``
processes on 127.0.0.1, or the cluster at ``scheduler`` (e.g. one started by
dask-jobqueue; its workers must see the same results store and data folders), checked
to be reachable first. Each is a ``concurrent.futures.Executor`` (:func:`executor`), and
on an interrupt each cancels what is queued and stops what runs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tqdm import tqdm

from gni import GniError
from gni.config import RunConfig

__all__ = [
    "EXECUTORS",
    "SCHEDULER_TIMEOUT_S",
    "check_scheduler",
    "executor",
    "local_cluster",
]

#: Where a sweep trains its runs; a local process pool, or Dask workers.
EXECUTORS = ("local", "dask")
#: An unreachable --scheduler fails after this long
SCHEDULER_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _start_worker(parent: int) -> None:
    """First thing in each local worker process: leave Ctrl-C to the parent, die with it.

    A terminal's Ctrl-C reaches the whole process group; the parent cancels the queue and
    terminates its workers, so they ignore SIGINT. A worker whose parent dies (SIGTERM,
    SIGKILL) is killed at once on Linux (``PR_SET_PDEATHSIG``, sent when the thread that
    started it exits: :func:`gni.sweep.run` holds that thread until the pool is shut down), and
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


def executor(
    kind: str, workers: int, scheduler: str | None
) -> contextlib.AbstractContextManager[concurrent.futures.Executor]:
    """The executor of ``kind`` (one of :data:`EXECUTORS`), as a context manager."""
    return _dask_executor(workers, scheduler) if kind == "dask" else _local_executor(workers)
