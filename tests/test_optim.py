"""NoisyAdamW: every implementation against torch.optim.AdamW and against each other.

The Triton kernel runs on CPU tensors under TRITON_INTERPRET=1 (set here before Triton
is imported); on a machine with CUDA it would run compiled instead.
"""

import copy
import importlib.util
import math
import os
from typing import Any

import pytest
import torch
from scipy import stats

from gni.noise import GradientNoise
from gni.noise_options import KINDS
from gni.optim import NoisyAdamW, decay_param_groups
from gni.schedules import make_schedule

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

HAS_TRITON = importlib.util.find_spec("triton") is not None
IMPLS = ["reference", "foreach"] + (["triton"] if HAS_TRITON else [])
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = torch.nn.Parameter(torch.randn(13, 16, generator=g) * 0.1)
        self.w1 = torch.nn.Parameter(torch.randn(16, 32, generator=g) * 0.1)
        self.b1 = torch.nn.Parameter(torch.zeros(32))
        self.w2 = torch.nn.Parameter(torch.randn(32, 13, generator=g) * 0.1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.gelu(self.emb[x] @ self.w1 + self.b1)
        return torch.nn.functional.cross_entropy(h @ self.w2, y)


def _train(model: _Net, step, steps: int = 100) -> None:
    """Run ``steps`` updates on a fixed stream of batches; ``step()`` applies one."""
    data = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randint(13, (64,), generator=data)
        model.zero_grad(set_to_none=True)
        model.loss(x, (x * 7 + 3) % 13).backward()
        step()


def _pair() -> tuple[_Net, _Net]:
    a = _Net()
    return a, copy.deepcopy(a)


HYPER = dict(lr=3e-3, betas=(0.9, 0.99), eps=1e-8)


@pytest.mark.parametrize("impl", IMPLS)
def test_without_noise_it_is_torch_adamw(impl):
    ours, theirs = _pair()
    noisy = NoisyAdamW(decay_param_groups(ours, 0.1), **HYPER, impl=impl)
    adamw = torch.optim.AdamW(decay_param_groups(theirs, 0.1), **HYPER)
    _train(ours, noisy.step)
    _train(theirs, adamw.step)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    assert noisy.noise_t == 100


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", ["reference", "foreach"])
def test_noise_is_gradient_noise_followed_by_adamw(impl, kind):
    """Same seed, same numbers: the fused optimizer equals the two-step composition."""
    schedule = make_schedule("exponential", sigma0=0.05, gamma=0.98)
    ours, theirs = _pair()
    groups = decay_param_groups(ours, 0.1)
    noisy = NoisyAdamW(groups, **HYPER, schedule=schedule, seed=5, impl=impl, kind=kind)
    noise = GradientNoise(theirs.parameters(), schedule, seed=5, kind=kind)
    adamw = torch.optim.AdamW(decay_param_groups(theirs, 0.1), **HYPER)
    # GradientNoise draws in parameter order; order the groups' parameters the same way
    assert [id(p) for g in noisy.param_groups for p in g["params"]] == [
        id(p) for p in ours.parameters() if p.dim() >= 2
    ] + [id(p) for p in ours.parameters() if p.dim() < 2]
    noise.params = [p for g in adamw.param_groups for p in g["params"]]

    def composed() -> None:
        noise.step()
        adamw.step()

    _train(ours, noisy.step, steps=30)
    _train(theirs, composed, steps=30)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def _injected_noise(
    impl: str,
    sigma: float,
    n: int = 40_000,
    seed: int = 0,
    steps: int = 1,
    scale: str = "absolute",
    grad: float = 0.0,
    kind: str = "independent",
) -> list[torch.Tensor]:
    """With beta1 = 0 the first moment after a step is the noisy gradient itself."""
    p = torch.nn.Parameter(torch.zeros(n))
    opt = NoisyAdamW(
        [p],
        lr=1e-3,
        betas=(0.0, 0.99),
        weight_decay=0.0,
        seed=seed,
        scale=scale,
        schedule=make_schedule("constant", sigma0=sigma),
        impl=impl,
        kind=kind,
    )
    draws = []
    for _ in range(steps):
        p.grad = torch.full_like(p, grad)
        opt.step()
        draws.append(opt.state[p]["exp_avg"] - grad)
    return draws


@pytest.mark.parametrize("impl", IMPLS)
def test_injected_noise_has_mean_zero_and_std_sigma(impl):
    (z,) = _injected_noise(impl, sigma=0.02)
    n = z.numel()
    # the mean of n draws is within 5 standard errors of 0; the std within 2 %
    assert abs(z.mean().item()) < 5 * 0.02 / n**0.5
    assert z.std().item() == pytest.approx(0.02, rel=0.02)
    assert stats.kstest((z / 0.02).numpy(), "norm").pvalue > 1e-3


@pytest.mark.parametrize("impl", IMPLS)
def test_noise_differs_between_steps_and_seeds_and_repeats_with_the_seed(impl):
    a0, a1 = _injected_noise(impl, sigma=1.0, n=5000, seed=1, steps=2)
    (b0,) = _injected_noise(impl, sigma=1.0, n=5000, seed=2)
    (again,) = _injected_noise(impl, sigma=1.0, n=5000, seed=1)
    assert torch.equal(a0, again)
    for x, y in ((a0, a1), (a0, b0)):
        assert abs(torch.corrcoef(torch.stack([x, y]))[0, 1].item()) < 0.06


@pytest.mark.parametrize("impl", IMPLS)
def test_anticorrelated_noise_has_std_sigma_and_lag_one_correlation_minus_half(impl):
    x = torch.stack(_injected_noise(impl, sigma=0.02, steps=3, kind="anticorrelated"))
    n = x.shape[1]  # 40_000: tolerances of 5 standard errors (see tests/test_noise.py)
    assert x[0].std().item() == pytest.approx(0.02 / math.sqrt(2), rel=5 / math.sqrt(2 * n))
    for t in (1, 2):
        assert x[t].std().item() == pytest.approx(0.02, rel=5 / math.sqrt(2 * n))
    corr = torch.corrcoef(x)
    assert corr[1, 2].item() == pytest.approx(-0.5, abs=5 * 0.75 / math.sqrt(n))
    assert corr[0, 2].item() == pytest.approx(0.0, abs=5 / math.sqrt(n))


@pytest.mark.parametrize("impl", IMPLS)
def test_relative_scale_uses_the_gradient_rms(impl):
    (z,) = _injected_noise(impl, sigma=0.1, scale="relative", grad=2.0)
    assert z.std().item() == pytest.approx(0.2, rel=0.03)


@pytest.mark.parametrize("impl", ["reference", "foreach"])
def test_gradients_are_left_as_they_were(impl):
    model, _ = _pair()
    opt = NoisyAdamW(model.parameters(), schedule=make_schedule("constant", sigma0=1.0), impl=impl)
    x = torch.arange(13)
    model.loss(x, x).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    opt.step()
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))


