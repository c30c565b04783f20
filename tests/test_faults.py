"""Broken files and unusable folders: refused safely, recovered from, or reported at once.

Each test breaks a real file or folder, then runs the `gni` command in a subprocess (or
`train` in this process, where a condition must be simulated) and checks that the run
either recovers with one warning line naming the file, or fails before training with
one error line naming the folder and what it needs.
"""

from __future__ import annotations

import os
import pickletools
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gni import GniError, paths
from gni.config import make_config
from gni.data import prepare, prepared_problem
from gni.resources import CHECKPOINT_MARGIN, RECORD_BYTES, n_parameters
from gni.results import ResultsStore
from gni.train import train
from tests.conftest import files_under, run_gni, tmpfs

SMOKE_ARGS = ("train", "--dataset", "shakespeare_char", "--profile", "smoke", "--quiet")


def _smoke(**overrides):
    return make_config("shakespeare_char", "smoke", 0, overrides)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gni: warning:")]


class _Payload:
    """Unpickled, it runs a shell command: what a hostile checkpoint would hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _pickled_calls(path: Path) -> list[str]:
    """The callables that unpickling a torch.save file would look up (read with
    pickletools, never executed)."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    names, strings = [], []
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(argument)
        elif opcode.name == "STACK_GLOBAL":
            names.append(".".join(strings[-2:]))
        elif opcode.name == "GLOBAL":
            names.append(argument.replace(" ", "."))
    return names


@pytest.mark.smoke
def test_checkpoint_with_a_pickle_payload_is_refused_and_nothing_runs(tmp_path):
    config = _smoke()
    checkpoint = paths.checkpoint_dir() / config.run_id / "resume.pt"
    checkpoint.parent.mkdir(parents=True)
    marker = tmp_path / "payload_ran"
    torch.save({"run_id": config.run_id, "model": _Payload(f"touch {marker}")}, checkpoint)
    # the payload is live: unpickling the file would call os.system (read, never run)
    assert any(c in ("posix.system", "os.system") for c in _pickled_calls(checkpoint))

    result = run_gni(*SMOKE_ARGS)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()  # nothing ran
    assert _warnings(result.stderr) == [
        f"gni: warning: {checkpoint} cannot be loaded (UnpicklingError: refused by "
        "torch.load(weights_only=True): it needs posix.system); moved to resume.pt.broken, "
        "the run starts again from step 0"
    ]
    assert not checkpoint.exists() and checkpoint.with_name("resume.pt.broken").is_file()
    summary = ResultsStore().read_summary(config.run_id)
    assert summary["status"] == "ok" and summary["iters_done"] == config.max_iters + 1
    assert not marker.exists()


def _break(checkpoint: Path, how: str) -> None:
    if how == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    elif how == "zeroed":
        checkpoint.write_bytes(bytes(checkpoint.stat().st_size))
    else:  # another run's checkpoint in this run's place
        other = make_config("shakespeare_char", "smoke", 1)
        train(other, stop_at=10, progress=False)
        shutil.copyfile(paths.checkpoint_dir() / other.run_id / "resume.pt", checkpoint)


@pytest.mark.smoke
@pytest.mark.parametrize("how", ["truncated", "zeroed", "another_run"])
def test_unloadable_checkpoint_is_moved_aside_and_the_run_starts_again(how, tmp_path):
    config = _smoke()
    assert train(config, stop_at=10, progress=False).status == "stopped"
    checkpoint = paths.checkpoint_dir() / config.run_id / "resume.pt"
    _break(checkpoint, how)

    result = run_gni(*SMOKE_ARGS)
    assert result.returncode == 0, result.stderr
    warnings = _warnings(result.stderr)
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(f"gni: warning: {checkpoint} cannot be loaded (")
    assert warnings[0].endswith("moved to resume.pt.broken, the run starts again from step 0")
    assert not checkpoint.exists() and checkpoint.with_name("resume.pt.broken").is_file()
    # the record is the one an uninterrupted run writes
    whole = ResultsStore(tmp_path / "whole")
    train(config, store=whole, checkpoint_interval=0, progress=False)
    recovered = ResultsStore().read_curves(config.run_id)
    assert recovered["iter"].tolist() == [0, 10, 20]
    for column in ("train_loss", "val_loss", "grad_norm"):
        assert recovered[column].equals(whole.read_curves(config.run_id)[column]), column
    assert ResultsStore().read_summary(config.run_id)["iters_done"] == config.max_iters + 1


@pytest.fixture
def own_data(tmp_path, monkeypatch) -> Path:
    """A data folder for this test alone (it breaks prepared files), prepared for smoke."""
    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "data"))
    return prepare("shakespeare_char")


