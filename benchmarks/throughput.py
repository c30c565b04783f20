"""Training throughput of the `cpu` profile: tokens per second of the trainer's step.

Times `gni.train.Run.train_step` (forward, backward, clipping, noise hook, AdamW) on
shakespeare_char with the `cpu` profile, after a warm-up, for each torch thread count
asked for, interleaving the settings so that a noisy machine affects them alike.
Prints medians and writes JSON.

    .venv/bin/python benchmarks/throughput.py [--steps 30] [--threads 1 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from gni.config import profile_config
from gni.data import TokenData
from gni.train import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="shakespeare_char")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("throughput.json"))
    args = parser.parse_args()

    config = profile_config(args.dataset, args.profile)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    runs = {n: Run(config, data, "cpu") for n in args.threads}
    times: dict[int, list[float]] = {n: [] for n in args.threads}
    for step in range(args.warmup + args.steps):
        for n, run in runs.items():
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            run.train_step()
            if step >= args.warmup:
                times[n].append(time.perf_counter() - t0)

    tokens = config.batch_size * config.block_size
    report = {
        "dataset": config.dataset,
        "profile": config.profile,
        "tokens_per_step": tokens,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "settings": [],
    }
    print(f"{config.dataset}, {config.profile} profile: {tokens} tokens per step")
    for n in args.threads:
        median = statistics.median(times[n])
        report["settings"].append(
            {"threads": n, "median_step_s": median, "tokens_per_s": tokens / median}
        )
        print(f"  {n} thread(s): {median * 1e3:7.1f} ms/step, {tokens / median:9,.0f} tokens/s")
    if len(args.threads) > 1:
        first, last = args.threads[0], args.threads[-1]
        ratio = statistics.median(times[first]) / statistics.median(times[last])
        report["speedup"] = {f"{last}_over_{first}_threads": ratio}
        print(f"  speed-up of {last} threads over {first}: {ratio:.2f}x")
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
