"""Where gni keeps data, run records and checkpoints.

Each location can be set by an environment variable; otherwise it lives in the project
checkout (when gni runs from one) or in ``~/.cache/gni`` (when gni is pip-installed).

- ``GNI_DATA_DIR``: downloaded and prepared datasets (never committed).
- ``GNI_DATA_MIRROR``: a folder of dataset files tried before the network (read only).
- ``GNI_RESULTS_DIR``: the results store, one folder per run (committed in the book).
- ``GNI_CHECKPOINT_DIR``: checkpoints for resuming runs (never committed).

A relative path means relative to the directory where it was set: the working directory
of the process that first imports gni. :func:`export_absolute` rewrites such values in
``os.environ`` as absolute paths, so that every process gni starts (papermill kernels,
which run in ``notebooks/``; sweep workers) finds the same folders.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLES = ("GNI_DATA_DIR", "GNI_DATA_MIRROR", "GNI_RESULTS_DIR", "GNI_CHECKPOINT_DIR")


def export_absolute() -> None:
    """Make every relative ``GNI_*`` path in ``os.environ`` absolute (against the cwd)."""
    for variable in VARIABLES:
        value = os.environ.get(variable)
        if value and not Path(value).expanduser().is_absolute():
            os.environ[variable] = str(Path.cwd() / Path(value).expanduser())


def home() -> Path:
    """The project checkout holding this package, or ``~/.cache/gni`` outside one."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "gni").is_dir():
        return checkout
    return Path.home() / ".cache" / "gni"


def _from_env(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().absolute() if value else home() / default


def data_dir() -> Path:
    return _from_env("GNI_DATA_DIR", "data")


def results_dir() -> Path:
    return _from_env("GNI_RESULTS_DIR", "results")


def checkpoint_dir() -> Path:
    return _from_env("GNI_CHECKPOINT_DIR", "checkpoints")


def data_mirror() -> Path | None:
    """The mirror folder (absolute), or None when ``GNI_DATA_MIRROR`` is unset or empty."""
    value = os.environ.get("GNI_DATA_MIRROR")
    return Path(value).expanduser().absolute() if value else None
