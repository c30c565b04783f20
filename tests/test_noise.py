import copy
import math

import pytest
import torch
from scipy import stats

from gni.noise import GradientNoise
from gni.noise_options import KINDS
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


@pytest.mark.parametrize("kind", KINDS)
def test_relative_noise_does_not_wait_for_the_device(monkeypatch, kind):
    params = _params()
    for p in params:
        p.grad = torch.ones_like(p)
    schedule = make_schedule("constant", sigma0=0.1)
    noise = GradientNoise(params, schedule, scale="relative", kind=kind)
    noise.step()  # the anticorrelated kind's second step subtracts the first draw
    for p in params:
        p.grad = torch.ones_like(p)

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


def test_bad_kind_is_rejected():
    with pytest.raises(ValueError, match="kind='pink'; allowed: independent, anticorrelated"):
        GradientNoise(_params(), make_schedule("none"), kind="pink")


def _added_noise(noise: GradientNoise, steps: int) -> list[torch.Tensor]:
    """The noise each step adds to zero gradients, flat, one tensor a step."""
    added = []
    for _ in range(steps):
        for p in noise.params:
            p.grad = torch.zeros_like(p)
        noise.step()
        added.append(torch.cat([p.grad.reshape(-1) for p in noise.params]))
    return added


def _unit_draws(params: list[torch.Tensor], seed: int, steps: int) -> list[torch.Tensor]:
    """z_0, z_1, ...: the unit draws of the independent kind with ``seed``."""
    unit = GradientNoise(params, make_schedule("constant", sigma0=1.0), seed=seed)
    return _added_noise(unit, steps)


@pytest.mark.parametrize(
    "schedule",
    [make_schedule("constant", sigma0=0.3), make_schedule("exponential", sigma0=2.0, gamma=0.5)],
)
def test_anticorrelated_noise_is_the_scaled_difference_of_the_independent_draws(schedule):
    params = _params()
    z = _unit_draws(params, seed=11, steps=5)
    noise = GradientNoise(params, schedule, seed=11, kind="anticorrelated")
    for t, added in enumerate(_added_noise(noise, steps=5)):
        previous = z[t - 1].double() if t else 0.0  # z_{-1} = 0
        expected = schedule(t) * (z[t].double() - previous) / math.sqrt(2)
        # float32 rounding of a difference, a division and a product: a few ulps
        torch.testing.assert_close(added.double(), expected, rtol=1e-6, atol=1e-7)


def test_anticorrelated_noise_telescopes_for_a_constant_sigma():
    params, steps = _params(), 20
    z = _unit_draws(params, seed=2, steps=steps)
    noise = GradientNoise(
        params, make_schedule("constant", sigma0=0.5), seed=2, kind="anticorrelated"
    )
    total = torch.stack([a.double() for a in _added_noise(noise, steps)]).sum(0)
    # the sum is 0.5 * z_{T-1} / sqrt(2), std 0.35 per entry, not 0.5 * sqrt(20) = 2.2;
    # 20 terms of float32 rounding stay below 1e-5
    torch.testing.assert_close(total, 0.5 * z[-1].double() / math.sqrt(2), rtol=0, atol=1e-5)


def test_anticorrelated_noise_has_variance_s2_and_lag_one_correlation_minus_half():
    n, s = 200_000, 0.2
    p = torch.nn.Parameter(torch.zeros(n))
    noise = GradientNoise([p], make_schedule("constant", sigma0=s), seed=5, kind="anticorrelated")
    x = torch.stack(_added_noise(noise, steps=4)).double()
    # standard errors: of a variance, var * sqrt(2 / n) = 0.3 %; of a correlation rho,
    # (1 - rho^2) / sqrt(n) <= 0.0023; each tolerance is 5 of them
    assert x[0].var().item() == pytest.approx(s**2 / 2, rel=5 * math.sqrt(2 / n))
    for t in (1, 2, 3):
        assert x[t].var().item() == pytest.approx(s**2, rel=5 * math.sqrt(2 / n))
    corr = torch.corrcoef(x)
    for t in (1, 2):
        assert corr[t, t + 1].item() == pytest.approx(-0.5, abs=5 * 0.75 / math.sqrt(n))
    assert corr[1, 3].item() == pytest.approx(0.0, abs=5 / math.sqrt(n))
    assert corr[0, 1].item() == pytest.approx(-1 / math.sqrt(2), abs=5 * 0.5 / math.sqrt(n))


def test_anticorrelated_previous_draw_restarts_when_the_gradients_change_size():
    a, b, _ = _params()

    def noise_on_a_at_step_1(kind: str) -> torch.Tensor:
        noise = GradientNoise([a, b], make_schedule("constant", sigma0=1.0), seed=4, kind=kind)
        a.grad, b.grad = torch.zeros_like(a), torch.zeros_like(b)
        noise.step()
        a.grad, b.grad = torch.zeros_like(a), None  # b has no gradient at step 1
        noise.step()
        return a.grad

    z1 = noise_on_a_at_step_1("independent")
    expected = z1 / math.sqrt(2)  # z_0 had more entries: z_{t-1} restarts at 0
    torch.testing.assert_close(
        noise_on_a_at_step_1("anticorrelated"), expected, rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_resumes_the_same_noise_mid_stream(kind):
    params = _params()
    schedule = make_schedule("exponential", sigma0=1.0, gamma=0.9)
    whole = _added_noise(GradientNoise(params, schedule, seed=3, kind=kind), steps=5)

    first = GradientNoise(params, schedule, seed=3, kind=kind)
    _added_noise(first, steps=3)
    saved = copy.deepcopy(first.state_dict())
    assert set(saved) == {"t", "generator", "previous"}
    assert (saved["previous"] is None) == (kind == "independent")
    second = GradientNoise(params, schedule, seed=99, kind=kind)
    second.load_state_dict(saved)
    resumed = _added_noise(second, steps=2)
    assert all(torch.equal(x, y) for x, y in zip(resumed, whole[3:], strict=True))
    assert second.t == 5


@pytest.mark.parametrize("kind", KINDS)
def test_a_state_without_previous_loads_with_the_previous_draw_zero(kind):
    """States saved before the anticorrelated kind existed have no "previous"."""
    params = _params()
    schedule = make_schedule("constant", sigma0=0.3)
    whole = _added_noise(GradientNoise(params, schedule, seed=8, kind=kind), steps=3)
    z = _unit_draws(params, seed=8, steps=3)

    first = GradientNoise(params, schedule, seed=8, kind=kind)
    _added_noise(first, steps=2)
    old = {k: v for k, v in first.state_dict().items() if k != "previous"}
    second = GradientNoise(params, schedule, seed=0, kind=kind)
    second.load_state_dict(old)
    (added,) = _added_noise(second, steps=1)
    if kind == "independent":  # the old checkpoint resumes exactly
        assert torch.equal(added, whole[2])
    else:  # z_1 is lost: step 2 adds 0.3 * z_2 / sqrt(2)
        expected = 0.3 * z[2].double() / math.sqrt(2)
        torch.testing.assert_close(added.double(), expected, rtol=1e-6, atol=1e-7)


def test_an_anticorrelated_state_does_not_load_into_the_independent_kind():
    params = _params()
    schedule = make_schedule("constant", sigma0=1.0)
    anticorrelated = GradientNoise(params, schedule, kind="anticorrelated")
    _added_noise(anticorrelated, steps=1)
    with pytest.raises(ValueError, match="kind='anticorrelated'"):
        GradientNoise(params, schedule).load_state_dict(anticorrelated.state_dict())


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
