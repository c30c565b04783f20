"""UpdateProbe on a problem whose answer is known: a linear loss under AdamW with noise.

With the loss <c, theta> the gradient is c everywhere (per-entry size g0, signs mixed).
Adam's second moment then tends to g0^2 + sigma^2 + b^2 (noise sigma, minibatch spread
b), so each entry steps lr * g0 / sqrt(g0^2 + sigma^2 + b^2) along -c per step, up to
the small bias of E[1 / sqrt(v)] over 1 / sqrt(E v) (v averages ~100 steps at beta2 =
0.99). The tolerances below are a few times that bias.
"""

import math

import pytest
import torch

from gni.diagnostics import UpdateProbe
from gni.noise import GradientNoise
from gni.schedules import Constant

N, LR, G0 = 4_000, 1e-3, 1e-3


def _linear_problem(sigma: float, spread: float, steps: int = 500, measure_from: int = 250):
    generator = torch.Generator().manual_seed(0)
    c = G0 * torch.where(torch.rand(N, generator=generator) < 0.5, -1.0, 1.0)
    weight = torch.nn.Parameter(torch.zeros(N))
    optimizer = torch.optim.AdamW([weight], lr=LR, betas=(0.9, 0.99), weight_decay=0.0)
    noise = GradientNoise([weight], Constant(sigma), seed=1)
    probe = UpdateProbe([("weight", weight)])
    for t in range(steps):
        optimizer.zero_grad()
        weight.grad = c + spread * torch.randn(N, generator=generator)
        probe.before_noise()
        noise.step()
        optimizer.step()
        probe.after_step(noise.last_std)
        if t == measure_from - 1:
            probe.row()  # forget the first steps, while Adam's moments settle
    return probe.row(optimizer)


@pytest.mark.parametrize("ratio", [0.0, 1.0, 4.0])
def test_the_step_along_the_gradient_shrinks_as_adam_sees_the_noise(ratio):
    sigma = ratio * G0
    row = _linear_problem(sigma, spread=0.0)
    expected = math.sqrt(N) * LR * G0 / math.sqrt(G0**2 + sigma**2)
    assert row["signal_step"] == pytest.approx(expected, rel=0.04)
    assert row["noise_ratio/weight"] == pytest.approx(ratio, rel=1e-5)
    assert row["adam_v/weight"] == pytest.approx(G0**2 + sigma**2, rel=0.05)
    assert row["grad_rms"] == pytest.approx(G0, rel=1e-5)
    assert row["grad_spread_rms"] == pytest.approx(0.0, abs=1e-12)  # c never changes
    assert row["step_norm"] >= row["signal_step"] * (1 - 1e-9)


def test_the_minibatch_spread_is_measured_from_consecutive_gradients():
    row = _linear_problem(sigma=0.0, spread=2 * G0)
    assert row["grad_spread_rms"] == pytest.approx(2 * G0, rel=0.02)
    assert row["adam_v/weight"] == pytest.approx(G0**2 + (2 * G0) ** 2, rel=0.05)
    # the step is measured along the minibatch gradient g_t = c + b eps_t: the drift
    # lr c / sqrt(v) projects to lr g0^2 / sqrt(v) per entry, and the step's own share of
    # eps_t, (1 - beta1) lr b eps_t / sqrt(v), adds (1 - beta1) lr b^2 / sqrt(v)
    b, v = 2 * G0, G0**2 + (2 * G0) ** 2
    expected = math.sqrt(N) * LR * (G0**2 + 0.1 * b**2) / (math.sqrt(v) * math.sqrt(G0**2 + b**2))
    assert row["signal_step"] == pytest.approx(expected, rel=0.04)


def test_an_interval_without_steps_is_nan_and_the_probe_only_reads():
    weight = torch.nn.Parameter(torch.ones(3))
    probe = UpdateProbe([("w", weight)])
    row = probe.row()
    assert math.isnan(row["signal_step"]) and math.isnan(row["noise_ratio/w"])
    weight.grad = torch.tensor([1.0, 2.0, 3.0])
    probe.before_noise()
    probe.after_step(0.5)
    assert torch.equal(weight, torch.ones(3)) and torch.equal(
        weight.grad, torch.tensor([1.0, 2.0, 3.0])
    )
    row = probe.row()
    assert row["signal_step"] == 0.0 and row["noise_ratio/w"] == pytest.approx(
        0.5 * math.sqrt(3) / math.sqrt(14)
    )
