import json
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from gni import GniError
from gni.atomic import atomic_file
from gni.config import make_config
from gni.results import (
    SUMMARY_FIELDS,
    RecordError,
    ResultsStore,
    load_curves,
    load_runs,
    read_extra,
)
from tests.conftest import files_under

ROOT = Path(__file__).resolve().parents[1]


def _summary(run_id: str, **values: object) -> dict[str, object]:
    """A summary with every field a record needs (SUMMARY_FIELDS), ``values`` set."""
    fields = {field: None for field in SUMMARY_FIELDS} | {"iters_done": 11, "recipe_version": 2}
    return fields | {"run_id": run_id, "status": "ok"} | values


def _record(store: ResultsStore, seed: int, value: float) -> None:
    config = make_config("text8", "smoke", seed)
    store.write(
        config,
        pd.DataFrame({"iter": [0, 10], "train_loss": [3.0, 2.0], "val_loss": [3.0, value]}),
        _summary(config.run_id, best_val_loss=value),
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


def test_losing_writer_is_told_its_copy_was_not_kept(tmp_path):
    store = ResultsStore(tmp_path)
    config = make_config("text8", "smoke", 0)
    curves = pd.DataFrame({"iter": [0, 10], "train_loss": [3.0, 2.0], "val_loss": [3.0, 2.0]})
    first, first_kept = store.write(config, curves, _summary(config.run_id, best_val_loss=2.0))
    second, second_kept = store.write(config, curves, _summary(config.run_id, best_val_loss=9.9))
    assert first == second == store.path(config.run_id)
    assert first_kept and not second_kept
    assert store.read_summary(config.run_id)["best_val_loss"] == 2.0


CONFLICT = '<<<<<<< HEAD\n{"seed": 0}\n=======\n{"seed": 1}\n>>>>>>> other\n'
UNREADABLE = {
    "truncated summary": ("summary.json", '{"status": "ok", "best_val'),
    "merge conflict in config": ("config.json", CONFLICT),
    "empty curves": ("curves.csv", ""),
    "merge conflict in curves": (
        "curves.csv",
        "iter,val_loss\n0,3\n<<<<<<< HEAD\n10,2.5\n=======\n10,2.4\n>>>>>>> other\n",
    ),
    # issue 23: the store checks its own addresses and what a summary must hold
    "another run's config": (
        "config.json",
        json.dumps(make_config("text8", "smoke", 1).to_dict()),
    ),
    "a summary with only a status": ("summary.json", '{"status": "ok"}'),
    "a loss that is text": (
        "summary.json",
        json.dumps(_summary(make_config("text8", "smoke", 0).run_id, best_val_loss="abc")),
    ),
    "an added field of the wrong type": (
        "summary.json",
        json.dumps(_summary(make_config("text8", "smoke", 0).run_id, test_loss_at_best_val="2.1")),
    ),
    "curves cut at a row": ("curves.csv", "iter,train_loss,val_loss\n0,3.0,3.0\n10,2.0"),
    "curves without their losses": ("curves.csv", "iter\n0\n10\n"),
    "another run's summary": (
        "summary.json",
        json.dumps(_summary(make_config("text8", "smoke", 1).run_id)),
    ),
}


@pytest.mark.parametrize(("name", "content"), UNREADABLE.values(), ids=list(UNREADABLE))
def test_unreadable_record_is_reported_by_path_and_treated_as_missing(
    name, content, tmp_path, capsys
):
    store = ResultsStore(tmp_path)
    _record(store, 0, 2.5)
    _record(store, 1, 1.5)
    bad = make_config("text8", "smoke", 0).run_id
    (tmp_path / bad / name).write_text(content)
    capsys.readouterr()

    runs = load_runs(store=ResultsStore(tmp_path))
    assert runs["seed"].tolist() == [1]
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and warning.startswith("gni: warning: ")
    assert f"{tmp_path / bad / name}: " in warning and "treated as missing" in warning
    assert load_curves(store=store)["seed"].unique().tolist() == [1]
    assert load_runs([bad], store=store).empty
    assert not store.has(bad) and bad not in store.run_ids()
    reader = {"config.json": store.read_config, "curves.csv": store.read_curves}
    with pytest.raises(GniError, match=re.escape(str(tmp_path / bad / name))):
        reader.get(name, store.read_summary)(bad)

    _record(store, 0, 2.0)  # the trainer's write: a fresh record, the bad one moved aside
    assert store.read_summary(bad)["best_val_loss"] == 2.0
    (aside,) = (tmp_path / ".corrupt").iterdir()
    assert aside.name.startswith(f"{bad}-") and (aside / name).read_text() == content
    assert f"aside to {aside}" in capsys.readouterr().err
    assert store.run_ids() == sorted([bad, make_config("text8", "smoke", 1).run_id])


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path):
    run_id = make_config("text8", "smoke", 0).run_id
    hour_ago = time.time() - 3700

    def temporary(name: str, old: bool, folder: bool = True) -> Path:
        path = tmp_path / name
        if folder:
            path.mkdir(parents=True)
            (path / "config.json").write_text("{}")
        else:
            path.write_text("{}")
        if old:
            os.utime(path, (hour_ago, hour_ago))
        return path

    stale = [
        temporary(f".{run_id}.gnitmp.k2x_9abc", True),
        temporary(".x.json.gnitmp.0abcdefg.part", True, False),
    ]
    fresh = temporary(f".{run_id}.gnitmp.fresh123", False)
    corrupt = temporary(f".corrupt/{run_id}-20250101-000000-000000", True)
    os.utime(corrupt.parent, (hour_ago, hour_ago))
    # issue 23: a user's hidden files that happen to end in a dot and 8 letters stay
    users = [temporary(".notes.markdown", True, False), temporary(".cache.abcdefgh", True)]
    assert ResultsStore(tmp_path).run_ids() == []  # a read tidies up
    assert not any(p.exists() for p in stale) and fresh.is_dir() and corrupt.is_dir()
    assert all(p.exists() for p in users)

    again = temporary(f".{run_id}.gnitmp.k2x_9abc", True)
    _record(ResultsStore(tmp_path), 1, 1.0)  # and so does a write
    assert not again.exists() and fresh.is_dir()