def _resume_continues_exactly(impl: str, kind: str, old_style: bool = False) -> None:
    """Six steps in one go equal three, a state dict round trip, and three more."""
    schedule = make_schedule("constant", sigma0=0.01)
    whole, resumed = _pair()
    opt = NoisyAdamW(whole.parameters(), schedule=schedule, seed=4, impl=impl, kind=kind)
    _train(whole, opt.step, steps=6)

    first = NoisyAdamW(resumed.parameters(), schedule=schedule, seed=4, impl=impl, kind=kind)
    _train(resumed, first.step, steps=3)
    saved = copy.deepcopy(first.state_dict())
    assert set(saved["noise"]) == {"t", "seed", "generator", "previous"}
    stateful = kind == "anticorrelated" and impl != "triton"
    assert (saved["noise"]["previous"] is not None) == stateful
    if old_style:  # a checkpoint from before the anticorrelated kind
        del saved["noise"]["previous"]
    second = NoisyAdamW(resumed.parameters(), schedule=schedule, seed=0, impl=impl, kind=kind)
    second.load_state_dict(saved)
    data = torch.Generator().manual_seed(1)
    for _ in range(3):  # the batches of steps 3..5
        torch.randint(13, (64,), generator=data)
    for _ in range(3):
        x = torch.randint(13, (64,), generator=data)
        resumed.zero_grad(set_to_none=True)
        resumed.loss(x, (x * 7 + 3) % 13).backward()
        second.step()
    for p, q in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_state_dict_resume_continues_exactly(impl, kind):
    _resume_continues_exactly(impl, kind)


def test_an_old_state_dict_without_previous_resumes_the_independent_kind_exactly():
    _resume_continues_exactly("foreach", "independent", old_style=True)


