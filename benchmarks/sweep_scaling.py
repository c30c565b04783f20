"""How a sweep scales on this machine: the same grid on three layouts of the cores.

Trains one 8-run grid of the `cpu` profile (shakespeare_char, baseline and GNI, four
seeds) from an empty results store three times, on a Dask LocalCluster of

  1 worker  x 1 torch thread
  2 workers x 1 torch thread
  1 worker  x 2 torch threads

and prints each sweep's wall time, the speed-ups of 2 workers over the other two, and
the share of the workers' time spent inside training (the rest is start-up,
scheduling, data loading and writing records). Writes JSON.

    .venv/bin/python benchmarks/sweep_scaling.py [--max-iters 600] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from gni.atomic import write_json
from gni.results import ResultsStore
from gni.sweep import run

LAYOUTS = {
    "1 worker x 1 thread": (1, 1),
    "2 workers x 1 thread": (2, 1),
    "1 worker x 2 threads": (1, 2),
}


def grid(max_iters: int | None) -> dict:
    overrides = {} if max_iters is None else {"max_iters": max_iters, "lr_decay_iters": max_iters}
    return {
        "base": {"dataset": "shakespeare_char", "profile": "cpu", "overrides": overrides},
        "axes": {
            "method": [
                {"label": "baseline"},
                {
                    "label": "gni",
                    "noise_schedule": "exponential",
                    "noise_args": {"sigma0": 0.01, "gamma": 0.999},
                },
            ]
        },
        "n_seeds": 4,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--max-iters", type=int, default=None, help="shorten every run (default: the cpu profile's)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("sweep_scaling.json"))
    args = parser.parse_args()

    report: dict = {"runs": 8, "max_iters": args.max_iters, "layouts": {}}
    for name, (workers, threads) in LAYOUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["GNI_CHECKPOINT_DIR"] = str(Path(tmp) / "checkpoints")  # workers inherit
            started = time.perf_counter()
            table = run(
                grid(args.max_iters),
                executor="dask",
                workers=workers,
                threads_per_worker=threads,
                store=ResultsStore(Path(tmp) / "results"),
                progress=False,
            )
            wall = time.perf_counter() - started
        if not table["status"].eq("ok").all():
            raise SystemExit(f"{name}: some runs did not finish:\n{table[['run_id', 'error']]}")
        in_train = float(table["wall_seconds"].sum())  # inside gni.train.train, evals included
        in_steps = float(table["train_seconds"].sum())  # optimizer steps alone
        report["layouts"][name] = {
            "workers": workers,
            "threads": threads,
            "wall_seconds": wall,
            "share_in_training": in_train / (wall * workers),
            "share_in_steps": in_steps / (wall * workers),
            "mean_run_seconds": in_train / len(table),
        }
        print(
            f"{name:<22} {wall:7.1f} s wall, {in_train / len(table):6.1f} s per run, "
            f"{in_train / (wall * workers):5.1%} of worker time in training "
            f"({in_steps / (wall * workers):5.1%} in optimizer steps)"
        )
    walls = {k: v["wall_seconds"] for k, v in report["layouts"].items()}
    report["speedup_2_workers_over_1_worker"] = (
        walls["1 worker x 1 thread"] / walls["2 workers x 1 thread"]
    )
    report["speedup_2_workers_over_1_worker_2_threads"] = (
        walls["1 worker x 2 threads"] / walls["2 workers x 1 thread"]
    )
    print(
        f"speed-up of 2 workers over 1 worker:            "
        f"{report['speedup_2_workers_over_1_worker']:.2f}x (target >= 1.6)"
    )
    print(
        f"speed-up of 2 workers over 1 worker x 2 threads: "
        f"{report['speedup_2_workers_over_1_worker_2_threads']:.2f}x"
    )
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
