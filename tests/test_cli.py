"""The `gni` command end to end, in a subprocess, as a user runs it."""

import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gni.results import ResultsStore
from tests.conftest import files_under, tmpfs
from tests.conftest import run_gni as gni


@pytest.mark.smoke
def test_train_smoke_writes_a_record_then_reuses_it(isolated_store: Path):
    first = gni("train", "--dataset", "shakespeare_char", "--profile", "smoke", "--seed", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("wrote ")
    assert re.search(
        r"^status ok, final train loss \d\.\d{4} \(eval mode; last minibatch \d\.\d{4}\), "
        r"best val loss \d\.\d{4}, val bpc \d\.\d{4}$",
        first.stdout,
        re.MULTILINE,
    ), first.stdout
    record = Path(first.stdout.split()[1])
    assert record.parent == isolated_store / "results" and (record / "summary.json").is_file()
    second = gni("train", "--dataset", "shakespeare_char", "--profile", "smoke", "--seed", "1")
    assert second.returncode == 0 and second.stdout.startswith(f"reused {record}")


@pytest.mark.smoke
def test_diverged_run_prints_n_a_for_the_losses_it_lacks():
    out = gni(
        "train",
        *("--dataset", "shakespeare_char", "--profile", "smoke"),
        *("--set", "learning_rate=1e6", "--set", "min_lr=0", "--set", "grad_clip=0"),
        *("--set", "max_iters=40"),
    )
    assert out.returncode == 1, out.stderr
    assert "status diverged, " in out.stdout and out.stdout.endswith(", val bpc n/a\n")


@pytest.mark.parametrize(
    ("args", "defaults"),
    [
        ([], []),
        (["data", "prepare"], ["(default: cpu)"]),
        (["train"], ["(default: cpu)", "(default: 0)", "(default: auto)"]),
        (["sweep"], ["(default: local)", "(default: 1)"]),
        (["book"], ["(default: cpu)"]),
    ],
)
def test_help_is_plain_text_with_the_defaults(args, defaults):
    out = gni(*args, "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())  # argparse wraps lines at the terminal's width
    assert "``" not in text and "(default: None)" not in text and "(default: False)" not in text
    assert "(default: [])" not in text
    for default in defaults:
        assert default in text, text
    if not args:
        assert text.count("gni: gradient noise injection") == 1 and "gni sweep GRID.yaml" in text


@pytest.mark.smoke
def test_sweep_says_what_it_trained_reused_and_failed(tmp_path: Path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "dataset": "shakespeare_char",
                    "profile": "smoke",
                    "overrides": {"max_iters": 4, "eval_interval": 2},
                },
                "axes": {"case": [{"label": "ok"}, {"label": "raises", "block_size": 25_000}]},
                "n_seeds": 2,
            }
        )
    )
    first = gni("sweep", str(grid), "--quiet")
    assert first.returncode == 1, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:2] == [
        "4 runs: 2 ok, 2 failed",
        "2 trained, 0 reused from the store, 2 failed (not recorded: the next sweep tries again)",
    ]
    assert sum(line.startswith("failed ") for line in lines) == 2
    second = gni("sweep", str(grid), "--quiet")
    assert second.returncode == 1, second.stderr
    assert second.stdout.splitlines()[1].startswith("0 trained, 2 reused from the store, 2 failed")