def test_an_old_state_dict_without_previous_restarts_the_anticorrelated_kind_at_zero():
    """Loading a "noise" without "previous" sets z_{t-1} = 0, as at step 0."""
    anticorrelated = dict(kind="anticorrelated", steps=3)
    resumed = _pinned_noisy_grads("foreach", "absolute", **anticorrelated, drop_previous=2)
    unit = _pinned_noisy_grads("GradientNoise", "absolute", sigma=1.0, grad=0.0, steps=3)
    g = torch.cat([t.reshape(-1) for t in _pinned_grads(0.7)])[PINNED_AT]
    expected = g.double() + 0.3 * unit[2].double() / math.sqrt(2)
    torch.testing.assert_close(resumed[2].double(), expected, rtol=1e-6, atol=1e-7)


@needs_triton
def test_triton_kernel_updates_bf16_parameters_with_fp32_moments():
    p32 = torch.nn.Parameter(torch.linspace(-1, 1, 3000))
    p16 = torch.nn.Parameter(p32.detach().to(torch.bfloat16))
    grad = torch.linspace(0.5, -0.5, 3000)
    for p, impl in ((p32, "reference"), (p16, "triton")):
        opt = NoisyAdamW([p], lr=1e-2, impl=impl)
        for _ in range(5):
            p.grad = grad.to(p.dtype)
            opt.step()
        assert opt.state[p]["exp_avg"].dtype == torch.float32
    assert p16.dtype == torch.bfloat16
    # five roundings to bf16 (half an ulp is 2**-9 .. 2**-8 here) stay within 0.025
    torch.testing.assert_close(p16.float(), p32.detach(), rtol=0, atol=0.025)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lr=0.0 must be > 0"),
        ({"betas": (0.9, 1.0)}, r"betas=\(0.9, 1.0\) must each be in \[0, 1\)"),
        ({"weight_decay": -1.0}, "weight_decay=-1.0 must be >= 0"),
        ({"impl": "cuda"}, "impl='cuda'; allowed: auto, reference, foreach, triton"),
        ({"scale": "adaptive"}, "scale='adaptive'; allowed: absolute, relative"),
        ({"kind": "pink"}, "kind='pink'; allowed: independent, anticorrelated"),
    ],
)
def test_bad_hyperparameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NoisyAdamW([torch.nn.Parameter(torch.zeros(2))], **kwargs)


# The noisy gradients g + s * z of steps 0 and 1 for seed 7, sigma 0.3, over a (40, 25)
# and a (7,) tensor, at flat positions across both. Reference and foreach draw the stream
# of gni.noise, whose unit draws tests/test_noise.py pins; Triton draws its own Philox stream.
PINNED_AT = [0, 14, 999, 1000, 1006]
PINNED = {
    "relative": [
        [
            -0.8002229332923889,
            -0.652225136756897,
            0.5962769985198975,
            0.713217556476593,
            0.7411462068557739,
        ],
        [
            -0.7907105088233948,
            -0.5297592282295227,
            0.792672872543335,
            0.7632527351379395,
            0.6942998766899109,
        ],
    ],
    "triton/absolute": [
        [
            -0.7187477350234985,
            0.08539688587188721,
            0.8127042651176453,
            0.5198742151260376,
            0.5410059690475464,
        ],
        [
            -1.1957341432571411,
            -0.9832528829574585,
            0.8831593990325928,
            0.6945290565490723,
            1.4625239372253418,
        ],
    ],
    "triton/relative": [
        [
            -0.7076367735862732,
            -0.36844590306282043,
            0.7459093332290649,
            0.6266269087791443,
            0.6352347731590271,
        ],
        [
            -0.9019341468811035,
            -0.8037534952163696,
            0.7746087908744812,
            0.697771430015564,
            1.0106092691421509,
        ],
    ],
}


def _pinned_grads(grad: float) -> list[torch.Tensor]:
    return [torch.linspace(-grad, grad, 1000).reshape(40, 25), torch.full((7,), grad)]


