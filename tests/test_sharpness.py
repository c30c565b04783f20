"""Sharpness probes against exact answers: dense Hessians of small models, quadratics."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import psutil
import pytest
import torch
from torch import nn

from gni import GniError, paths
from gni.config import make_config, profile_config
from gni.data import TokenData
from gni.model import GPT, GPTConfig
from gni.probes import (
    PROBE_BATCH_SIZE,
    PROBE_BATCHES,
    ProbeSettings,
    interpolation_between,
    load_final_model,
    plane_probe,
    probe_batches,
    probe_run,
    rescaled_probe,
    rescaling_factor,
    sharpness_probe,
)
from gni.results import ResultsStore
from gni.sharpness import (
    HVP_METHODS,
    Objective,
    adaptive_sharpness,
    average_sharpness,
    epsilon_sharpness,
    filter_normalized_direction,
    flat_parameters,
    hutchinson_trace,
    loss_along,
    loss_interpolation,
    loss_plane,
    power_iteration,
    rescaled_attention,
    slq,
    top_eigenvalues,
)
from gni.sweep import run


def _mlp_objective(hvp_method: str = "double_backward") -> Objective:
    """A tanh MLP (3 -> 6 -> 3, 45 parameters) classifying two batches of 8 points."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    generator = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(8, 3, generator=generator, dtype=torch.float64), torch.randint(3, (8,)))
        for _ in range(2)
    ]
    return Objective(model, batches, hvp_method=hvp_method)


def _tiny_gpt(bias: bool = False, dtype: torch.dtype = torch.float64) -> GPT:
    """A one-layer GPT with weights of standard deviation 0.3 (a spectrum with structure)."""
    config = GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8, bias=bias)
    model = GPT(config, generator=torch.Generator().manual_seed(0)).to(dtype)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3, generator=generator)
    return model


def _gpt_objective(hvp_method: str = "double_backward", bias: bool = False) -> Objective:
    generator = torch.Generator().manual_seed(3)
    batches = [
        (
            torch.randint(7, (4, 6), generator=generator),
            torch.randint(7, (4, 6), generator=generator),
        )
        for _ in range(2)
    ]
    return Objective(_tiny_gpt(bias), batches, hvp_method=hvp_method)


def _dense_hessian(obj: Objective) -> torch.Tensor:
    """The dense Hessian of L at ``obj.w``, by autograd.

    Not ``torch.func.hessian``: on torch 2.13 it (and ``jacrev(jacrev(f))``) returns an
    asymmetric, wrong Hessian through ``F.layer_norm`` with a weight (the rows of the
    LayerNorm gains), which central differences of the gradient contradict;
    ``test_the_dense_reference_agrees_with_differences_of_the_gradient`` checks this one.
    """
    return torch.autograd.functional.hessian(obj.value, obj.w.clone())


