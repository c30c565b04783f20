import math

import pytest
import torch
from scipy import stats

from gni.noise import GradientNoise
from gni.schedules import make_schedule


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in ((50, 40), (40,), (7,))
    ]


def test_noise_at_step_t_is_sigma_t_times_unit_noise_from_the_generator():
    params = _params()
    for p in params:
        p.grad = torch.zeros_like(p)
    schedule = make_schedule("exponential", sigma0=0.5, gamma=0.5)
    noise = GradientNoise(params, schedule, seed=7)
    unit = torch.Generator().manual_seed(7)
    n = sum(p.numel() for p in params)
    for t in range(3):
        before = [p.grad.clone() for p in params]
        assert noise.step() == 0.5 * 0.5**t
        z = torch.randn(n, generator=unit)
        added = torch.cat([(p.grad - b).reshape(-1) for p, b in zip(params, before, strict=True)])
        torch.testing.assert_close(added, 0.5 * 0.5**t * z, rtol=1e-6, atol=1e-7)
    assert noise.t == 3


def test_noise_is_gaussian_with_std_sigma():
    p = torch.nn.Parameter(torch.zeros(20_000))
    p.grad = torch.zeros_like(p)
    GradientNoise([p], make_schedule("constant", sigma0=0.03), seed=1).step()
    assert stats.kstest(p.grad.numpy() / 0.03, "norm").pvalue > 1e-3
    assert abs(p.grad.mean().item()) < 5 * 0.03 / math.sqrt(20_000)


def test_relative_scale_multiplies_sigma_by_the_gradient_rms():
    p = torch.nn.Parameter(torch.zeros(20_000))
    p.grad = torch.full_like(p, 3.0)  # rms 3
    noise = GradientNoise([p], make_schedule("constant", sigma0=0.1), seed=0, scale="relative")
    assert noise.step() == pytest.approx(0.3)
    assert (p.grad - 3.0).std().item() == pytest.approx(0.3, rel=0.03)
    assert noise.last_std == pytest.approx(0.3)


def test_parameters_without_gradient_get_no_noise():
    a, b = _params()[:2]
    a.grad = torch.zeros_like(a)
    GradientNoise([a, b], make_schedule("constant", sigma0=1.0)).step()
    assert b.grad is None and a.grad.abs().sum() > 0


def test_state_dict_resumes_the_same_noise():
    p = torch.nn.Parameter(torch.zeros(100))
    schedule = make_schedule("constant", sigma0=1.0)
    first = GradientNoise([p], schedule, seed=3)
    p.grad = torch.zeros_like(p)
    first.step()
    saved = first.state_dict()
    p.grad = torch.zeros_like(p)
    first.step()
    expected = p.grad.clone()

    second = GradientNoise([p], schedule, seed=99)
    second.load_state_dict(saved)
    p.grad = torch.zeros_like(p)
    second.step()
    assert torch.equal(p.grad, expected) and second.t == 2


def test_bad_scale_is_rejected():
    with pytest.raises(ValueError, match="scale='adaptive'; allowed: absolute, relative"):
        GradientNoise(_params(), make_schedule("none"), scale="adaptive")