@pytest.mark.smoke
@pytest.mark.parametrize("how", ["zeros", "random"])
def test_corrupted_token_file_is_prepared_again_before_training(how, own_data):
    train_bin = own_data / "train.bin"
    original = train_bin.read_bytes()
    if how == "zeros":  # right size, wrong bytes: trained to "ok" before
        train_bin.write_bytes(bytes(len(original)))
    else:  # ids beyond the vocabulary: an IndexError before
        rng = np.random.default_rng(0)
        rng.integers(0, 2**16, len(original) // 2, dtype=np.uint16).tofile(train_bin)

    result = run_gni(*SMOKE_ARGS)
    assert result.returncode == 0, result.stderr
    assert _warnings(result.stderr) == [
        f"gni: warning: {train_bin} does not match the sha256 recorded in meta.json when it "
        f"was prepared; preparing {own_data} again from the text"
    ]
    assert train_bin.read_bytes() == original
    assert ResultsStore().read_summary(_smoke().run_id)["status"] == "ok"


def test_prepared_folder_without_meta_json_is_prepared_again(own_data):
    (own_data / "meta.json").unlink()
    result = run_gni(*SMOKE_ARGS)
    assert result.returncode == 0, result.stderr
    assert _warnings(result.stderr) == [
        f"gni: warning: {own_data / 'meta.json'} is missing; preparing {own_data} again "
        "from the text"
    ]
    assert prepared_problem(own_data) is None


def _not_a_folder(tmp_path: Path) -> Path:
    """A path no one can create a folder at, root included: it goes through a file."""
    (tmp_path / "a_file").write_text("")
    return tmp_path / "a_file" / "folder"


def _cannot_write(folder: Path, reason: str, variable: str) -> str:
    return (
        f"{folder}: cannot write there ({reason}), and this run writes to it: make it "
        f"writable, or set {variable} to a folder that is"
    )


@pytest.mark.smoke
def test_unwritable_results_store_fails_before_training(tmp_path):
    store = ResultsStore(_not_a_folder(tmp_path))
    with pytest.raises(GniError) as error:
        train(_smoke(), store=store, progress=False)
    assert str(error.value) == _cannot_write(store.root, "Not a directory", "GNI_RESULTS_DIR")
    assert files_under(tmp_path / "checkpoints") == []  # nothing was trained


def test_unwritable_checkpoint_folder_fails_before_training(tmp_path, monkeypatch):
    folder = _not_a_folder(tmp_path)
    monkeypatch.setenv("GNI_CHECKPOINT_DIR", str(folder))
    result = run_gni(*SMOKE_ARGS)
    assert result.returncode == 2
    assert result.stderr == (
        f"gni: error: {_cannot_write(folder, 'Not a directory', 'GNI_CHECKPOINT_DIR')}\n"
    )
    assert files_under(tmp_path / "results") == []


@pytest.mark.smoke
@pytest.mark.parametrize("variable", ["GNI_RESULTS_DIR", "GNI_CHECKPOINT_DIR"])
def test_read_only_output_folder_fails_before_training(variable, tmp_path, monkeypatch):
    folder = tmp_path / "read_only"
    monkeypatch.setenv(variable, str(folder))
    with tmpfs(folder, "size=1m,ro"), pytest.raises(GniError) as error:
        train(_smoke(), progress=False)
    assert str(error.value) == _cannot_write(folder, "Read-only file system", variable)
    assert files_under(tmp_path / "results") == files_under(tmp_path / "checkpoints") == []


@pytest.mark.smoke
def test_checkpoint_folder_without_room_fails_before_training(tmp_path, monkeypatch):
    folder = tmp_path / "small"
    monkeypatch.setenv("GNI_CHECKPOINT_DIR", str(folder))
    config = _smoke()
    need = 2 * (12 * n_parameters(config, 65) + CHECKPOINT_MARGIN)
    with tmpfs(folder, "size=1m"), pytest.raises(GniError) as error:
        train(config, progress=False)
    assert re.fullmatch(
        rf"{re.escape(str(folder))}: [\d,.]+ (bytes|MiB) free, but this run needs about "
        rf"{need / 2**20:,.1f} MiB there \(two checkpoints\); free some space, or set "
        r"GNI_CHECKPOINT_DIR to a folder with room",
        str(error.value),
    ), error.value
    assert files_under(tmp_path / "results") == []


@pytest.mark.smoke
def test_full_disk_fails_before_training(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=4096))
    config = _smoke()
    need = RECORD_BYTES + 2 * (12 * n_parameters(config, 65) + CHECKPOINT_MARGIN)
    with pytest.raises(GniError) as error:
        train(config, progress=False)
    assert str(error.value) == (
        f"{tmp_path / 'results'}: 4,096 bytes free, but this run needs about "
        f"{need / 2**20:,.1f} MiB there (a record and two checkpoints); free some space, or "
        "set GNI_RESULTS_DIR to a folder with room"
    )
    assert files_under(tmp_path / "checkpoints") == files_under(tmp_path / "results") == []


