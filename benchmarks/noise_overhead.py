"""What gradient noise costs: optimizer steps and whole training steps, with and without.

On the `cpu` profile's model (or any profile's), with real gradients from one batch,
times in interleaved repeats (so a noisy machine slows every variant alike):

  (a) AdamW step                              torch.optim.AdamW (foreach; fused on CUDA)
  (b) obvious noise + AdamW                   per tensor: g += sigma * randn_like(g)
  (c) GradientNoise + AdamW                   gni.noise: one randn into a flat buffer
  (d) NoisyAdamW                              gni.optim: foreach here, Triton on CUDA
  (e) NoisyAdamW, anticorrelated              (d) drawing sigma (z_t - z_{t-1}) / sqrt(2)
  randn                                       one torch.randn of as many numbers as parameters
  whole training step without / with noise    gni.train.Run.train_step (GradientNoise)
  whole training step with diagnostics        the same, measuring gni.diagnostics

and what each noise implementation keeps in memory between steps (optimizer state and
noise buffers, after one training step), and prints medians and the ratios the targets
are stated in:
((d) - (a)) / randn <= 1.1 on CPU; step with noise / without <= 1.03; on a GPU,
(d) / fused AdamW <= 1.05; also what anticorrelated noise and the diagnostics add.
Writes JSON for the cost chapter.

    .venv/bin/python benchmarks/noise_overhead.py [--repeats 50] [--device auto] [--out PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from gni.atomic import write_json
from gni.config import profile_config
from gni.data import TokenData
from gni.noise import GradientNoise
from gni.optim import NoisyAdamW, decay_param_groups
from gni.schedules import make_schedule
from gni.train import Run, build_model, resolve_device

SIGMA = 0.01


def _timer(device: str) -> Callable[[Callable[[], object]], float]:
    def time_once(fn: Callable[[], object]) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return time_once


def optimizer_variants(config, data: TokenData, device: str) -> dict[str, Callable[[], object]]:
    """One callable per variant; each owns a copy of the model with the same gradients."""
    schedule = make_schedule("constant", sigma0=SIGMA)
    template = build_model(config, data.vocab_size, device)
    x, y = data.get_batch(
        "train", config.batch_size, config.block_size, torch.Generator().manual_seed(0), device
    )
    _, loss = template(x, y)
    loss.backward()
    cuda = device.startswith("cuda")

    def copy_with_grads() -> torch.nn.Module:
        model = build_model(config, data.vocab_size, device)
        model.load_state_dict(template.state_dict())
        for p, q in zip(model.parameters(), template.parameters(), strict=True):
            p.grad = q.grad.clone()
        return model

    def adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
        groups = decay_param_groups(model, 0.1)
        return torch.optim.AdamW(groups, lr=1e-3, foreach=not cuda, fused=cuda)

    variants: dict[str, Callable[[], object]] = {}
    a = adamw(m_a := copy_with_grads())
    variants["(a) AdamW"] = a.step

    b = adamw(m_b := copy_with_grads())
    grads_b = [p.grad for p in m_b.parameters()]

    def obvious() -> None:
        for g in grads_b:
            g.add_(torch.randn_like(g), alpha=SIGMA)
        b.step()

    variants["(b) randn_like per tensor + AdamW"] = obvious

    c = adamw(m_c := copy_with_grads())
    noise = GradientNoise(m_c.parameters(), schedule, seed=0)

    def gradient_noise() -> None:
        noise.step()
        c.step()

    variants["(c) GradientNoise + AdamW"] = gradient_noise
    d = NoisyAdamW(decay_param_groups(copy_with_grads(), 0.1), lr=1e-3, schedule=schedule)
    variants["(d) NoisyAdamW"] = d.step
    e = NoisyAdamW(
        decay_param_groups(copy_with_grads(), 0.1),
        lr=1e-3,
        schedule=schedule,
        kind="anticorrelated",
    )
    variants["(e) NoisyAdamW, anticorrelated"] = e.step

    n = sum(p.numel() for p in template.parameters())
    buffer = torch.empty(n, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    variants["randn"] = lambda: torch.randn(n, generator=generator, out=buffer)
    del m_a
    return variants


def state_bytes(objects: list[object], model: torch.nn.Module) -> int:
    """Bytes of the distinct tensors that ``objects`` (an optimizer, a noise object) keep
    between steps: optimizer state and noise buffers, not the model's parameters or
    gradients."""
    owned = {t.data_ptr() for p in model.parameters() for t in (p, p.grad) if t is not None}
    found: dict[int, int] = {}

    def visit(x: object, depth: int) -> None:
        if isinstance(x, torch.Tensor):
            if x.data_ptr() not in owned:
                found[x.data_ptr()] = x.numel() * x.element_size()
        elif isinstance(x, dict):
            for value in x.values():
                visit(value, depth)
        elif isinstance(x, list | tuple):
            for value in x:
                visit(value, depth)
        elif depth < 3 and hasattr(x, "__dict__") and not isinstance(x, torch.nn.Module):
            for value in vars(x).values():
                visit(value, depth + 1)

    for obj in objects:
        visit(obj, 0)
    return sum(found.values())


def state_bytes_of_variants(config, data: TokenData, device: str) -> dict[str, int]:
    """What each noise implementation keeps between steps, after one training step:
    the optimizer's state and the noise's buffers (gni.train.Run's optimizer and noise)."""
    variants = {
        "no noise": {},
        "GradientNoise + AdamW": {"noise_impl": "separate"},
        "NoisyAdamW": {"noise_impl": "fused"},
        "NoisyAdamW, anticorrelated": {"noise_impl": "fused", "noise_kind": "anticorrelated"},
        "GradientNoise, anticorrelated": {"noise_impl": "separate", "noise_kind": "anticorrelated"},
    }
    memory = {}
    for name, changes in variants.items():
        noise = {"noise_schedule": "constant", "noise_args": {"sigma0": SIGMA}} if changes else {}
        run = Run(dataclasses.replace(config, **noise, **changes), data, device)
        run.train_step()
        memory[name] = state_bytes([run.optimizer, run.noise], run.model)
    return memory


def step_variants(config, data: TokenData, device: str) -> dict[str, Callable[[], object]]:
    noisy = dataclasses.replace(config, noise_schedule="constant", noise_args={"sigma0": SIGMA})
    return {
        "step without noise": Run(config, data, device).train_step,
        "step with noise": Run(noisy, data, device).train_step,
        "step with noise and diagnostics": Run(
            dataclasses.replace(noisy, diagnostics=True), data, device
        ).train_step,
    }


def measure(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int, device: str
) -> dict[str, list[float]]:
    """Seconds of each call of each variant, after ``warmup`` calls, interleaved."""
    time_once = _timer(device)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(warmup + repeats):
        for name, fn in variants.items():
            seconds = time_once(fn)
            if r >= warmup:
                samples[name].append(seconds)
    return samples


def ratios_of(t: dict[str, float]) -> dict[str, float]:
    a, d, randn = t["(a) AdamW"], t["(d) NoisyAdamW"], t["randn"]
    return {
        "noisy_adamw_extra_over_randn": (d - a) / randn,
        "noisy_adamw_over_adamw": d / a,
        "gradient_noise_adamw_over_adamw": t["(c) GradientNoise + AdamW"] / a,
        "obvious_over_adamw": t["(b) randn_like per tensor + AdamW"] / a,
        "randn_over_adamw": randn / a,
        "randn_over_step": randn / t["step without noise"],
        "step_with_noise_over_without": t["step with noise"] / t["step without noise"],
        "anticorrelated_over_independent": t["(e) NoisyAdamW, anticorrelated"] / d,
        "diagnostics_step_over_step": t["step with noise and diagnostics"] / t["step with noise"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="shakespeare_char")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--step-repeats", type=int, default=20)
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch thread counts to measure (default: 1 and all cores on "
        "CPU; sweeps run one thread per worker)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/noise_overhead_<device>.json"
    )
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    threads = args.threads or (
        [torch.get_num_threads()] if cuda else sorted({1, torch.get_num_threads()})
    )
    config = profile_config(args.dataset, args.profile)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    targets = {"step_with_noise_over_without": 1.03}
    targets["noisy_adamw_over_adamw" if cuda else "noisy_adamw_extra_over_randn"] = (
        1.05 if cuda else 1.1
    )
    n_params = sum(p.numel() for p in build_model(config, data.vocab_size).parameters())
    print(f"{config.profile} profile model, {n_params:,} parameters, device {device}")
    load_before = os.getloadavg()  # 1, 5, 15 minutes: other work on the machine
    by_threads = {}
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        samples = measure(optimizer_variants(config, data, device), args.repeats, 5, device)
        samples |= measure(step_variants(config, data, device), args.step_repeats, 3, device)
        t = {name: statistics.median(s) for name, s in samples.items()}
        ratios = ratios_of(t)
        by_threads[n_threads] = {
            "median_seconds": t,
            "min_seconds": {name: min(s) for name, s in samples.items()},
            "max_seconds": {name: max(s) for name, s in samples.items()},
            "samples_seconds": samples,
            "ratios": ratios,
        }
        print(f"{n_threads} torch thread(s):")
        for name, seconds in t.items():
            print(f"  {name:<36} {seconds * 1e3:9.3f} ms (median)")
        for name, value in ratios.items():
            if name in targets:
                verdict = "met" if value <= targets[name] else "MISSED"
                print(f"  {name:<36} {value:9.3f}  (target <= {targets[name]}: {verdict})")
            else:
                print(f"  {name:<36} {value:9.3f}")

    memory = state_bytes_of_variants(config, data, device)
    for name, n_bytes in memory.items():
        print(f"  {name:<36} {n_bytes / 2**20:9.2f} MiB kept between steps")
    report = {
        "profile": config.profile,
        "dataset": config.dataset,
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if cuda
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "n_params": n_params,
        "sigma": SIGMA,
        "repeats": args.repeats,
        "step_repeats": args.step_repeats,
        "targets": targets,
        "by_threads": by_threads,
        "state_bytes": memory,
        "cpu_count": os.cpu_count(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }
    out = args.out or Path(__file__).with_name(f"noise_overhead_{device.split(':')[0]}.json")
    write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
