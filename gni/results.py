"""The results store: one folder per run id, written atomically, read as tidy DataFrames.

A run's record is a folder ``<root>/<run_id>/`` holding

- ``config.json``: the RunConfig's fields;
- ``curves.csv``: one row per evaluation (iter, train_loss, val_loss, lr, sigma, ...);
- ``summary.json``: final and best losses, bpc, throughput, status (``ok`` / ``diverged``).

The folder is built under a temporary name and renamed into place in one step, so a
record is either complete or absent; if two writers race, the first rename wins and
the second discards its copy (:meth:`ResultsStore.write` says which happened).
Temporaries left by a killed writer are removed an hour later, by the next write or read.

A record that cannot be read (a truncated file, a git merge conflict, an empty
``curves.csv``) is reported on stderr, once, by path and error, and treated as missing:
readers skip it, and the trainer retrains it. The new record's write moves the unreadable
one aside to ``<root>/.corrupt/<run_id>-<time>/`` (git-ignored) rather than deleting it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gni import GniError, paths
from gni.atomic import atomic_dir_write, remove_stale_temporaries
from gni.config import RunConfig
from gni.untrusted import shown

__all__ = [
    "ADDED_SUMMARY_FIELDS",
    "CORRUPT",
    "CURVE_COLUMNS",
    "MIN_FREE_BYTES",
    "RECORD_FILES",
    "SUMMARY_FIELDS",
    "RecordError",
    "ResultsStore",
    "config_columns",
    "load_curves",
    "load_runs",
    "read_extra",
    "warn",
]

#: The files of every record (a folder named by its run id).
RECORD_FILES = ("config.json", "curves.csv", "summary.json")
#: The columns of every evaluation's row in curves.csv
CURVE_COLUMNS = ("iter", "train_loss", "val_loss")
# What every summary holds (gni.train writes them all), with the type of each: a
# number field may be null (a loss of a split a dataset lacks, of a diverged run)
_NUMBER = (int, float, type(None))
#: What every summary holds (gni.train writes them all), with the type of each.
SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,),
    "status": (str,),
    "iters_done": (int,),
    "final_train_loss_eval": _NUMBER,
    "final_train_loss_minibatch": _NUMBER,
    "best_val_loss": _NUMBER,
    "best_val_iter": _NUMBER,
    "final_val_loss": _NUMBER,
    "final_val_bpc": _NUMBER,
    "final_test_loss": _NUMBER,
    "final_test_bpc": _NUMBER,
    "wall_seconds": _NUMBER,
    "recipe_version": (int,),
}
#: Fields added after records were made; checked where present (older records lack them)
ADDED_SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {"test_loss_at_best_val": _NUMBER}
#: Where unreadable records are moved aside (hidden; git-ignored)
CORRUPT = ".corrupt"
#: A sweep does not start with less free space than this
MIN_FREE_BYTES = 1 << 20
_warned: set[tuple[str, int]] = set()  # (message, mtime) already reported by this process


class RecordError(GniError, FileNotFoundError):
    """A record file that is missing or unreadable; the message names its path."""


def warn(message: str, key: int = 0) -> None:
    """One line on stderr, once per process for the same message (and ``key``)."""
    if (message, key) not in _warned:
        _warned.add((message, key))
        print(f"gni: warning: {message}", file=sys.stderr, flush=True)


def _parse(path: Path) -> Any:
    """The content of one record file; ValueError saying what is wrong with it."""
    if path.suffix == ".json":
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        if path.name == "config.json":
            return RunConfig.from_dict(value)
        if not isinstance(value.get("status"), str):
            raise ValueError("no status")
        return value
    curves = pd.read_csv(path)
    if "iter" not in curves.columns:
        raise ValueError("no iter column")
    if curves.empty:
        raise ValueError("no rows")
    steps = curves["iter"]
    if not (pd.api.types.is_integer_dtype(steps) and steps.is_monotonic_increasing):
        raise ValueError("the iter column is not increasing integers")
    if not steps.is_unique:
        raise ValueError("the iter column repeats a step")
    return curves


def _curves_problem(summary: dict[str, Any], curves: pd.DataFrame) -> str | None:
    """Why a finished run's curves are not whole (cut at a row, say), or None: they hold
    the evaluation columns, and a run that finished evaluated at its last step."""
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        return f"lacks the column(s) {', '.join(missing)}"
    if summary["status"] != "ok":
        return None  # a diverged run stops where it stopped
    last = curves.iloc[-1]
    if int(last["iter"]) != summary["iters_done"] - 1 or last[list(CURVE_COLUMNS)].isna().any():
        return (
            f"ends at step {int(last['iter'])} with {last[list(CURVE_COLUMNS)].to_dict()}, "
            f"but the run finished at step {summary['iters_done'] - 1} (cut short?)"
        )
    return None


def _address_problem(run_id: str, value: Any) -> str | None:
    """Why a parsed record file is not run ``run_id``'s (the store is addressed by the
    hash of each run's settings: a folder must hold the run its name says), or None."""
    if isinstance(value, RunConfig):
        if value.run_id != run_id:
            return f"holds the config of run {value.run_id}, not of {run_id}"
    elif isinstance(value, dict):
        missing = [f for f in SUMMARY_FIELDS if f not in value]
        if missing:
            return f"lacks {', '.join(missing)}"
        wrong = [
            f"{field}={shown(value[field])}"
            for field, types in (SUMMARY_FIELDS | ADDED_SUMMARY_FIELDS).items()
            if field in value
            and (isinstance(value[field], bool) or not isinstance(value[field], types))
        ]
        if wrong:
            return f"has field(s) of the wrong type: {', '.join(wrong)}"
        if value["run_id"] != run_id:
            return f"is the summary of run {shown(value['run_id'])}, not of {run_id}"
    return None


