"""Sweeps with the local executor and with a real Dask scheduler and workers on 127.0.0.1."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from gni import GniError
from gni.config import RunConfig
from gni.results import ResultsStore
from gni.sweep import expand, local_cluster, run
from tests.conftest import files_under, run_gni

pytestmark = pytest.mark.smoke

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
        ({"base": {"dataset": "text8"}, "seeds": [0, -1]}, "seeds=.* must be a non-empty list"),
        ({"base": {"dataset": "text8"}, "seeds": [0], "n_seeds": 2}, "give one"),
        ({"base": {"dataset": "text8"}, "axes": {"m": [{"dropout": 0.1}]}}, "needs a label"),
        (
            {"base": {"dataset": "text8"}, "axes": {"dropout": [{"label": "x"}]}},
            "shares its name with a config field",
        ),
        ({"base": {"dataset": "text8"}, "axes": {"dropout": [0.1, 0.1]}}, "repeats a run"),
        ({"base": {"dataset": "text8"}, "axes": {"dropout": [2.0]}}, "dropout=2.0 is out of range"),
        ({"axes": {"dropout": [0.1]}}, "names no dataset"),
    ],
)
def test_bad_grids_are_rejected_with_a_message(grid, message):
    with pytest.raises(GniError, match=message):
        expand(grid)


def test_local_sweep_trains_what_is_missing_then_nothing():
    table = run(GRID, executor="local", progress=False)
    assert len(table) == 4 and set(table["status"]) == {"ok"} and table["trained"].all()
    assert sorted(table["method"]) == ["baseline", "baseline", "gni", "gni"]
    assert table.loc[table["method"] == "gni", "noise_schedule"].eq("exponential").all()
    again = run(GRID, executor="local", progress=False)
    assert not again["trained"].any()
    assert again["final_val_loss"].tolist() == table["final_val_loss"].tolist()


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


def test_probes_are_saved_beside_the_record():
    table = run(GRID | {"n_seeds": 1}, probes=[count_parameters_probe], progress=False)
    for run_id in table["run_id"]:
        probe = json.loads(
            (ResultsStore().path(run_id) / "probe_count_parameters_probe.json").read_text()
        )
        assert probe == {"n_params": table.set_index("run_id").loc[run_id, "n_params"]}


def count_parameters_probe(config: RunConfig, record: Path) -> dict:
    """A probe that reads the trained model's weights."""
    import torch

    from gni import paths

    state = torch.load(paths.checkpoint_dir() / config.run_id / "model.pt", weights_only=False)
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


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_cli_sweep(executor, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    out = run_gni("sweep", str(grid), "--executor", executor, "--workers", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("4 runs: 4 ok")
    assert len(ResultsStore().run_ids()) == 4


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
