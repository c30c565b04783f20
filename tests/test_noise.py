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
    std = noise.step()
    assert isinstance(std, torch.Tensor) and std.dim() == 0  # not synced to a float
    assert float(std) == pytest.approx(0.3)
    assert (p.grad - 3.0).std().item() == pytest.approx(0.3, rel=0.03)
    assert noise.last_std is std


def test_relative_noise_does_not_wait_for_the_device(monkeypatch):
    params = _params()
    for p in params:
        p.grad = torch.ones_like(p)
    noise = GradientNoise(params, make_schedule("constant", sigma0=0.1), scale="relative")

    def sync(*args, **kwargs):
        raise AssertionError("the noise step read a tensor's value on the host")

    for name in ("item", "tolist", "__float__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    noise.step()
    monkeypatch.undo()
    assert float(noise.last_std) == pytest.approx(0.1)


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


# The stream of seed 7 over a (40, 25) and a (7,) tensor, at flat positions across both
# tensors; pinned so that a change of the draw (buffer, order, arithmetic) shows.
PINNED_AT = [0, 14, 999, 1000, 1006]
PINNED_UNIT = [  # z of steps 0 and 1
    [
        -0.8201345205307007,
        0.23039686679840088,
        -0.8487755060195923,
        0.10816089063882828,
        0.33670341968536377,
    ],
    [
        -0.7422932386398315,
        1.2325475215911865,
        0.7583515048027039,
        0.5176033973693848,
        -0.04664435237646103,
    ],
]
PINNED_ABSOLUTE = [  # torch.add(g, z, alpha=0.3), with g from _pinned_grads
    [
        -0.9460403323173523,
        -0.6112613081932068,
        0.44536733627319336,
        0.7324482798576355,
        0.8010110259056091,
    ],
    [
        -0.9226879477500916,
        -0.31061607599258423,
        0.9275054335594177,
        0.8552809953689575,
        0.6860066652297974,
    ],
]


def _pinned_grads(params: list[torch.Tensor], value: float) -> None:
    params[0].grad = torch.linspace(-value, value, 1000).reshape(40, 25)
    params[1].grad = torch.full((7,), value)


@pytest.mark.parametrize(
    ("sigma", "grad", "pinned"), [(1.0, 0.0, PINNED_UNIT), (0.3, 0.7, PINNED_ABSOLUTE)]
)
def test_the_noise_stream_of_a_seed_is_pinned(sigma, grad, pinned):
    params = [torch.nn.Parameter(torch.zeros(40, 25)), torch.nn.Parameter(torch.zeros(7))]
    noise = GradientNoise(params, make_schedule("constant", sigma0=sigma), seed=7)
    for expected in pinned:
        _pinned_grads(params, grad)
        noise.step()
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        assert flat[PINNED_AT].tolist() == expected
