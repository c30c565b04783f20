"""Paired runs for a GPU: for each seed, the baseline and the same run with noise.

``gni pairs`` trains, seed by seed, a profile's baseline (with the given overrides) and
the same settings plus a noise setting, one run after the other; each is an ordinary
record of the results store, labelled with the device it trained on (``summary.json``'s
``device``), so an interrupted command resumes from the runs' checkpoints and a repeated
one reuses what is stored. The ``paper`` profile is meant for a CUDA GPU: asked to run it
on ``--device auto`` where there is none, it refuses before it reads any data.

Losses are in nats per character; a difference is noise minus baseline, paired by seed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from gni import GniError
from gni.config import RunConfig, make_config
from gni.stats import paired_comparison
from gni.untrusted import shown
from gni.validation import check_seeds

__all__ = [
    "PAPER_NOISE",
    "check_device_for",
    "differences",
    "pair_configs",
    "pair_table",
    "parse_seeds",
]

#: chapter 1's setting of the paper's schedule; sigma_t = 0.01 * 0.99^t, after clipping
PAPER_NOISE = {"noise_schedule": "exponential", "noise_args": {"sigma0": 0.01, "gamma": 0.99}}
MEASURES = ("best_val_loss", "final_val_loss", "test_loss_at_best_val")
MAX_PAIRS = 1000  # seeds one command may train


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1000-1003"`` (inclusive) or ``"1000,1002"`` -> the seeds; GniError otherwise."""
    found = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text, re.ASCII)
    if found:
        first, last = int(found[1]), int(found[2])
        if last < first or last - first >= MAX_PAIRS:
            raise GniError(
                f"--seeds {shown(text)}: a range first-last with first <= last and at most "
                f"{MAX_PAIRS:,} seeds"
            )
        return tuple(range(first, last + 1))
    parts = [p.strip() for p in text.split(",")]
    if not all(re.fullmatch(r"\d+", p, re.ASCII) for p in parts):
        raise GniError(f"--seeds {shown(text)}: allowed: first-last or a comma-separated list")
    return check_seeds("--seeds", [int(p) for p in parts])


def check_device_for(profile: str, device: str, cuda_available: bool) -> None:
    """Refuse ``paper`` on ``--device auto`` without CUDA (hours a run on a CPU); an explicit
    ``--device cpu`` is the caller's choice (a tiny override, a test)."""
    if profile == "paper" and device == "auto" and not cuda_available:
        raise GniError(
            "profile paper needs a CUDA GPU and none is available here; run it where PyTorch "
            "finds one, or pass --device cpu with small --set overrides to try it"
        )


def pair_configs(
    dataset: str,
    profile: str,
    seeds: Sequence[int],
    overrides: Mapping[str, Any],
    noise: Mapping[str, Any],
) -> list[tuple[RunConfig, RunConfig]]:
    """(baseline, noisy) configs per seed: ``overrides`` in both, ``noise`` in the second."""
    if not noise:
        raise GniError("the noise setting is empty: give at least one --noise KEY=VALUE")
    shared = sorted(set(noise) & set(overrides))
    if shared:
        raise GniError(f"{', '.join(shared)} set both by --set and --noise; give it once")
    return [
        (
            make_config(dataset, profile, seed, dict(overrides)),
            make_config(dataset, profile, seed, {**overrides, **noise}),
        )
        for seed in seeds
    ]


def pair_table(
    pairs: Sequence[tuple[RunConfig, RunConfig]],
    train_one: Callable[[RunConfig], dict[str, Any]],
) -> pd.DataFrame:
    """Train (or reuse) each pair with ``train_one`` (a config -> its summary), in order;
    one row per seed: each arm's ``MEASURES``, run id, status and device."""
    rows = []
    for baseline, noisy in pairs:
        row: dict[str, Any] = {"seed": baseline.seed}
        for arm, config in (("baseline", baseline), ("noise", noisy)):
            summary = train_one(config)
            row |= {f"{arm}_{m}": summary.get(m) for m in MEASURES}
            row |= {
                f"{arm}_run_id": config.run_id,
                f"{arm}_status": summary.get("status"),
                f"{arm}_device": summary.get("device"),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def differences(table: pd.DataFrame) -> dict[str, Any]:
    """Per measure: noise - baseline paired by seed (:func:`gni.stats.paired_comparison`)."""
    out = {}
    for m in MEASURES:
        base = pd.to_numeric(table[f"baseline_{m}"], errors="coerce")
        noisy = pd.to_numeric(table[f"noise_{m}"], errors="coerce")
        if base.notna().any() and noisy.notna().any():
            out[m] = paired_comparison(base.to_numpy(float), noisy.to_numpy(float))
    return out