def test_data_info_lists_the_datasets():
    out = gni("data", "info")
    assert out.returncode == 0
    for name in ("shakespeare_char", "enwik8", "text8", "mattmahoney.net/dc/enwik8.zip"):
        assert name in out.stdout


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dataset", "wiki"],
            "gni: error: unknown dataset 'wiki'; choose one of shakespeare_char",
        ),
        (["--dataset", "text8", "--set", "lr=0.1"], "gni: error: unknown config field 'lr'"),
        (
            ["--dataset", "text8", "--set", "learning_rate=-1"],
            "gni: error: learning_rate=-1.0 is out of range; allowed: a number > 0",
        ),
        (["--dataset", "text8", "--profile", "gpu"], "gni: error: unknown profile 'gpu'"),
        (
            ["--dataset", "shakespeare_char", "--set", "block_size=30000"],
            "gni: error: block_size=30000 needs more than 30000 characters, but the train split",
        ),
        (["--dataset", "text8", "--set", "max_iters=inf"], "gni: error: max_iters='inf' is not"),
        (
            ["--dataset", "text8", "--checkpoint-interval", "-5"],
            "gni: error: --checkpoint-interval -5 must be >= 0",
        ),
        # issue 23: a second seed, and noise that is infinite, overflows, or is given twice
        (
            ["--dataset", "text8", "--set", "dropout=0.1", "--set", "dropout=0.2"],
            "gni: error: --set dropout is given twice",
        ),
        (
            ["--dataset", "text8", "--seed", "0", "--set", "seed=11"],
            "gni: error: dataset, profile and seed are chosen by their own arguments",
        ),
        (
            [
                "--dataset",
                "text8",
                "--set",
                "noise_schedule=exponential",
                "--set",
                "noise_args=sigma0:inf,gamma:0.9",
            ],
            "gni: error: noise_args['sigma0']=inf is out of range",
        ),
        (
            [
                "--dataset",
                "text8",
                "--set",
                "noise_schedule=exponential",
                "--set",
                "noise_args=sigma0:1e39,gamma:0.9",
            ],
            "gni: error: noise_args['sigma0']=1e+39 is out of range",
        ),
        (
            [
                "--dataset",
                "text8",
                "--set",
                "noise_schedule=linear",
                "--set",
                "noise_args=sigma0:0.1,total_steps:inf",
            ],
            "gni: error: noise_args['total_steps']=inf is out of range",
        ),
    ],
)
def test_bad_input_gives_one_error_line_and_no_files(args, message, isolated_store: Path):
    out = (
        gni("train", "--profile", "smoke", *args)
        if "--profile" not in args
        else gni("train", *args)
    )
    assert out.returncode == 2
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert files_under(isolated_store / "results") == []
    assert files_under(isolated_store / "checkpoints") == []


@pytest.mark.smoke
def test_corrupt_data_file_is_named_with_its_digests(tmp_path: Path, monkeypatch):
    data = tmp_path / "fresh_data"
    (data / "shakespeare_char").mkdir(parents=True)
    (data / "shakespeare_char" / "input.txt").write_text("not shakespeare\n" * 69712)
    monkeypatch.setenv("GNI_DATA_DIR", str(data))
    out = gni("train", "--dataset", "shakespeare_char", "--profile", "smoke")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "input.txt: 1,115,392 bytes, expected 1,115,394" in out.stderr
    (data / "shakespeare_char" / "input.txt").write_text("x" * 1_115_394)
    out = gni("data", "prepare", "--dataset", "shakespeare_char")
    assert out.returncode == 2
    assert "expected 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed" in out.stderr
    assert files_under(data) == ["shakespeare_char/input.txt"]  # nothing prepared


@pytest.mark.smoke
def test_gni_train_retrains_an_unreadable_record_and_keeps_it_aside(isolated_store: Path):
    args = ("train", "--dataset", "shakespeare_char", "--profile", "smoke", "--quiet")
    first = gni(*args)
    assert first.returncode == 0, first.stderr
    summary = Path(first.stdout.split()[1]) / "summary.json"
    summary.write_text('{"status": "ok", "final_')  # truncated
    second = gni(*args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"wrote {summary.parent}\n")
    assert f"gni: warning: {summary}: JSONDecodeError: " in second.stderr
    (aside,) = (isolated_store / "results" / ".corrupt").iterdir()
    assert (aside / "summary.json").read_text() == '{"status": "ok", "final_'
    assert ResultsStore().has(summary.parent.name)


@pytest.mark.smoke
def test_the_process_that_loses_the_write_race_says_reused():
    """Two processes train the same run at once: one record, one `wrote`."""
    args = [sys.executable, "-m", "gni", "train", "--dataset", "shakespeare_char"]
    args += ["--profile", "smoke", "--set", "max_iters=60", "--quiet"]
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    firsts = sorted(out.splitlines()[0].split()[0] for out, _ in outs)
    assert firsts == ["reused", "wrote"], outs
    lines = [out.splitlines()[1] for out, _ in outs]
    assert lines[0] == lines[1]  # both report the record that was kept


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grid(tmp_path: Path, grid: object) -> str:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return str(path)