class Quadratic(nn.Module):
    """L(w) = (w - w_star)^T H (w - w_star) / 2: its forward pass returns the loss."""

    def __init__(self, hessian: torch.Tensor, w_star: torch.Tensor, w: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("hessian", hessian)
        self.register_buffer("w_star", w_star)
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.w - self.w_star
        return d @ self.hessian @ d / 2


EIGENVALUES = torch.tensor([4.0, 1.0, 0.5, 0.25, 0.1, 0.05], dtype=torch.float64)


def _quadratic(at_minimum: bool = True) -> tuple[Objective, torch.Tensor]:
    """The objective of a quadratic with Hessian Q diag(EIGENVALUES) Q^T, and that Hessian."""
    generator = torch.Generator().manual_seed(4)
    n = len(EIGENVALUES)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    hessian = q @ torch.diag(EIGENVALUES) @ q.T
    w_star = torch.randn(n, generator=generator, dtype=torch.float64)
    w = w_star if at_minimum else w_star + torch.randn(n, generator=generator, dtype=torch.float64)
    dummy = torch.zeros(1)
    model = Quadratic(hessian, w_star, w)
    return Objective(model, [(dummy, dummy)], loss_fn=lambda output, _: output), hessian


@pytest.mark.parametrize("make", [_mlp_objective, _gpt_objective], ids=["mlp", "gpt"])
@pytest.mark.parametrize("hvp_method", HVP_METHODS)
def test_hvp_is_the_dense_hessian_times_the_vector(make, hvp_method):
    obj = make(hvp_method)
    hessian = _dense_hessian(obj)
    v = torch.randn(obj.n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(obj.hvp(v), hessian @ v, rtol=1e-9, atol=1e-12)
    assert obj.n_hvp == 1


def test_the_dense_reference_agrees_with_differences_of_the_gradient():
    obj = _gpt_objective()
    hessian = _dense_hessian(obj)
    eps = 1e-6
    columns = [
        (obj.loss_and_grad(obj.w + eps * e)[1] - obj.loss_and_grad(obj.w - eps * e)[1]) / (2 * eps)
        for e in torch.eye(obj.n, dtype=torch.float64)[::37]
    ]
    torch.testing.assert_close(torch.stack(columns, 1), hessian[:, ::37], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(hessian, hessian.T, rtol=0.0, atol=1e-12)


def test_tied_weights_are_one_parameter():
    obj = _gpt_objective()
    model = obj.model
    untied = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert obj.n == untied - model.lm_head.weight.numel()
    assert "lm_head.weight" not in obj.names


@pytest.mark.parametrize("make", [_mlp_objective, _gpt_objective], ids=["mlp", "gpt"])
def test_top_eigenvalues_match_the_dense_spectrum(make):
    obj = make()
    dense = torch.linalg.eigvalsh(_dense_hessian(obj)).flip(0).numpy()
    top = top_eigenvalues(obj, k=3, tol=1e-10)
    np.testing.assert_allclose(top.values, dense[:3], rtol=1e-3)
    assert top.n_hvp == obj.n_hvp > 0
    largest = dense[np.argmax(np.abs(dense))]
    power = power_iteration(obj, k=1, tol=1e-7, max_hvp=20_000)
    np.testing.assert_allclose(power.values, [largest], rtol=1e-3)
    assert power.n_hvp == obj.n_hvp - top.n_hvp


def test_power_iteration_with_deflation_finds_the_top_eigenvalues_of_a_quadratic():
    obj, _ = _quadratic()
    power = power_iteration(obj, k=3, tol=1e-8)
    np.testing.assert_allclose(power.values, EIGENVALUES[:3].numpy(), rtol=1e-6)
    np.testing.assert_allclose(top_eigenvalues(obj, k=3, tol=1e-8).values, power.values)


def test_hutchinson_trace_is_within_three_standard_errors():
    obj = _gpt_objective()
    exact = torch.trace(_dense_hessian(obj)).item()
    trace = hutchinson_trace(obj, n_samples=30, seed=1)
    assert trace.se > 0
    assert abs(trace.value - exact) <= 3 * trace.se
    assert obj.n_hvp == 30


def test_slq_density_integrates_to_one_and_has_the_spectrum_moments():
    obj = _gpt_objective()
    eigenvalues = torch.linalg.eigvalsh(_dense_hessian(obj)).numpy()
    n_vectors = 20
    density = slq(obj, n_vectors=n_vectors, steps=12, seed=1)
    assert density.n_hvp == obj.n_hvp <= n_vectors * 12
    for weights in density.weights:
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    bandwidth = 0.05 * (eigenvalues.max() - eigenvalues.min())
    lo = min(t.min() for t in density.nodes) - 8 * bandwidth
    hi = max(t.max() for t in density.nodes) + 8 * bandwidth
    grid = np.linspace(lo, hi, 4001)
    assert np.trapezoid(density.density(grid, bandwidth), grid) == pytest.approx(1.0, abs=1e-6)
    # v^T H^p v for v uniform on the sphere: mean tr(H^p) / n, variance
    # 2 / (n + 2) * (the variance of the eigenvalues of H^p)
    n = len(eigenvalues)
    for p in (1, 2):
        powers = eigenvalues**p
        se = math.sqrt(2 / (n + 2) * powers.var() / n_vectors)
        assert abs(density.moment(p) - powers.mean()) <= 4 * se


def test_slq_stops_when_the_krylov_space_is_exhausted():
    obj, _ = _quadratic()
    density = slq(obj, n_vectors=1, steps=obj.n, seed=0)
    np.testing.assert_allclose(np.sort(density.nodes[0]), np.sort(EIGENVALUES.numpy()), rtol=1e-8)


def test_epsilon_sharpness_of_a_quadratic_is_half_rho_squared_lambda_max():
    obj, _ = _quadratic()
    rho = 0.1
    value = epsilon_sharpness(obj, rho=rho, steps=50)
    assert value == pytest.approx(rho**2 * EIGENVALUES.max().item() / 2, rel=1e-3)


def test_adaptive_sharpness_of_a_quadratic_uses_the_hessian_scaled_by_the_weights():
    obj, hessian = _quadratic()
    scale = torch.diag(obj.w.abs())
    lambda_max = torch.linalg.eigvalsh(scale @ hessian @ scale).max().item()
    rho = 0.1
    value = adaptive_sharpness(obj, rho=rho, steps=100)
    assert value == pytest.approx(rho**2 * lambda_max / 2, rel=1e-3)


def test_average_sharpness_of_a_quadratic_is_half_sigma_squared_trace():
    obj, hessian = _quadratic(at_minimum=False)  # the gradient's term cancels in pairs
    sigma = 0.1
    estimate = average_sharpness(obj, sigma=sigma, n_samples=200, seed=1)
    exact = sigma**2 * torch.trace(hessian).item() / 2
    assert 0 < estimate.se < exact / 5
    assert abs(estimate.value - exact) <= 3 * estimate.se


def test_probes_leave_the_weights_and_the_mode_exactly_as_they_were():
    obj = _gpt_objective()
    model = obj.model
    model.train()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    top_eigenvalues(obj, k=2)
    power_iteration(obj, k=1, max_hvp=5000)
    hutchinson_trace(obj, n_samples=3)
    slq(obj, n_vectors=1, steps=4)
    epsilon_sharpness(obj, rho=0.5, steps=3)
    adaptive_sharpness(obj, rho=0.5, steps=3)
    average_sharpness(obj, sigma=0.1, n_samples=3)
    direction = filter_normalized_direction(obj)
    loss_along(obj, direction, [-1.0, 1.0])
    loss_plane(obj, direction, filter_normalized_direction(obj, seed=1), [0.5], [0.5])
    loss_interpolation(obj, torch.zeros_like(obj.w), obj.w, [0.0, 0.5])
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert torch.equal(flat_parameters(model), obj.w)


def test_the_loss_is_evaluated_in_eval_mode():
    model = _tiny_gpt()
    model.transformer.drop.p = 0.9  # dropout that would change every evaluation
    generator = torch.Generator().manual_seed(0)
    batch = (
        torch.randint(7, (4, 6), generator=generator),
        torch.randint(7, (4, 6), generator=generator),
    )
    obj = Objective(model, [batch])
    model.eval()
    _, expected = model(*batch)
    assert obj.loss() == obj.loss() == pytest.approx(expected.item(), rel=1e-12)


def test_filter_normalized_direction_has_the_row_norms_of_the_weights():
    obj = _gpt_objective(bias=True)
    direction = obj.tensors(filter_normalized_direction(obj, seed=3))
    weights = obj.tensors(obj.w)
    assert any(t.dim() == 1 for t in weights.values())  # biases and LayerNorm gains
    for name, w in weights.items():
        d = direction[name]
        if w.dim() < 2:
            assert not d.any(), name
        else:
            torch.testing.assert_close(d.norm(dim=1), w.norm(dim=1), rtol=1e-12, atol=0.0)
            assert not torch.allclose(d, w)
    again = filter_normalized_direction(obj, seed=3)
    assert torch.equal(again, filter_normalized_direction(obj, seed=3))


def test_landscapes_pass_through_the_weights_and_interpolation_hits_its_ends():
    obj = _gpt_objective()
    d1, d2 = filter_normalized_direction(obj, seed=0), filter_normalized_direction(obj, seed=1)
    along = loss_along(obj, d1, [-0.5, 0.0, 0.5])
    assert along[1] == obj.loss() and along[0] != along[2]
    plane = loss_plane(obj, d1, d2, [-0.5, 0.0, 0.5], [0.0, 0.5])
    assert plane.shape == (3, 2) and plane[1, 0] == obj.loss()
    assert plane[2, 0] == along[2]
    w_a = obj.w + 0.3 * d2
    ends = loss_interpolation(obj, w_a, obj.w, [0.0, 0.5, 1.0])
    assert ends[0] == obj.loss(w_a) and ends[2] == obj.loss()


def test_memory_stays_flat_over_100_hvps():
    config = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=64)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    batches = [
        (
            torch.randint(65, (8, 32), generator=generator),
            torch.randint(65, (8, 32), generator=generator),
        )
    ]
    obj = Objective(model, batches)
    v = torch.randn(obj.n, generator=generator)
    process = psutil.Process()
    for _ in range(10):
        obj.hvp(v)
    before = process.memory_info().rss
    for _ in range(100):
        obj.hvp(v)
    growth = process.memory_info().rss - before
    # measured: one HVP's graph holds about 6 MiB, its result 0.4 MiB; a leak of either shows
    assert growth < 16 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 100 HVPs"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda o: top_eigenvalues(o, k=o.n), r"k=45; allowed: an integer in 1\.\.44 \(eigsh"),
        (lambda o: top_eigenvalues(o, k=0), r"k=0; allowed: an integer in 1\.\.44"),
        (lambda o: top_eigenvalues(o, k=True), r"k=True; allowed"),
        (lambda o: top_eigenvalues(o, k=2, tol=0.0), r"tol=0\.0; allowed: a finite number > 0"),
        (lambda o: power_iteration(o, k=46), r"k=46; allowed: an integer in 1\.\.45"),
        (lambda o: power_iteration(o, tol=-1.0), r"tol=-1\.0; allowed"),
        (
            lambda o: power_iteration(o, tol=1e-12, max_hvp=2),
            r"did not reach tol=1e-12 .* max_hvp=2 HVPs",
        ),
        (lambda o: hutchinson_trace(o, n_samples=1), r"n_samples=1; allowed: an integer >= 2"),
        (lambda o: slq(o, n_vectors=0, steps=3), r"n_vectors=0; allowed"),
        (lambda o: slq(o, n_vectors=1, steps=46), r"steps=46; allowed: an integer in 1\.\.45"),
        (lambda o: epsilon_sharpness(o, rho=0.0), r"rho=0\.0; allowed: a finite number > 0"),
        (lambda o: adaptive_sharpness(o, rho=math.inf), r"rho=inf; allowed"),
        (lambda o: epsilon_sharpness(o, rho=0.1, steps=0), r"steps=0; allowed: an integer >= 1"),
        (lambda o: average_sharpness(o, sigma=-0.1, n_samples=4), r"sigma=-0\.1; allowed"),
        (lambda o: slq(o, 1, 4).density(np.zeros(3), 0.0), r"bandwidth=0\.0; allowed"),
        (lambda o: o.hvp(torch.zeros(3)), r"has shape \(45,\), not \(3,\)"),
        (lambda o: loss_interpolation(o, torch.zeros(2), o.w, [0.0]), r"w_a has shape \(2,\)"),
        (lambda o: Objective(o.model, []), "no probe batches"),
        (lambda o: Objective(o.model, o.batches, hvp_method="jvp"), "hvp_method='jvp'; allowed"),
    ],
)
def test_bad_settings_are_refused_with_a_message(call, message):
    with pytest.raises(GniError, match=message):
        call(_mlp_objective())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_batches": 0}, r"n_batches=0; allowed: an integer >= 1"),
        ({"batch_size": 2.5}, r"batch_size=2\.5; allowed"),
        ({"tol": 0}, r"tol=0; allowed: a finite number > 0"),
        ({"rho": -1.0}, r"rho=-1\.0"),
        ({"sigma": float("nan")}, r"sigma=nan"),
        ({"trace_samples": 1}, r"trace_samples=1; allowed: an integer >= 2"),
        ({"landscape_points": 1}, r"landscape_points=1"),
        ({"hvp_method": "fast"}, r"hvp_method='fast'; allowed: double_backward"),
    ],
)
def test_bad_probe_settings_are_refused_at_once(settings, message):
    with pytest.raises(GniError, match=message):
        ProbeSettings(**settings)