def test_every_write_tidies_its_own_folder(tmp_path):
    """Issue 23: leftovers of a killed `gni book` (.01_reproduce.ipynb.gnitmp.x.part.ipynb),
    of checkpoints and of prepared data went unremoved: every atomic write removes them."""
    hour_ago = time.time() - 3700
    left = tmp_path / ".01_reproduce.ipynb.gnitmp.abc_1234.part.ipynb"
    left.write_text("{}")
    os.utime(left, (hour_ago, hour_ago))
    with atomic_file(tmp_path / "02_schedules.ipynb") as tmp:
        assert tmp.name.startswith(".02_schedules.ipynb.gnitmp.")
        tmp.write_text("{}")
    assert not left.exists() and (tmp_path / "02_schedules.ipynb").is_file()


def test_hidden_names_in_the_results_store_are_git_ignored(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    ignored = [
        "results/.text8-smoke-none-s0-0123456789ab.gnitmp.k2x_9abc/config.json",
        "results/.corrupt/text8-cpu-none-s0-0123456789ab-20250101-000000-000000/summary.json",
        "results/datasets/.text8-first_3000000.json.gnitmp.k2x_9abc.part",
        "results/text8-cpu-none-s0-0123456789ab/.probe_x.json.gnitmp.k2x_9abc.part",
        "results/text8-smoke-none-s0-0123456789ab/summary.json",
    ]
    kept = ["results/text8-cpu-none-s0-0123456789ab/summary.json", "results/datasets/x.json"]
    for path in ignored + kept:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    out = subprocess.run(
        ["git", "check-ignore", *ignored, *kept], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.stdout.splitlines() == ignored


def test_an_unreadable_probe_file_is_moved_aside_and_named(tmp_path, capsys):
    """Issue 23: a truncated probe or interpolation JSON was taken as done, forever."""
    store = ResultsStore(tmp_path)
    _record(store, 0, 2.5)
    run_id = make_config("text8", "smoke", 0).run_id
    probe = store.path(run_id) / "probe_sharpness_probe.json"
    probe.write_text('{"top_eigenvalue": 1')
    with pytest.raises(RecordError, match=re.escape(f"{probe}: JSONDecodeError")):
        read_extra(probe)
    assert not probe.exists() and "moved the unreadable" in capsys.readouterr().err
    (aside,) = (tmp_path / ".corrupt").iterdir()
    assert aside.name.startswith(f"{run_id}-probe_sharpness_probe.json-")
    assert store.has(run_id)  # the record itself is sound
    probe.write_text('{"top_eigenvalue": 1.5}')
    assert read_extra(probe) == {"top_eigenvalue": 1.5}