def _pinned_noisy_grads(
    impl: str,
    scale: str,
    sigma: float = 0.3,
    grad: float = 0.7,
    at: Any = PINNED_AT,
    kind: str = "independent",
    steps: int = 2,
    drop_previous: int | None = None,
) -> torch.Tensor:
    """g + s * z at ``at`` for ``steps`` steps (one row a step): NoisyAdamW's first moment
    with beta1 = 0, or the gradient after GradientNoise (``impl="GradientNoise"``). With
    ``drop_previous=t`` the optimizer is reloaded before step t from its state dict
    without "previous" (an old checkpoint)."""
    params = [torch.nn.Parameter(torch.zeros(40, 25)), torch.nn.Parameter(torch.zeros(7))]
    schedule = make_schedule("constant", sigma0=sigma)
    optimizer = impl != "GradientNoise"
    if optimizer:
        opt = NoisyAdamW(
            params,
            betas=(0.0, 0.99),
            weight_decay=0.0,
            schedule=schedule,
            seed=7,
            scale=scale,
            impl=impl,
            kind=kind,
        )
    else:
        opt = GradientNoise(params, schedule, seed=7, scale=scale, kind=kind)
    values = []
    for t in range(steps):
        if t == drop_previous:
            state = copy.deepcopy(opt.state_dict())
            del state["noise"]["previous"]
            opt.load_state_dict(state)
        for p, g in zip(params, _pinned_grads(grad), strict=True):
            p.grad = g
        opt.step()
        noisy = [opt.state[p]["exp_avg"] if optimizer else p.grad for p in params]
        values.append(torch.cat([t.reshape(-1) for t in noisy])[at])
    return torch.stack(values)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", ["reference", "foreach"])
def test_absolute_noise_is_sigma_times_the_unit_draws_of_gradient_noise(impl, kind):
    every = slice(None)
    unit = _pinned_noisy_grads(
        "GradientNoise", "absolute", sigma=1.0, grad=0.0, at=every, kind=kind, steps=3
    )
    g = torch.cat([t.reshape(-1) for t in _pinned_grads(0.7)])
    noisy = _pinned_noisy_grads(impl, "absolute", at=every, kind=kind, steps=3)
    assert torch.equal(noisy, g + 0.3 * unit)


@pytest.mark.parametrize("impl", ["reference", "foreach"])
def test_relative_noise_stream_of_a_seed_is_pinned(impl):
    assert _pinned_noisy_grads(impl, "relative").tolist() == PINNED["relative"]
    every = slice(None)  # and GradientNoise adds exactly the same noise
    gradient_noise = _pinned_noisy_grads("GradientNoise", "relative", at=every)
    assert torch.equal(_pinned_noisy_grads(impl, "relative", at=every), gradient_noise)


@needs_triton
@pytest.mark.parametrize("scale", ["absolute", "relative"])
def test_triton_noise_stream_of_a_seed_is_pinned(scale):
    values = _pinned_noisy_grads("triton", scale).tolist()
    # compiled on a GPU, tl.randn's log, sin and cos may round otherwise
    assert values == [pytest.approx(v, abs=1e-5) for v in PINNED[f"triton/{scale}"]]


@needs_triton
def test_triton_anticorrelated_noise_is_the_difference_of_its_independent_draws():
    every = slice(None)
    z = _pinned_noisy_grads("triton", "absolute", sigma=1.0, grad=0.0, at=every, steps=3)
    noise = _pinned_noisy_grads(
        "triton", "absolute", sigma=1.0, grad=0.0, at=every, kind="anticorrelated", steps=3
    )
    previous = torch.cat([torch.zeros_like(z[:1]), z[:-1]])  # z_{-1} = 0
    # the first moment m + (g - m) rounds to an ulp or so of values of size 1 .. 5
    torch.testing.assert_close(noise, (z - previous) / math.sqrt(2), rtol=0, atol=2e-6)


@pytest.mark.parametrize("scale", ["absolute", "relative"])
def test_last_std_is_the_std_gradient_noise_reports(scale):
    """NoisyAdamW and GradientNoise + AdamW take the same steps, so report the same std."""
    schedule = make_schedule("exponential", sigma0=0.05, gamma=0.5)
    fused_net, separate_net = _pair()
    fused = NoisyAdamW(fused_net.parameters(), **HYPER, schedule=schedule, seed=3, scale=scale)
    noise = GradientNoise(list(separate_net.parameters()), schedule, seed=3, scale=scale)
    adamw = torch.optim.AdamW(separate_net.parameters(), **HYPER, weight_decay=0.01)
    assert fused.last_std == noise.last_std == 0.0  # before any step
    _train(fused_net, fused.step, steps=3)
    _train(separate_net, lambda: (noise.step(), adamw.step()), steps=3)
    assert float(fused.last_std) == pytest.approx(float(noise.last_std), rel=1e-5)
    if scale == "absolute":
        assert fused.last_std == 0.05 * 0.5**2  # the third step's sigma_t, t = 2
