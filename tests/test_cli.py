"""The `gni` command end to end, in a subprocess, as a user runs it."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import files_under
from tests.conftest import run_gni as gni

pytestmark = pytest.mark.smoke


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