@pytest.mark.smoke
def test_model_too_large_for_memory_fails_at_once(tmp_path):
    start = time.perf_counter()
    result = run_gni(*SMOKE_ARGS, "--set", "n_layer=1000000")
    seconds = time.perf_counter() - start
    assert result.returncode == 2
    assert re.fullmatch(
        r"gni: error: this run needs an estimated [\d,.]+ GiB of memory to train "
        r"\(12,352,003,136 parameters: [\d,.]+ GiB for weights, gradients and "
        r"optimizer state; [\d,.]+ GiB of activations for batch_size=8, block_size=32, "
        r"n_layer=1000000, n_embd=32\), but cpu has [\d,.]+ GiB \(memory available\); make "
        r"the model or the batch smaller \(n_layer, n_embd, batch_size, block_size\)\n",
        result.stderr,
    ), result.stderr
    assert seconds < 5, f"took {seconds:.1f} s"  # interpreter and torch start-up included
    assert files_under(tmp_path / "results") == files_under(tmp_path / "checkpoints") == []

    start = time.perf_counter()
    with pytest.raises(GniError, match="this run needs an estimated"):
        train(_smoke(n_layer=1_000_000), progress=False)
    assert time.perf_counter() - start < 5


@pytest.mark.smoke
def test_a_disk_that_fills_up_at_a_checkpoint_is_one_error_naming_it(tmp_path, monkeypatch):
    """Issue 23: torch.save's RuntimeError came through as a traceback."""
    from gni import train as gni_train

    def full(obj, path):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:603] . PytorchStreamWriter "
            "failed writing file data/0: file write failed\nmore"
        )

    monkeypatch.setattr(gni_train.torch, "save", full)
    with pytest.raises(GniError) as error:
        train(_smoke(), progress=False, checkpoint_interval=5)
    resume = paths.checkpoint_dir() / _smoke().run_id / "resume.pt"
    assert str(error.value).startswith(f"{resume}: cannot be written ([enforce fail")
    assert "bytes free); free some space" in str(error.value) and "\n" not in str(error.value)
    assert files_under(resume.parent) == [".lock"]  # no temporary left, the run's lock only


@pytest.mark.smoke
def test_a_disk_that_fills_up_at_the_record_is_one_error_naming_it(tmp_path, monkeypatch):
    """Issue 23: the message named no path."""
    import errno

    import pandas as pd

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # no file name, as pandas

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(GniError) as error:
        train(_smoke(), progress=False)
    record = ResultsStore().path(_smoke().run_id)
    assert str(error.value).startswith(
        f"{record}: the record cannot be written (No space left on device); free some space"
    )
    assert files_under(tmp_path / "results") == []


@pytest.mark.smoke
def test_a_run_whose_final_weights_failed_to_write_trains_again(tmp_path, monkeypatch):
    """Issue 23 (re-probe): the record was written before model.pt, so a failed model.pt
    left a record without weights that no rerun could mend."""
    from gni import train as gni_train

    real = torch.save

    def fails_for_the_model(obj, path):
        if str(path).startswith(str(paths.checkpoint_dir())) and ".model.pt." in str(path):
            raise OSError(28, "No space left on device")
        real(obj, path)

    monkeypatch.setattr(gni_train.torch, "save", fails_for_the_model)
    with pytest.raises(GniError, match=r"model\.pt: cannot be written"):
        train(_smoke(), progress=False)
    assert not ResultsStore().has(_smoke().run_id)  # no record without its weights
    monkeypatch.setattr(gni_train.torch, "save", real)
    result = train(_smoke(), progress=False)
    assert not result.reused
    assert (paths.checkpoint_dir() / _smoke().run_id / "model.pt").is_file()


@pytest.mark.smoke
def test_available_memory_heeds_an_address_space_limit():
    """Issue 23 (re-probe): `ulimit -v` was not seen, and the run died with a traceback."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30));"
        "from gni.resources import available_memory; print(available_memory('cpu'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "the address-space limit (ulimit -v)" in out.stdout, out.stderr
