"""Sweeps with the local executor and with a real Dask scheduler and workers on 127.0.0.1."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gni import GniError, paths
from gni.config import RunConfig
from gni.executors import local_cluster
from gni.grids import expand
from gni.results import ResultsStore
from gni.sweep import run, train_one
from tests.conftest import files_under, run_gni

GRID = {
    "base": {
        "dataset": "shakespeare_char",
        "profile": "smoke",
        "overrides": {"max_iters": 10, "eval_interval": 5},
    },
    "axes": {
        "method": [
            {"label": "baseline"},
            {
                "label": "gni",
                "noise_schedule": "exponential",
                "noise_args": {"sigma0": 0.01, "gamma": 0.99},
            },
        ],
    },
    "n_seeds": 2,
}


@pytest.mark.smoke
def test_data_not_at_hand_is_one_error_before_any_run(tmp_path, monkeypatch):
    """Issue 22: one message that names the fix, not one failed run per config."""
    monkeypatch.delenv("GNI_DATA_MIRROR")
    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "no-data"))
    for variable in ("http_proxy", "https_proxy"):  # the dataset hosts: unreachable
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    store = ResultsStore(tmp_path / "results")
    with pytest.raises(GniError) as error:
        run(GRID, store=store)
    message = str(error.value)
    assert message.startswith("dataset shakespeare_char: the first")
    assert "Fix: set GNI_DATA_MIRROR" in message and message.count("dataset ") == 1
    assert files_under(tmp_path / "results") == []


def test_expand_is_the_product_of_axes_and_seeds():
    grid = {
        **GRID,
        "axes": {**GRID["axes"], "dropout": [0.0, 0.1], "dataset": ["shakespeare_char", "text8"]},
    }
    points = expand(grid)
    assert len(points) == 2 * 2 * 2 * 2
    assert {p.labels["method"] for p in points} == {"baseline", "gni"}
    text8 = [p.config for p in points if p.config.dataset == "text8"]
    assert all(c.data_bytes == 3_000_000 and c.max_iters == 10 for c in text8)  # own profile
    assert {c.seed for c in text8} == {0, 1}
    assert {p.config.profile for p in expand(grid, profile="cpu")} == {"cpu"}


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"base": {"dataset": "text8"}, "axis": {}}, r"unknown grid key\(s\) \['axis'\]"),
        ({"base": {"dataset": "text8"}, "seeds": [0, -1]}, r"seeds=\[0, -1\]; allowed: distinct"),
        ({"base": {"dataset": "text8"}, "seeds": [3, 3]}, r"seeds=\[3, 3\]; allowed: distinct"),
        ({"base": {"dataset": "text8"}, "seeds": [0], "n_seeds": 2}, "give one"),
        ({"base": {"dataset": "text8"}, "axes": {"m": [{"dropout": 0.1}]}}, "needs a label"),
        (
            {"base": {"dataset": "text8"}, "axes": {"dropout": [{"label": "x"}]}},
            "shares its name with a config field",
        ),
        ({"base": {"dataset": "text8"}, "axes": {"dropout": [0.1, 0.1]}}, "repeats a run"),
        ({"base": {"dataset": "text8"}, "axes": {"dropout": [2.0]}}, "dropout=2.0 is out of range"),
        ({"axes": {"dropout": [0.1]}}, "names no dataset"),
        ({"base": [1, 2]}, r"base must be a mapping with keys dataset, profile, overrides"),
        ({"base": {"dataset": "text8", "overrides": [1]}}, "base.overrides must be a mapping"),
        ({"base": {"dataset": ["text8"]}}, r"is not valid: TypeError: unhashable type"),
        (
            {"base": {"dataset": "text8", "overrides": {"learning_rate": 10**400}}},
            r"is not valid: OverflowError",
        ),
        ({"base": {"dataset": "text8"}, "n_seeds": 20_000}, "the grid has 20,000 runs"),
    ],
)
def test_bad_grids_are_rejected_with_a_message(grid, message):
    with pytest.raises(GniError, match=message):
        expand(grid)


@pytest.mark.smoke
def test_local_sweep_trains_what_is_missing_then_nothing():
    table = run(GRID, executor="local", progress=False)
    assert len(table) == 4 and set(table["status"]) == {"ok"} and table["trained"].all()
    assert sorted(table["method"]) == ["baseline", "baseline", "gni", "gni"]
    assert table.loc[table["method"] == "gni", "noise_schedule"].eq("exponential").all()
    again = run(GRID, executor="local", progress=False)
    assert not again["trained"].any()
    assert again["final_val_loss"].tolist() == table["final_val_loss"].tolist()


@pytest.mark.smoke
def test_failed_and_diverged_runs_do_not_stop_the_others():
    grid = {
        "base": {"dataset": "shakespeare_char", "profile": "smoke"},
        "axes": {
            "case": [
                {"label": "ok"},
                {"label": "raises", "block_size": 25_000},
                {
                    "label": "diverges",
                    "learning_rate": 1e6,
                    "min_lr": 0.0,
                    "grad_clip": 0.0,
                    "max_iters": 40,
                },
            ]
        },
    }
    table = run(grid, executor="local", workers=2, progress=False).set_index("case")
    assert table.loc["ok", "status"] == "ok"
    assert table.loc["diverges", "status"] == "diverged"
    assert table.loc["raises", "status"] == "failed"
    assert "block_size=25000 needs more than 25000 characters" in table.loc["raises", "error"]
    assert len(ResultsStore().run_ids()) == 2  # the failure is not recorded: it will be retried


def _train_or_crash(config, *args):
    """train_one, but the task of seed 0 raises, as when its worker process dies."""
    if config["seed"] == 0:
        raise RuntimeError("worker lost")
    return train_one(config, *args)


@pytest.mark.smoke
def test_a_task_that_raises_is_a_failed_run_and_the_others_go_on(monkeypatch):
    """As when a worker process dies: the task raises, not the run."""
    from gni import sweep

    monkeypatch.setattr(sweep, "train_one", _train_or_crash)
    table = run(GRID | {"axes": {}}, progress=False).set_index("seed")
    assert table.loc[0, "status"] == "failed"
    assert table.loc[0, "error"] == "RuntimeError: worker lost"
    assert table.loc[1, "status"] == "ok" and table.loc[1, "trained"]
    assert len(ResultsStore().run_ids()) == 1


@pytest.mark.smoke
def test_a_chapters_sweep_raises_once_every_other_run_has_finished(monkeypatch):
    """raise_on_failure: one GniError naming the failed run; the good run is recorded."""
    from gni import sweep

    monkeypatch.setattr(sweep, "train_one", _train_or_crash)
    with pytest.raises(GniError, match=r"1 run failed to train \(.*RuntimeError: worker lost"):
        run(GRID | {"axes": {}}, progress=False, raise_on_failure=True)
    assert len(ResultsStore().run_ids()) == 1
    monkeypatch.undo()
    table = run(GRID | {"axes": {}}, progress=False, raise_on_failure=True)
    assert set(table["status"]) == {"ok"}  # the retry trains it


@pytest.mark.smoke
def test_probes_are_saved_beside_the_record():
    table = run(GRID | {"n_seeds": 1}, probes=[count_parameters_probe], progress=False)
    for run_id in table["run_id"]:
        probe = json.loads(
            (ResultsStore().path(run_id) / "probe_count_parameters_probe.json").read_text()
        )
        assert probe == {"n_params": table.set_index("run_id").loc[run_id, "n_params"]}
    # issue 23: a truncated probe file is not taken as done: it is moved aside, probed again
    record = ResultsStore().path(table["run_id"].iloc[0])
    (record / "probe_count_parameters_probe.json").write_text('{"n_par')
    again = run(GRID | {"n_seeds": 1}, probes=[count_parameters_probe], progress=False)
    assert not again["trained"].any() and again["probe_error"].isna().all()
    probe = json.loads((record / "probe_count_parameters_probe.json").read_text())
    assert probe == {"n_params": table["n_params"].iloc[0]}
    assert any(ResultsStore().root.joinpath(".corrupt").iterdir())


@pytest.mark.smoke
def test_recorded_runs_are_probed_on_the_pool_and_a_failing_probe_is_reported():
    grid = GRID | {"n_seeds": 1, "axes": {}}
    first = run(grid, progress=False)
    run_id = first["run_id"].iloc[0]
    assert first["probe_error"].isna().all()
    table = run(
        grid,
        executor="dask",
        workers=1,
        probes=[count_parameters_probe, failing_probe],
        progress=False,
    )
    row = table.set_index("run_id").loc[run_id]
    assert row["status"] == "ok" and not row["trained"]  # probed, not trained again
    record = ResultsStore().path(run_id)
    assert (record / "probe_count_parameters_probe.json").is_file()
    assert not (record / "probe_failing_probe.json").exists()  # tried again next time
    assert row["probe_error"] == "failing_probe: GniError: no weights for this probe"


def failing_probe(config: RunConfig, record: Path) -> dict:
    """A probe that always raises."""
    raise GniError("no weights for this probe")


def count_parameters_probe(config: RunConfig, record: Path) -> dict:
    """A probe that reads the trained model's weights."""
    import torch

    from gni import paths

    state = torch.load(paths.checkpoint_dir() / config.run_id / "model.pt", weights_only=True)
    n = sum(
        v.numel()
        for k, v in state["model"].items()
        if k != "transformer.wpe.weight" and k != "transformer.wte.weight"
    )  # wte is tied to lm_head, counted there
    return {"n_params": int(n)}