def _aside(root: Path, name: str) -> Path:
    """Where something unreadable of the store at ``root`` goes:
    ``<root>/.corrupt/<name>-<time>`` (the folder made, the name free)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    (root / CORRUPT).mkdir(parents=True, exist_ok=True)
    return root / CORRUPT / f"{name}-{stamp}"


def read_extra(path: Path) -> dict[str, Any]:
    """A JSON object that a probe or an interpolation added to a record's folder
    (``probe_<name>.json``, ``interpolation_<run id>.json``); RecordError naming ``path``
    if it is missing or unreadable. An unreadable one (truncated, say) is first moved
    aside to ``<store>/.corrupt/``, so that whoever wrote it writes it again."""
    try:
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, found {type(value).__name__}")
        return value
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except (ValueError, OSError) as e:
        aside = _aside(path.parent.parent, f"{path.parent.name}-{path.name}")
        with contextlib.suppress(FileNotFoundError):  # another reader moved it first
            os.rename(path, aside)
        warn(f"moved the unreadable {path} aside to {aside}")
        raise RecordError(f"{path}: {type(e).__name__}: {e}") from None


class ResultsStore:
    """The run records under ``root`` (default: ``gni.paths.results_dir()``), one folder
    per run id (:data:`RECORD_FILES`), written atomically, first writer kept."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.results_dir()
        self._tidied = False

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def _tidy(self, again: bool = False) -> None:
        """Remove stale temporaries of killed writers (once per store, unless ``again``)."""
        if again or not self._tidied:
            self._tidied = True
            remove_stale_temporaries(self.root)

    def _read(self, run_id: str, name: str) -> Any:
        """One parsed record file; RecordError naming the path if missing, unreadable,
        or not of this run (:func:`_address_problem`)."""
        self._tidy()
        path = self.path(run_id) / name
        try:
            value = _parse(path)
        except FileNotFoundError:
            raise RecordError(f"{path}: no such file") from None
        except (ValueError, TypeError, OSError) as e:
            raise RecordError(f"{path}: {type(e).__name__}: {e}") from None
        if problem := _address_problem(run_id, value):
            raise RecordError(f"{path}: {problem}")
        return value

    def has(self, run_id: str) -> bool:
        """True when a complete, readable record exists for ``run_id``.

        A record with an unreadable or missing file is reported (once) and is not one.
        """
        self._tidy()
        folder = self.path(run_id)
        if not any((folder / name).is_file() for name in RECORD_FILES):
            return False  # nothing there: no record, nothing to report
        try:
            self.read_config(run_id)
            self.read_curves(run_id)  # and the summary it is checked against
        except RecordError as e:
            warn(f"{e}; the record is treated as missing", _mtime(folder))
            return False
        return True

    def write(
        self, config: RunConfig, curves: pd.DataFrame, summary: dict[str, Any]
    ) -> tuple[Path, bool]:
        """Write a run's record atomically; returns its folder, and whether this record
        was kept: False when a complete record for the run already existed (another
        writer finished first), which is then kept and this one discarded.
        An unreadable record in the way is moved aside (:meth:`set_aside`).
        """
        self._tidy(again=True)
        run_id = config.run_id
        final = self.path(run_id)
        if final.exists() and not self.has(run_id):
            self.set_aside(run_id)
        try:
            with atomic_dir_write(final, complete=lambda folder: self.has(folder.name)) as write:
                config_text = json.dumps(config.to_dict(), indent=1) + "\n"
                (write.tmp / "config.json").write_text(config_text)
                curves.to_csv(write.tmp / "curves.csv", index=False, float_format="%.6g")
                (write.tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        except OSError as e:  # a disk that filled up during the run, say
            raise GniError(
                f"{final}: the record cannot be written ({e.strerror or e}); free some space "
                "in the results store, and run again (the checkpoint resumes the run)"
            ) from None
        return final, write.kept

    def set_aside(self, run_id: str) -> Path | None:
        """Move the record folder of ``run_id`` to ``<root>/.corrupt/<run_id>-<time>/``.

        Returns where it went; None when it was gone already (another writer moved it).
        """
        aside = _aside(self.root, run_id)
        try:
            os.rename(self.path(run_id), aside)
        except FileNotFoundError:
            return None
        warn(f"moved the unreadable record {self.path(run_id)} aside to {aside}")
        return aside

    def check_writable(self) -> None:
        """GniError naming the folder if no record can be written there (checked before
        a sweep starts its runs, rather than each run failing)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
            free = shutil.disk_usage(self.root).free
        except OSError as e:
            raise GniError(
                f"{self.root}: cannot write records there ({e.strerror or e}); make it "
                "writable, or set GNI_RESULTS_DIR to a folder that is"
            ) from None
        if free < MIN_FREE_BYTES:
            raise GniError(
                f"{self.root}: {free:,} bytes free, but a record needs up to {MIN_FREE_BYTES:,}; "
                "free some space, or set GNI_RESULTS_DIR to a folder with room"
            )

    def read_summary(self, run_id: str) -> dict[str, Any]:
        return self._read(run_id, "summary.json")

    def read_config(self, run_id: str) -> RunConfig:
        return self._read(run_id, "config.json")

    def read_curves(self, run_id: str) -> pd.DataFrame:
        """A run's curves; RecordError naming the file if they are not whole."""
        curves = self._read(run_id, "curves.csv")
        if problem := _curves_problem(self._read(run_id, "summary.json"), curves):
            raise RecordError(f"{self.path(run_id) / 'curves.csv'}: {problem}")
        return curves

    def run_ids(self) -> list[str]:
        """The run ids with a complete, readable record (unreadable ones are reported)."""
        self._tidy()
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if not p.name.startswith(".") and self.has(p.name)
        )