def test_probe_batches_depend_on_the_seed_alone():
    config = profile_config("shakespeare_char", "smoke")
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    batches = probe_batches(data, "val", 3, 4, config.block_size, seed=7)
    again = probe_batches(data, "val", 3, 4, config.block_size, seed=7)
    assert len(batches) == 3
    for (x, y), (x2, y2) in zip(batches, again, strict=True):
        assert x.shape == y.shape == (4, config.block_size)
        assert torch.equal(x, x2) and torch.equal(y, y2)
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next characters
    other = probe_batches(data, "val", 1, 4, config.block_size, seed=8)
    assert not torch.equal(other[0][0], batches[0][0])
    with pytest.raises(GniError, match="split='test'; shakespeare_char has train, val"):
        probe_batches(data, "test", 1, 4, config.block_size, seed=0)
    with pytest.raises(GniError, match="n_batches=0; allowed: an integer >= 1"):
        probe_batches(data, "val", 0, 4, config.block_size, seed=0)


def test_probing_a_run_without_final_weights_says_where_it_looked():
    config = profile_config("shakespeare_char", "smoke")
    with pytest.raises(GniError, match=rf"{config.run_id}/model\.pt does not exist"):
        probe_run(config)


@pytest.mark.smoke
def test_sweep_probe_writes_finite_measures_beside_each_record():
    grid = {
        "base": {"dataset": "shakespeare_char", "profile": "smoke"},
        "axes": {
            "case": [
                {"label": "ok"},
                {
                    "label": "diverges",
                    "learning_rate": 1e6,
                    "min_lr": 0.0,
                    "grad_clip": 0.0,
                    "max_iters": 40,
                },
            ]
        },
    }
    table = run(grid, probes=[sharpness_probe], progress=False).set_index("case")
    assert table.loc["ok", "status"] == "ok" and table.loc["diverges", "status"] == "diverged"
    store = ResultsStore()

    def probe_of(case: str) -> dict:
        path = store.path(table.loc[case, "run_id"]) / "probe_sharpness_probe.json"
        return json.loads(path.read_text())

    assert "no final weights" in probe_of("diverges")["skipped"]
    probe = probe_of("ok")
    assert probe["settings"] == dataclasses.asdict(ProbeSettings())
    assert len(probe["top_eigenvalues"]) == 5 and probe["top_eigenvalues_hvps"] > 0
    assert probe["top_eigenvalues"] == sorted(probe["top_eigenvalues"], reverse=True)
    assert len(probe["landscape"]["loss"]) == 21 and len(probe["interpolation"]["loss"]) == 21
    assert probe["landscape"]["loss"][10] == probe["loss"] == probe["interpolation"]["loss"][-1]
    assert probe["probe_characters"] == PROBE_BATCHES * PROBE_BATCH_SIZE * 32  # smoke block 32
    assert probe["hvps"] == (
        probe["top_eigenvalues_hvps"] + probe["trace_hvps"] + probe["slq"]["hvps"]
    )
    scalars = [
        probe[key]
        for key in (
            "loss",
            "trace",
            "trace_se",
            "epsilon_sharpness",
            "adaptive_sharpness",
            "average_sharpness",
            "average_sharpness_se",
            "seconds",
        )
    ]
    lists = [
        probe["top_eigenvalues"],
        probe["landscape"]["loss"],
        probe["interpolation"]["loss"],
        *probe["slq"]["nodes"],
        *probe["slq"]["weights"],
    ]
    assert all(math.isfinite(x) for x in scalars + [x for values in lists for x in values])
    assert probe["epsilon_sharpness"] > 0 and probe["adaptive_sharpness"] > 0


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_rescaled_attention_keeps_the_function_and_the_adaptive_sharpness(bias):
    obj = _gpt_objective(bias=bias)
    rescaled = Objective(rescaled_attention(obj.model, 5.0), obj.batches)
    x = obj.batches[0][0]
    obj.model.eval()
    rescaled.model.eval()
    torch.testing.assert_close(rescaled.model(x)[0], obj.model(x)[0], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(rescaled.w, obj.w)  # other weights
    assert torch.equal(flat_parameters(obj.model), obj.w)  # the original is untouched
    # Dinh et al.: the same function, another Hessian and another epsilon-sharpness ...
    top, top_rescaled = (top_eigenvalues(o, 1).values[0] for o in (obj, rescaled))
    assert abs(top_rescaled / top - 1) > 0.1
    assert abs(epsilon_sharpness(rescaled, 0.1) / epsilon_sharpness(obj, 0.1) - 1) > 0.1
    # ... but the same adaptive sharpness: its ball scales with the weights
    assert adaptive_sharpness(rescaled, 0.5) == pytest.approx(adaptive_sharpness(obj, 0.5), 1e-9)


def test_rescaling_refuses_other_models_and_factors():
    with pytest.raises(GniError, match="rescales a gni GPT, not a Sequential"):
        rescaled_attention(_mlp_objective().model, 2.0)
    with pytest.raises(GniError, match=r"alpha=0\.0; allowed: a finite number > 0"):
        rescaled_attention(_tiny_gpt(), 0.0)


def test_rescaling_factor_is_a_fixed_function_of_the_run_id_within_its_range():
    factors = [rescaling_factor(f"run-{i}") for i in range(400)]
    assert factors[:3] == [rescaling_factor(f"run-{i}") for i in range(3)]
    logs = np.log(factors) / math.log(8.0)
    assert logs.min() >= -1 and logs.max() <= 1
    assert abs(np.mean(logs)) < 0.1 and np.mean(np.abs(logs)) == pytest.approx(0.5, abs=0.06)


@pytest.mark.smoke
def test_plane_rescaled_and_pair_probes_agree_with_the_sweep_probe():
    grid = {
        "base": {"dataset": "shakespeare_char", "profile": "smoke"},
        "axes": {
            "method": [
                {"label": "baseline"},
                {"label": "gni", "noise_schedule": "constant", "noise_args": {"sigma0": 0.01}},
            ]
        },
    }
    probes = [sharpness_probe, plane_probe, rescaled_probe]
    table = run(grid, probes=probes, progress=False).set_index("method")
    assert table["probe_error"].isna().all()
    store = ResultsStore()
    configs = {m: store.read_config(table.loc[m, "run_id"]) for m in ("baseline", "gni")}

    def read(method: str, probe: str) -> dict:
        record = store.path(configs[method].run_id)
        return json.loads((record / f"probe_{probe}.json").read_text())

    probe, plane, rescaled = (read("baseline", p.__name__) for p in probes)
    loss = np.array(plane["loss"])
    assert loss.shape == (15, 15) and loss[7, 7] == pytest.approx(probe["loss"], rel=1e-6)
    # beta = 0 is the 1-D landscape's line: alpha = -1, 0, 1 are on both grids
    along = probe["landscape"]["loss"]
    assert [loss[0, 7], loss[14, 7]] == pytest.approx([along[0], along[-1]], rel=1e-6)
    assert rescaled["alpha"] == rescaling_factor(configs["baseline"].run_id)
    assert rescaled["loss"] == pytest.approx(probe["loss"], rel=1e-5)
    assert rescaled["adaptive_sharpness"] == pytest.approx(probe["adaptive_sharpness"], rel=0.05)
    assert rescaled["top_eigenvalue"] != pytest.approx(probe["top_eigenvalues"][0], rel=0.05)

    line = interpolation_between(configs["baseline"], configs["gni"], store)
    assert line["loss"][0] == pytest.approx(probe["loss"], rel=1e-6)
    assert line["loss"][-1] == pytest.approx(read("gni", "sharpness_probe")["loss"], rel=1e-6)
    assert line["barrier"] >= 0 and line["distance"] > 0
    stored = store.path(configs["baseline"].run_id) / f"interpolation_{configs['gni'].run_id}.json"
    assert json.loads(stored.read_text()) == line
    assert interpolation_between(configs["baseline"], configs["gni"], store) == line  # read back

    other = profile_config("text8", "smoke")
    with pytest.raises(GniError, match="are on different data"):
        interpolation_between(configs["baseline"], other, store)
    missing = dataclasses.replace(configs["baseline"], seed=99)
    with pytest.raises(GniError, match=f"run {missing.run_id} has no record"):
        interpolation_between(missing, configs["gni"], store)


def test_another_runs_weights_are_refused_naming_both(tmp_path):
    """Issue 23: another run's model.pt copied in was probed, and cached under this run."""
    table = run(
        {"base": {"dataset": "shakespeare_char", "profile": "smoke"}, "n_seeds": 2},
        progress=False,
    ).set_index("seed")
    mine, other = (make_config("shakespeare_char", "smoke", s) for s in (0, 1))
    assert table.loc[0, "run_id"] == mine.run_id
    folder = paths.checkpoint_dir()
    (folder / mine.run_id / "model.pt").write_bytes(
        (folder / other.run_id / "model.pt").read_bytes()
    )
    with pytest.raises(GniError, match=f"holds the weights of {other.run_id}, not of run"):
        load_final_model(mine)
    (folder / mine.run_id / "model.pt").write_bytes(b"\x80\x02cos\nsystem\n")  # code
    with pytest.raises(GniError) as error:
        load_final_model(mine)
    # torch's advice to load the file unsafely ("Re-running `torch.load` with ...") is
    # left out; the message says the opposite
    assert "Re-running" not in str(error.value) and "set to `False`" not in str(error.value)
    assert "it is not loaded any other way" in str(error.value)
    vocab = TokenData("shakespeare_char", mine.data_bytes, mine.train_chars).vocab
    forged = {"config": mine.to_dict(), "vocab": vocab, "model": {"wte.weight": torch.zeros(2)}}
    torch.save(forged, folder / mine.run_id / "model.pt")  # its own config, other tensors
    with pytest.raises(GniError, match="does not hold this run's model"):
        load_final_model(mine)