@pytest.fixture
def dask_cluster():
    from distributed import Client

    cluster = local_cluster(2)
    client = Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


@pytest.mark.smoke
def test_dask_sweep_survives_a_killed_worker_and_writes_each_record_once(dask_cluster):
    cluster, client = dask_cluster
    grid = GRID | {"base": {**GRID["base"], "overrides": {"max_iters": 400, "eval_interval": 50}}}
    killed = {}

    def kill_a_busy_worker() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(1.0)  # mid-run
                pids = client.run(os.getpid, workers=[busy[0]])
                killed["pid"] = pids[busy[0]]
                os.kill(killed["pid"], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    table = run(grid, executor="dask", scheduler=cluster.scheduler_address, progress=False)
    killer.join()
    assert "pid" in killed
    assert set(table["status"]) == {"ok"} and len(table) == 4
    store = ResultsStore()
    assert sorted(store.run_ids()) == sorted(table["run_id"])
    for run_id in table["run_id"]:
        assert files_under(store.path(run_id)) == ["config.json", "curves.csv", "summary.json"]
    assert not run(grid, executor="dask", scheduler=cluster.scheduler_address, progress=False)[
        "trained"
    ].any()


@pytest.mark.smoke
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_cli_sweep(executor, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    out = run_gni("sweep", str(grid), "--executor", executor, "--workers", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("4 runs: 4 ok")
    assert len(ResultsStore().run_ids()) == 4


@pytest.mark.smoke
def test_cli_sweep_bad_grid_is_one_error_line(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {dataset: wiki}\n")
    out = run_gni("sweep", str(grid))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "unknown dataset 'wiki'" in out.stderr
    assert run_gni("sweep", str(tmp_path / "missing.yaml")).stderr.startswith(
        "gni: error: grid file"
    )


def test_shipped_grids_expand():
    for path in Path(__file__).resolve().parents[1].glob("grids/*.yaml"):
        assert expand(yaml.safe_load(path.read_text()), profile="smoke"), path


def malloc_probe(config: RunConfig, record: Path) -> dict:
    """Reports the worker's malloc setting (it runs where the run was trained)."""
    return {"MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


@pytest.mark.smoke
def test_dask_workers_we_start_keep_the_default_malloc(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # as in a fresh process
    table = run(
        GRID | {"n_seeds": 1, "axes": {"method": GRID["axes"]["method"][:1]}},
        executor="dask",
        workers=1,
        probes=[malloc_probe],
        progress=False,
    )
    probe = ResultsStore().path(table["run_id"].iloc[0]) / "probe_malloc_probe.json"
    assert json.loads(probe.read_text()) == {"MALLOC_TRIM_THRESHOLD_": None}


# 8 runs of 400 steps: two workers take about 30 s over them, so a sweep stopped once it
# trains leaves most of them untrained.
SLOW_GRID = GRID | {
    "base": {**GRID["base"], "overrides": {"max_iters": 400, "eval_interval": 50}},
    "n_seeds": 4,
}
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name; None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pids: list[int]) -> list[int]:
    """The processes of ``pids`` still running (a zombie has exited)."""
    return [pid for pid in pids if (stat := _proc_stat(pid)) is not None and stat[0] != "Z"]


def _children(pid: int) -> list[int]:
    entries = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [c for c in _alive(entries) if (stat := _proc_stat(c)) and int(stat[1]) == pid]


@pytest.fixture
def training_sweep(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[int]]]:
    """`gni sweep SLOW_GRID --executor local --workers 2` in a new session, once both
    workers train (each has checkpointed a run): the sweep and its child processes.
    Whatever of its process group is left is killed after the test."""
    grid = tmp_path / "slow.yaml"
    grid.write_text(yaml.safe_dump(SLOW_GRID))
    command = [sys.executable, "-m", "gni", "sweep", str(grid), "--executor", "local"]
    with (tmp_path / "sweep.log").open("w") as log:
        sweep = subprocess.Popen(
            [*command, "--workers", "2", "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,  # its own process group, as in a terminal
            # as in a terminal, Ctrl-C interrupts: a shell that starts the tests in the
            # background (as `cmd &` without job control does) passes SIGINT on ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.monotonic() + 120
    while len({p.parent for p in paths.checkpoint_dir().glob("*/*.pt")}) < 2:
        if sweep.poll() is not None or time.monotonic() > deadline:
            os.killpg(sweep.pid, signal.SIGKILL)
            pytest.fail(f"the sweep did not start training: {(tmp_path / 'sweep.log').read_text()}")
        time.sleep(0.1)
    children = _children(sweep.pid)
    assert len(children) >= 2, children  # the workers (and multiprocessing's resource tracker)
    yield sweep, children
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(pids)


def _assert_only_complete_records(fewer_than: int) -> None:
    store = ResultsStore()
    assert len(store.run_ids()) < fewer_than  # it stopped early
    for run_id in store.run_ids():
        assert files_under(store.path(run_id)) == ["config.json", "curves.csv", "summary.json"]


@pytest.mark.smoke
@needs_proc
@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c", "kill-int"])
def test_sigint_stops_a_local_sweep_and_its_workers_at_once(group, training_sweep, tmp_path):
    sweep, children = training_sweep
    if group:  # Ctrl-C in a terminal: the whole process group
        os.killpg(sweep.pid, signal.SIGINT)
    else:  # kill -INT: the sweep alone
        sweep.send_signal(signal.SIGINT)
    started = time.monotonic()
    returncode = sweep.wait(timeout=15)
    stopped = time.monotonic() - started
    assert _wait_gone(children, 5) == []
    log = (tmp_path / "sweep.log").read_text()
    assert returncode == 130 and stopped < 15, log
    assert "gni: interrupted" in log
    assert "leaked" not in log  # the resource tracker found nothing to clean up
    _assert_only_complete_records(fewer_than=len(expand(SLOW_GRID)))


@pytest.mark.smoke
@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_local_workers_die_with_a_killed_sweep(signum, training_sweep):
    sweep, children = training_sweep
    sweep.send_signal(signum)  # to the sweep alone, which cannot stop its workers
    assert sweep.wait(timeout=15) == -signum
    assert _wait_gone(children, 15) == []
    _assert_only_complete_records(fewer_than=len(expand(SLOW_GRID)))


@pytest.mark.smoke
def test_a_huge_grid_is_refused_at_once_unless_allowed(capsys):
    million = {
        "base": {"dataset": "text8", "profile": "smoke"},
        "axes": {"dropout": [i / 2000 for i in range(1000)], "max_iters": list(range(1, 1001))},
    }
    started = time.monotonic()
    with pytest.raises(
        GniError, match=r"the grid has 1,000,000 runs, more than the limit of 10,000; "
    ):
        run(million, progress=False)
    assert time.monotonic() - started < 5
    with pytest.raises(GniError, match=r"has 4 runs, more than the limit of 3; .*--max-runs 4"):
        expand(GRID, max_runs=3)
    assert len(expand(GRID, max_runs=4)) == 4
    assert capsys.readouterr().err == ""  # a small grid expands quietly
    big = million | {"axes": {"dropout": million["axes"]["dropout"][:600]}, "n_seeds": 2}
    assert len(expand(big)) == 1200
    assert capsys.readouterr().err == "gni: expanding a grid of 1,200 runs ...\n"


@pytest.mark.smoke
def test_bad_threads_per_worker_is_refused_before_any_run():
    with pytest.raises(GniError, match=r"threads_per_worker=-1 must be >= 1"):
        run(GRID, threads_per_worker=-1, progress=False)
    with pytest.raises(GniError, match=r"workers=1000000 is out of range; allowed: 1 to 1024"):
        run(GRID, executor="dask", workers=1_000_000, progress=False)  # issue 23
    assert ResultsStore().run_ids() == []


class _RaceStore(ResultsStore):
    """A store where another process writes each record while this one trains it."""

    def write(self, config, curves, summary):
        ResultsStore(self.root).write(config, curves, {**summary, "writer": "other"})
        return super().write(config, curves, summary)


@pytest.mark.smoke
def test_a_run_that_loses_the_write_race_is_reported_reused(monkeypatch):
    from gni import sweep

    monkeypatch.setattr(sweep, "ResultsStore", _RaceStore)
    config = expand(GRID)[0].config
    outcome = train_one(config.to_dict(), str(paths.results_dir()), 1)
    assert outcome["status"] == "ok" and outcome["reused"], outcome
    assert ResultsStore().read_summary(config.run_id)["writer"] == "other"


UNREADABLE = {
    "summary.json": '{"status": "ok", "final_val',
    "config.json": '<<<<<<< HEAD\n{"seed": 0}\n=======\n{"seed": 1}\n>>>>>>> other\n',
    "curves.csv": "",
}


@pytest.mark.smoke
@pytest.mark.parametrize("name", list(UNREADABLE))
def test_cli_sweep_retrains_an_unreadable_record_and_keeps_it_aside(name, tmp_path):
    grid = GRID | {"axes": {}}
    first = run(grid, progress=False)
    assert first["trained"].all() and len(first) == 2
    bad = first["run_id"].iloc[0]
    record = ResultsStore().path(bad)
    (record / name).write_text(UNREADABLE[name])
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    out = run_gni("sweep", str(path), "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [
        "2 runs: 2 ok",
        "1 trained, 1 reused from the store, 0 failed",
    ]
    assert f"gni: warning: {record / name}: " in out.stderr
    (aside,) = (paths.results_dir() / ".corrupt").iterdir()
    assert aside.name.startswith(f"{bad}-") and (aside / name).read_text() == UNREADABLE[name]
    assert f"aside to {aside}" in out.stderr
    assert ResultsStore().has(bad)
    assert files_under(record) == ["config.json", "curves.csv", "summary.json"]
