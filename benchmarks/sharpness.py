"""What the sharpness probe costs on the `cpu` profile's model, on one core.

Probes one `cpu`-profile model of shakespeare_char: a baseline run's final weights when a
`shakespeare_char-cpu-none-*` run of the current recipe has left them in the checkpoint
folder, else a freshly built model (its initial weights). On one torch thread, prints:

  the whole probe                gni.probes.probe_model, the sweep probe's settings;
                                 target: under 1 minute
  one HVP, two ways              double backward vs torch.func (jvp of grad), interleaved
                                 repeats, medians; the probe uses the faster
  HVPs to the top eigenvalue(s)  eigsh (implicitly restarted Lanczos) vs power iteration
                                 with deflation, at the same tolerance
                                 (||H v - theta v|| <= tol |theta|)

with the ratios measured in this one run, and the load average before and after (a busy
machine slows everything alike; the ratios hold, the seconds are pessimistic). Writes JSON.

    .venv/bin/python benchmarks/sharpness.py [--repeats 5] [--power-k 1 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from gni import paths
from gni.atomic import write_json
from gni.config import RunConfig, profile_config
from gni.data import TokenData
from gni.probes import ProbeSettings, load_final_model, probe_batches, probe_model
from gni.sharpness import (
    HVP_METHODS,
    Objective,
    flat_parameters,
    power_iteration,
    top_eigenvalues,
)
from gni.train import build_model

TARGET_SECONDS = 60.0  # the whole probe of one cpu-profile run, one core


def find_run() -> RunConfig | None:
    """A shakespeare_char cpu baseline whose final weights are here: the profile's own
    config (seed 0, 1, ...) first, then any `shakespeare_char-cpu-none-*` of this recipe."""
    root = paths.checkpoint_dir()
    for seed in range(10):
        config = profile_config("shakespeare_char", "cpu", seed)
        if (root / config.run_id / "model.pt").is_file():
            return config
    weights = root.glob("shakespeare_char-cpu-none-*/model.pt")
    for path in sorted(weights, key=lambda p: p.stat().st_mtime, reverse=True):
        config = RunConfig.from_dict(torch.load(path, weights_only=True)["config"])
        if config.run_id == path.parent.name:  # made by this recipe
            return config
    return None


def time_hvps(batches: list, model: torch.nn.Module, repeats: int) -> dict[str, float]:
    """Median seconds of one HVP (over all probe batches) per method, interleaved."""
    objectives = {m: Objective(model, batches, hvp_method=m) for m in HVP_METHODS}
    v = torch.randn(objectives[HVP_METHODS[0]].n, generator=torch.Generator().manual_seed(0))
    samples: dict[str, list[float]] = {m: [] for m in HVP_METHODS}
    for r in range(repeats + 1):  # the first round warms up
        for method, obj in objectives.items():
            t0 = time.perf_counter()
            obj.hvp(v)
            if r:
                samples[method].append(time.perf_counter() - t0)
    return {m: statistics.median(s) for m, s in samples.items()}


def compare_eigensolvers(obj: Objective, k: int, settings: ProbeSettings) -> dict:
    eigsh_result = top_eigenvalues(obj, k, settings.tol, settings.seed)
    power = power_iteration(obj, k, settings.tol, settings.seed, max_hvp=2000)
    difference = np.abs(power.values - eigsh_result.values) / np.abs(eigsh_result.values)
    return {
        "k": k,
        "tol": settings.tol,
        "eigsh_eigenvalues": eigsh_result.values.tolist(),
        "power_eigenvalues": power.values.tolist(),
        "max_relative_difference": float(difference.max()),
        "eigsh_hvps": eigsh_result.n_hvp,
        "power_hvps": power.n_hvp,
        "power_over_eigsh_hvps": power.n_hvp / eigsh_result.n_hvp,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="HVPs timed per method")
    parser.add_argument(
        "--power-k",
        type=int,
        nargs="+",
        default=[1, ProbeSettings().k],
        help="numbers of top eigenvalues to compare eigsh and power iteration on",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("sharpness_cpu.json"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    settings = ProbeSettings()
    config = find_run()
    if config is None:
        config = profile_config("shakespeare_char", "cpu")
        data = TokenData(config.dataset, config.data_bytes, config.train_chars)
        model = build_model(config, data.vocab_size)
        initial, weights = flat_parameters(model), "initial (no checkpoint found)"
    else:
        model, initial, data = load_final_model(config)
        weights = f"final weights of {config.run_id}"
    batches = probe_batches(
        data,
        settings.split,
        settings.n_batches,
        settings.batch_size,
        config.block_size,
        settings.seed,
    )
    n_params = flat_parameters(model).numel()
    print(f"cpu profile model, {n_params:,} parameters, {weights}; 1 torch thread")

    t0 = time.perf_counter()
    probe = probe_model(model, initial, batches, settings)
    probe_seconds = time.perf_counter() - t0
    verdict = "met" if probe_seconds <= TARGET_SECONDS else "MISSED"
    print(
        f"whole probe: {probe_seconds:.1f} s, {probe['hvps']} HVPs "
        f"(target <= {TARGET_SECONDS:.0f} s: {verdict})"
    )
    for part, seconds in probe["seconds_by_part"].items():
        print(f"  {part:<20} {seconds:7.1f} s")

    hvp_seconds = time_hvps(batches, model, args.repeats)
    func_over_double = hvp_seconds["forward_over_reverse"] / hvp_seconds["double_backward"]
    for method, seconds in hvp_seconds.items():
        print(f"one HVP, {method:<22} {seconds:7.3f} s (median of {args.repeats})")
    print(f"  torch.func / double backward: {func_over_double:.2f}")

    eigensolvers = []
    for k in args.power_k:
        row = compare_eigensolvers(Objective(model, batches), k, settings)
        eigensolvers.append(row)
        print(
            f"top {k} to tol={settings.tol}: eigsh {row['eigsh_hvps']} HVPs, power iteration "
            f"{row['power_hvps']} HVPs (ratio {row['power_over_eigsh_hvps']:.2f}; eigenvalues "
            f"agree to {row['max_relative_difference']:.1e})"
        )
    load_after = os.getloadavg()
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")

    report = {
        "profile": config.profile,
        "dataset": config.dataset,
        "weights": weights,
        "device": "cpu",
        "device_name": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "n_params": n_params,
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "target_probe_seconds": TARGET_SECONDS,
        "probe_seconds": probe_seconds,
        "probe": probe,
        "hvp_repeats": args.repeats,
        "hvp_median_seconds": hvp_seconds,
        "forward_over_reverse_over_double_backward": func_over_double,
        "eigensolvers": eigensolvers,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
