"""The results store: one folder per run id, written atomically, read as tidy DataFrames.

A run's record is a folder ``<root>/<run_id>/`` holding

- ``config.json``: the RunConfig's fields;
- ``curves.csv``: one row per evaluation (iter, train_loss, val_loss, lr, sigma, ...);
- ``summary.json``: final and best losses, bpc, throughput, status (``ok`` / ``diverged``).

The folder is built under a temporary name and renamed into place in one step, so a
record is either complete or absent; if two writers race, the first rename wins and
the second discards its copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from gni import paths
from gni.atomic import atomic_dir
from gni.config import RunConfig

RECORD_FILES = ("config.json", "curves.csv", "summary.json")


class ResultsStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.results_dir()

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def has(self, run_id: str) -> bool:
        """True when a complete record exists for ``run_id``."""
        folder = self.path(run_id)
        return all((folder / name).is_file() for name in RECORD_FILES)

    def write(self, config: RunConfig, curves: pd.DataFrame, summary: dict[str, Any]) -> Path:
        """Write a run's record atomically; returns its folder.

        If a complete record for the run already exists (another writer finished
        first), it is kept and this one is discarded.
        """
        final = self.path(config.run_id)
        with atomic_dir(final, complete=lambda folder: self.has(folder.name)) as tmp:
            (tmp / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
            curves.to_csv(tmp / "curves.csv", index=False, float_format="%.6g")
            (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        return final

    def read_summary(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.path(run_id) / "summary.json").read_text())

    def read_config(self, run_id: str) -> RunConfig:
        return RunConfig.from_dict(json.loads((self.path(run_id) / "config.json").read_text()))

    def read_curves(self, run_id: str) -> pd.DataFrame:
        return pd.read_csv(self.path(run_id) / "curves.csv")

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if not p.name.startswith(".") and self.has(p.name)
        )


def config_columns(config: RunConfig) -> dict[str, Any]:
    """A config as table columns (``noise_args`` as its JSON text, so columns stay flat)."""
    row = config.to_dict()
    row["noise_args"] = json.dumps(row["noise_args"], sort_keys=True)
    return row


def _selected(
    store: ResultsStore, run_ids: Iterable[str] | None, where: dict[str, Any]
) -> list[tuple[str, RunConfig]]:
    ids = store.run_ids() if run_ids is None else list(run_ids)
    chosen = []
    for run_id in ids:
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
    """One row per (run, evaluation): the run's config fields, then the curve's columns."""
    store = store or ResultsStore()
    frames = []
    for run_id, config in _selected(store, run_ids, where):
        curves = store.read_curves(run_id)
        for name, value in {"run_id": run_id, **config_columns(config)}.items():
            curves[name] = value
        frames.append(curves)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
