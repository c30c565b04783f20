"""Training throughput: tokens per second of the trainer's step, with and without noise.

Times `gni.train.Run.train_step` (forward, backward, clipping, noise, optimizer) after a
warm-up, for three variants of one config: no noise (AdamW: torch's fused kernel on
CUDA, its foreach path on CPU), noise applied separately (`GradientNoise`, then that
AdamW: noise_impl="separate") and noise fused into the update (`NoisyAdamW`: its Triton
kernel on CUDA, foreach on CPU: noise_impl="fused"); on CPU also for each torch thread
count asked for. Settings are interleaved step by step, so a noisy machine affects them
alike; ratios are of medians measured in this one run. Prints them and writes JSON.

    .venv/bin/python benchmarks/throughput.py [--steps 30] [--threads 1 2] [--device auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from gni.atomic import write_json
from gni.config import profile_config
from gni.data import TokenData
from gni.train import Run, resolve_device

NOISE = {"noise_schedule": "exponential", "noise_args": {"sigma0": 1e-3, "gamma": 0.999}}
VARIANTS = {
    "no noise": {},
    "separate noise": dict(NOISE, noise_impl="separate"),
    "fused noise": dict(NOISE, noise_impl="fused"),
}


def _time_steps(runs: dict, device: str, warmup: int, steps: int) -> dict:
    """Seconds of each timed step of each run, timed in turn, step by step."""
    times: dict = {key: [] for key in runs}
    for step in range(warmup + steps):
        for (variant, threads), run in runs.items():
            torch.set_num_threads(threads)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run.train_step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if step >= warmup:
                times[(variant, threads)].append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="shakespeare_char")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    parser.add_argument("--out", type=Path, default=None, help="default: throughput_<device>.json")
    args = parser.parse_args()

    device = resolve_device(args.device)
    threads = args.threads if device == "cpu" else [torch.get_num_threads()]
    base = profile_config(args.dataset, args.profile)
    data = TokenData(base.dataset, base.data_bytes, base.train_chars)
    runs = {
        (variant, n): Run(dataclasses.replace(base, **changes), data, device)
        for variant, changes in VARIANTS.items()
        for n in threads
    }
    load_before = os.getloadavg()  # 1, 5, 15 minutes: other work on the machine
    samples = _time_steps(runs, device, args.warmup, args.steps)
    median = {key: statistics.median(t) for key, t in samples.items()}

    tokens = base.batch_size * base.block_size
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.machine()
    report = {
        "dataset": base.dataset,
        "profile": base.profile,
        "device": device,
        "device_name": name,
        "tokens_per_step": tokens,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "noise": NOISE,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "settings": [],
        "ratios": {},
    }
    print(f"{base.dataset}, {base.profile} profile on {device} ({name}): {tokens} tokens/step")
    for (variant, n), seconds in median.items():
        report["settings"].append(
            {
                "variant": variant,
                "threads": n,
                "median_step_s": seconds,
                "min_step_s": min(samples[(variant, n)]),
                "max_step_s": max(samples[(variant, n)]),
                "tokens_per_s": tokens / seconds,
            }
        )
        print(
            f"  {variant:15} {n} thread(s): {seconds * 1e3:7.1f} ms/step, "
            f"{tokens / seconds:9,.0f} tok/s"
        )
    for n in threads:
        ratios = {
            f"separate_over_no_noise_{n}t": median[("separate noise", n)] / median[("no noise", n)],
            f"fused_over_no_noise_{n}t": median[("fused noise", n)] / median[("no noise", n)],
            f"fused_over_separate_{n}t": median[("fused noise", n)] / median[("separate noise", n)],
        }
        report["ratios"].update(ratios)
        print("  " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    if len(threads) > 1:
        first, last = threads[0], threads[-1]
        speedup = median[("no noise", first)] / median[("no noise", last)]
        report["ratios"][f"no_noise_{last}t_speedup_over_{first}t"] = speedup
        print(f"  speed-up of {last} threads over {first} (no noise): {speedup:.2f}x")
    out = args.out or Path(__file__).with_name(f"throughput_{device.split(':')[0]}.json")
    write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