SMOKE_GRID = {"base": {"dataset": "shakespeare_char", "profile": "smoke"}}
BAD_INPUT = {
    "base is a list": (["sweep", {"base": [1, 2]}], "base must be a mapping"),
    "overrides is a list": (
        ["sweep", {"base": {"dataset": "text8", "overrides": [1]}}],
        "base.overrides must be a mapping",
    ),
    "negative threads": (
        ["sweep", SMOKE_GRID, "--threads-per-worker", "-1"],
        "threads_per_worker=-1 must be >= 1",
    ),
    "a million runs": (
        ["sweep", {**SMOKE_GRID, "n_seeds": 1_000_000}],
        "the grid has 1,000,000 runs, more than the limit of 10,000; to run them all, pass "
        "--max-runs 1000000",
    ),
    "over --max-runs": (
        ["sweep", {**SMOKE_GRID, "n_seeds": 3}, "--max-runs", "2"],
        "the grid has 3 runs, ",
    ),
    "a parameter of the wrong type": (
        ["book", "-p", "n_seeds=[1"],
        "parameter n_seeds='[1' must be of type int",
    ),
    "no chapter at once": (["book", "--jobs", "0"], "jobs=0: chapters executed at once must be"),
    "n_seeds beyond any machine": (
        ["sweep", {**SMOKE_GRID, "n_seeds": 10**20}],
        "n_seeds=100000000000000000000 must be an integer from 1 to 1,000,000,000",
    ),
    "a hundred thousand threads": (
        ["sweep", SMOKE_GRID, "--threads-per-worker", "100000"],
        "threads_per_worker=100000 must be >= 1",
    ),
    "a parameter given twice": (["book", "-p", "n_seeds=3", "-p", "n_seeds=4"], "-p n_seeds is"),
    "a profile that is a path": (
        ["book", "--profile", "../../elsewhere", "--no-execute"],
        "profile '../../elsewhere'; allowed: one of smoke, cpu, cpu-long, paper",
    ),
    "missing parameters file": (
        ["book", "--parameters", "nowhere.yaml"],
        "--parameters nowhere.yaml: No such file or directory",
    ),
}


@pytest.mark.parametrize(("args", "message"), BAD_INPUT.values(), ids=list(BAD_INPUT))
def test_bad_sweep_and_book_input_is_one_error_line(args, message, tmp_path, isolated_store):
    args = [_grid(tmp_path, a) if isinstance(a, dict) else a for a in args]
    out = gni(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"gni: error: {message}"), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert files_under(isolated_store / "results") == []


@pytest.mark.smoke
def test_unreachable_scheduler_fails_at_once_naming_it(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    out = gni("sweep", _grid(tmp_path, SMOKE_GRID), "--executor", "dask", "--scheduler", address)
    assert time.monotonic() - started < 25  # Dask alone retries for 30 s
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"gni: error: cannot reach the Dask scheduler at {address} (")
    assert out.stderr.count("\n") == 1, out.stderr


@pytest.mark.smoke
@pytest.mark.parametrize("case", ["not a folder", "read-only", "full"])
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_unwritable_results_folder_is_one_error_line_naming_it(
    case, command, tmp_path, monkeypatch
):
    results = tmp_path / "results"
    with contextlib.ExitStack() as stack:
        if case == "not a folder":
            results.write_text("a file where the results folder should be")
        elif case == "read-only":
            stack.enter_context(tmpfs(results, "size=1m,ro"))
        else:
            stack.enter_context(tmpfs(results, "size=64k"))
            with contextlib.suppress(OSError), (results / "filler").open("wb") as f:
                f.write(b"x" * 128 * 1024)
        monkeypatch.setenv("GNI_RESULTS_DIR", str(results))
        if command == "sweep":
            out = gni("sweep", _grid(tmp_path, SMOKE_GRID), "--quiet")
        else:
            out = gni("train", "--dataset", "shakespeare_char", "--profile", "smoke", "--quiet")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"gni: error: {results}"), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    if command == "sweep":  # refused before any run starts (gni train: see test_faults.py)
        assert out.stderr.startswith(f"gni: error: {results}: "), out.stderr
        assert not (tmp_path / "checkpoints").exists()


@pytest.mark.smoke
def test_disk_full_while_writing_the_record_is_one_error_line(monkeypatch, capsys):
    """A disk that fills up during training (simulated: the checks before training pass)."""
    from gni import cli

    def full(self, config, curves, summary):
        path = self.root / f".{config.run_id}.k2x_9abc" / "curves.csv"
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(ResultsStore, "write", full)
    args = ["train", "--dataset", "shakespeare_char", "--profile", "smoke", "--quiet"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"gni: error: \S+/\.\S+/curves\.csv: No space left on device\n", err), err


