"""Start-up time: what loading results and asking for help cost, against importing torch.

Times fresh subprocesses of this interpreter, interleaved (so a noisy machine slows
every command alike), and prints the medians and their ratios to ``import torch``:

  import gni.results      what a notebook pays to load the run records
  gni --help              the CLI's help (argument parsing, no command run)
  import torch            for reference: what neither of the above should pay

Both gni commands should stay well under ``import torch`` (issue 9). Writes JSON.

    .venv/bin/python benchmarks/startup.py [--repeats 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from gni.atomic import write_json

COMMANDS = {
    "import gni.results": [sys.executable, "-c", "import gni.results"],
    "gni --help": [sys.executable, "-m", "gni", "--help"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def time_once(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs (fill the file cache)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("startup.json"))
    args = parser.parse_args()

    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for r in range(args.warmup + args.repeats):
        for name, command in COMMANDS.items():
            seconds = time_once(command)
            if r >= args.warmup:
                samples[name].append(seconds)
    medians = {name: statistics.median(s) for name, s in samples.items()}
    torch_s = medians["import torch"]
    ratios = {
        "gni_results_over_torch": medians["import gni.results"] / torch_s,
        "gni_help_over_torch": medians["gni --help"] / torch_s,
    }

    print(f"median wall time of a fresh process, {args.repeats} runs each:")
    for name, seconds in medians.items():
        print(f"  {name:<20} {seconds:7.3f} s  ({seconds / torch_s:.2f} x import torch)")
    report = {
        "python": platform.python_version(),
        "torch": version("torch"),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "median_seconds": medians,
        "samples_seconds": samples,
        "ratios": ratios,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
