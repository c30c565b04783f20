import json
import multiprocessing

import pandas as pd

from gni.config import make_config
from gni.results import ResultsStore, load_runs
from tests.conftest import files_under


def _record(store: ResultsStore, seed: int, value: float) -> None:
    config = make_config("text8", "smoke", seed)
    store.write(
        config,
        pd.DataFrame({"iter": [0, 10], "val_loss": [3.0, value]}),
        {"status": "ok", "best_val_loss": value},
    )


def test_write_is_complete_and_leaves_no_temporaries(tmp_path):
    store = ResultsStore(tmp_path)
    _record(store, 0, 2.5)
    run_id = make_config("text8", "smoke", 0).run_id
    assert files_under(tmp_path) == [
        f"{run_id}/config.json",
        f"{run_id}/curves.csv",
        f"{run_id}/summary.json",
    ]
    assert store.read_config(run_id) == make_config("text8", "smoke", 0)
    assert json.loads((tmp_path / run_id / "summary.json").read_text())["best_val_loss"] == 2.5


def test_second_writer_keeps_the_first_record(tmp_path):
    store = ResultsStore(tmp_path)
    _record(store, 0, 2.5)
    _record(store, 0, 9.9)
    assert load_runs(store=store)["best_val_loss"].tolist() == [2.5]
    assert len(files_under(tmp_path)) == 3


def _write_many(root: str) -> None:
    store = ResultsStore(root)
    for seed in range(5):
        _record(store, seed, float(seed))


def test_concurrent_writers_write_each_record_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(str(tmp_path),)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        assert w.exitcode == 0
    runs = load_runs(store=ResultsStore(tmp_path))
    assert sorted(runs["seed"]) == [0, 1, 2, 3, 4]
    assert len(files_under(tmp_path)) == 15  # no temporaries left behind


def test_incomplete_folder_is_not_a_record(tmp_path):
    store = ResultsStore(tmp_path)
    run_id = make_config("text8", "smoke", 0).run_id
    (tmp_path / run_id).mkdir()
    (tmp_path / run_id / "config.json").write_text("{}")
    assert not store.has(run_id) and store.run_ids() == []
    _record(store, 0, 1.0)
    assert store.has(run_id)