def _bomb(levels: int = 9) -> str:
    """587 bytes that stand for 10**levels values through YAML aliases (issue 23)."""
    lines = ["l0: &l0 [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


HOSTILE_FILES = {
    "alias bomb in a grid": (
        ["sweep", "FILE"],
        _bomb() + "axes: {dropout: *l9}\n",
        "grid file FILE stands for more than 100,000 values",
    ),
    "alias bomb in seeds": (
        ["sweep", "FILE"],
        _bomb() + "seeds: *l9\n",
        "grid file FILE stands for more than 100,000 values",
    ),
    "alias bomb in book parameters": (
        ["book", "--parameters", "FILE"],
        _bomb() + "n_seeds: *l9\n",
        "--parameters FILE stands for more than 100,000 values",
    ),
    "nested 100,000 deep": (["sweep", "FILE"], "[" * 100_000, "grid file FILE nests deeper than"),
    "a repeated key": (
        ["sweep", "FILE"],
        "base: {dataset: text8}\nseeds: [0]\nseeds: [1]\n",
        "grid file FILE repeats the key(s) ['seeds']",
    ),
}


@pytest.mark.parametrize(
    ("args", "text", "message"), HOSTILE_FILES.values(), ids=list(HOSTILE_FILES)
)
def test_hostile_yaml_is_one_error_line_at_once(args, text, message, tmp_path, isolated_store):
    path = tmp_path / "input.yaml"
    path.write_text(text)
    started = time.monotonic()
    out = gni(*[str(path) if a == "FILE" else a for a in args])
    assert time.monotonic() - started < 30  # it hung, growing 25 MB/s, before
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"gni: error: {message.replace('FILE', str(path))}")
    assert out.stderr.count("\n") == 1, out.stderr


@pytest.mark.smoke
def test_a_grid_that_is_not_utf8_is_one_error_line(tmp_path, isolated_store):
    path = tmp_path / "grid.yaml"
    path.write_bytes(b"base: {dataset: \xff\xfe}\n")
    out = gni("sweep", str(path))
    assert out.returncode == 2
    assert out.stderr == f"gni: error: grid file {path} is not UTF-8 text (byte 16)\n"


@pytest.mark.smoke
def test_two_identical_trainings_at_once_train_the_run_once(isolated_store: Path):
    """Issue 23: both trained fully, and the second said only "reused"."""
    command = [sys.executable, "-m", "gni", "train", "--dataset", "shakespeare_char"]
    command += ["--profile", "smoke", "--quiet", "--set", "max_iters=300"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = isolated_store / "checkpoints"
    deadline = time.monotonic() + 60
    while not any(lock.rglob(".lock")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the first holds the run's lock
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and out.startswith("wrote "), out
    assert second.returncode == 0, second.stderr
    assert "another process trained it while this one waited" in second.stdout
    assert "is being trained by another process; waiting" in second.stderr
    assert len(ResultsStore(isolated_store / "results").run_ids()) == 1


@pytest.mark.smoke
def test_pairs_trains_baseline_and_noise_per_seed_then_reuses_them(isolated_store: Path):
    tiny = ("--set", "n_layer=1", "--set", "n_head=1", "--set", "n_embd=16")
    tiny += ("--set", "block_size=16", "--set", "batch_size=2", "--set", "max_iters=4")
    tiny += ("--set", "lr_decay_iters=4", "--set", "warmup_iters=1", "--set", "eval_interval=2")
    tiny += ("--set", "eval_iters=1", "--set", "data_bytes=200000")
    args = ("pairs", "--dataset", "text8", "--profile", "paper", "--seeds", "1000-1001")
    first = gni(*args, "--device", "cpu", *tiny, "--quiet")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("wrote ") == 4  # two seeds, two runs each
    assert re.search(
        r"^seed 1001: best val loss \d\.\d{4} without noise, \d\.\d{4} with "
        r"\(ok on cpu\)$",
        first.stdout,
        re.MULTILINE,
    ), first.stdout
    assert re.search(r"^best_val_loss, noise - baseline: [+-]\d\.\d{3} \[", first.stdout, re.M)
    records = sorted((isolated_store / "results").glob("text8-paper-*-s100*"))
    assert [r.name.split("-")[2] for r in records] == ["exponential"] * 2 + ["none"] * 2
    again = gni(*args, "--device", "cpu", *tiny, "--quiet")
    assert again.returncode == 0 and again.stdout.count("reused ") == 4


def test_pairs_refuses_the_paper_profile_without_a_gpu_before_reading_data(isolated_store):
    out = gni("pairs", "--dataset", "enwik8", "--profile", "paper", "--seeds", "1000-1003")
    if out.returncode == 0 or "CUDA" not in out.stderr:
        pytest.skip("this machine has a CUDA GPU")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("gni: error: profile paper needs a CUDA GPU")
    assert files_under(isolated_store) == []