def _mtime(path: Path) -> int:
    """The newest modification time of a folder's record files (0 if none)."""
    times = [0]
    for name in RECORD_FILES:
        with contextlib.suppress(OSError):
            times.append((path / name).stat().st_mtime_ns)
    return max(times)


def config_columns(config: RunConfig) -> dict[str, Any]:
    """A config as table columns (``noise_args`` as its JSON text, so columns stay flat)."""
    row = config.to_dict()
    row["noise_args"] = json.dumps(row["noise_args"], sort_keys=True)
    return row


def _selected(
    store: ResultsStore, run_ids: Iterable[str] | None, where: dict[str, Any]
) -> list[tuple[str, RunConfig]]:
    """The runs asked for that match ``where``; an unreadable record is reported and left
    out, a missing one (asked for by id) raises RecordError."""
    ids = store.run_ids() if run_ids is None else list(run_ids)
    chosen = []
    for run_id in ids:
        if run_ids is not None and not store.has(run_id):
            if any((store.path(run_id) / name).exists() for name in RECORD_FILES):
                continue  # unreadable: has() reported it
            store.read_config(run_id)  # raises: no record
        config = store.read_config(run_id)
        if all(getattr(config, k) == v for k, v in where.items()):
            chosen.append((run_id, config))
    return chosen


def load_runs(
    run_ids: Iterable[str] | None = None,
    store: ResultsStore | None = None,
    **where: Any,
) -> pd.DataFrame:
    """One row per run: its config fields, then its summary.

    ``run_ids`` selects runs (default: all in the store); keyword arguments keep runs
    whose config field equals the value, e.g. ``load_runs(dataset="text8", profile="cpu")``.
    Unreadable records are reported on stderr and left out.
    """
    store = store or ResultsStore()
    rows = []
    for run_id, config in _selected(store, run_ids, where):
        rows.append({"run_id": run_id, **config_columns(config), **store.read_summary(run_id)})
    return pd.DataFrame(rows)


def load_curves(
    run_ids: Iterable[str] | None = None,
    store: ResultsStore | None = None,
    **where: Any,
) -> pd.DataFrame:
    """One row per (run, evaluation): the run's config fields, then the curve's columns.

    Unreadable records are reported on stderr and left out.
    """
    store = store or ResultsStore()
    frames = []
    for run_id, config in _selected(store, run_ids, where):
        curves = store.read_curves(run_id)
        for name, value in {"run_id": run_id, **config_columns(config)}.items():
            curves[name] = value
        frames.append(curves)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
