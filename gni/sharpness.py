r"""Sharpness of the loss landscape around trained weights: Hessian spectra, sharpness
measures, and the loss along directions.

Every probe measures one function, the *probe loss*

.. math:: L(w) = \frac{1}{B} \sum_{b=1}^{B} \ell_b(w),

the mean eval-mode loss (dropout off; for the GPT the plain cross-entropy, no label
smoothing, in nats per character) over ``B`` fixed probe batches of equal size, as a
function of the flat vector ``w`` of the model's unique parameters, in
``named_parameters`` order (the GPT's tied ``wte`` / ``lm_head`` weight is one tensor,
counted once). ``H`` is the Hessian of that mean loss at the trained weights; its
eigenvalues are in nats per character per squared unit of parameter. One HVP is one
product ``H v`` over all ``B`` batches; the probes report how many they used.

:class:`Objective` holds a model, its probe batches and the point ``w``, and evaluates
``L``, its gradient and ``H v`` through ``torch.func.functional_call``: no probe writes
to the model's parameters, so the weights are exactly as they were afterwards.

- Spectrum: :func:`top_eigenvalues` (ARPACK's Lanczos through ``scipy``'s ``eigsh``),
  :func:`power_iteration` (the reference), :func:`hutchinson_trace`, :func:`slq`
  (stochastic Lanczos quadrature of the eigenvalue density).
- Sharpness: :func:`epsilon_sharpness`, :func:`adaptive_sharpness`,
  :func:`average_sharpness`, each in nats per character.
- Landscapes: :func:`filter_normalized_direction`, :func:`loss_along`,
  :func:`loss_plane`, :func:`loss_interpolation`.
- Reparameterization: :func:`rescaled_attention` (the same function, other weights).

:mod:`gni.probes` applies them to the final weights of stored runs.

References: Ghorbani, Krishnan & Xiao 2019 (SLQ for neural-network Hessians,
arXiv:1901.10159); Hutchinson 1989; Keskar et al. 2017 (epsilon-sharpness,
arXiv:1609.04836); Andriushchenko et al. 2023 (adaptive sharpness, arXiv:2302.07011);
Li et al. 2018 (filter normalization, arXiv:1712.09913); Dinh et al. 2017 (sharp minima
can generalize: reparameterization, arXiv:1703.04933).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import nn
from torch.func import functional_call, grad, jvp
from torch.nn.attention import SDPBackend, sdpa_kernel

from gni import GniError
from gni.model import GPT

__all__ = [
    "ADAPTIVE_RHO",
    "ASCENT_STEPS",
    "AVERAGE_SAMPLES",
    "HVP_METHOD",
    "HVP_METHODS",
    "INTERPOLATION_POINTS",
    "LANDSCAPE_POINTS",
    "LANDSCAPE_SPAN",
    "RHO",
    "SIGMA",
    "SLQ_STEPS",
    "SLQ_VECTORS",
    "TOL",
    "TOP_K",
    "TRACE_SAMPLES",
    "Eigenvalues",
    "Estimate",
    "Objective",
    "SpectralDensity",
    "adaptive_sharpness",
    "average_sharpness",
    "check_count",
    "check_positive",
    "cross_entropy",
    "epsilon_sharpness",
    "filter_normalized_direction",
    "flat_parameters",
    "hutchinson_trace",
    "loss_along",
    "loss_interpolation",
    "loss_plane",
    "power_iteration",
    "rescaled_attention",
    "slq",
    "top_eigenvalues",
]

Batch = tuple[torch.Tensor, torch.Tensor]  # inputs, targets
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]  # (model output, targets) -> mean loss

#: How a Hessian-vector product is computed.
HVP_METHODS = ("double_backward", "forward_over_reverse")
#: The faster of the two on the CPU (benchmarks/sharpness.py); the same product either way.
HVP_METHOD = "double_backward"
_BREAKDOWN = 1e-10  # Lanczos stops when the new residual is this small relative to |alpha|

#: The defaults of the sweep probe's settings (gni.probes.ProbeSettings), sized so that
#: probing one `cpu`-profile run (0.8M parameters, block 64) takes under a minute on one
#: core (benchmarks/sharpness.py measures it). One SLQ vector halves the cost of two; the
#: probes stay paired (the same vectors for every run).
TOP_K = 5
#: Eigenpairs stop at ``||H v - theta v|| <= TOL |theta|`` (ARPACK's criterion)
TOL = 1e-3
#: Rademacher vectors for Hutchinson's trace
TRACE_SAMPLES = 10
#: Probe vectors of stochastic Lanczos quadrature.
SLQ_VECTORS = 1
#: Lanczos steps per vector; exact moments up to order 31
SLQ_STEPS = 16
#: Epsilon-sharpness radius, L2 over all parameters
RHO = 0.05
#: Adaptive-sharpness radius, L2 of ``delta / |w|``
ADAPTIVE_RHO = 0.5
#: Average-case sharpness; standard deviation of each parameter's noise
SIGMA = 0.005
#: Antithetic pairs
AVERAGE_SAMPLES = 10
#: Projected gradient ascent steps of both worst-case measures
ASCENT_STEPS = 10
#: Alpha in [-LANDSCAPE_SPAN, LANDSCAPE_SPAN]
LANDSCAPE_POINTS = 21
#: In units of the filter-normalized direction (Li et al.; 1)
LANDSCAPE_SPAN = 1.0
#: T in [0, 1], from the initial weights to the final
INTERPOLATION_POINTS = 21


def check_count(name: str, value: int, low: int, high: int | None = None, why: str = "") -> None:
    """Raise GniError unless ``value`` is an integer with ``low <= value`` (and
    ``value <= high``); ``why`` explains the bounds in the message."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return
    allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    raise GniError(f"{name}={value!r}; allowed: {allowed}{why}")


def check_positive(name: str, value: float) -> None:
    """Raise GniError unless ``value`` is a finite number > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise GniError(f"{name}={value!r}; allowed: a finite number > 0")


def cross_entropy(output: Any, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per target of logits (..., V) and class ids (...).

    ``output`` is the logits or a tuple whose first item they are (the GPT returns
    ``(logits, None)`` when given no targets).
    """
    logits = output[0] if isinstance(output, tuple) else output
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """A copy of the model's unique parameters as one flat vector (``named_parameters``
    order, a tied tensor once): the ``w`` of :class:`Objective`."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


class Objective:
    """The probe loss L(w) of ``model`` on ``batches``, its gradient and Hessian-vector
    products, as functions of the flat parameter vector.

    Args:
        model: any ``nn.Module``, evaluated in eval mode (its mode is restored after each
            evaluation); its parameters are never written to.
        batches: (inputs, targets) pairs of equal size; L is the mean of their losses.
        loss_fn: (model output, targets) -> mean loss; default :func:`cross_entropy`.
        hvp_method: ``double_backward`` (autograd through the gradient's graph) or
            ``forward_over_reverse`` (``torch.func.jvp`` of ``torch.func.grad``).

    Attributes: ``w``, the point measured around (a copy of the model's parameters when
    the objective was made, in their dtype); ``n``, its length; ``n_hvp``, the HVPs made.

    Attention runs on the math backend of ``scaled_dot_product_attention`` in every
    evaluation: PyTorch's fused CPU kernel has no second derivative, and one backend
    keeps all losses of a probe on the same arithmetic.
    """

    def __init__(
        self,
        model: nn.Module,
        batches: Sequence[Batch],
        loss_fn: LossFn = cross_entropy,
        hvp_method: str = HVP_METHOD,
    ) -> None:
        if hvp_method not in HVP_METHODS:
            raise GniError(f"hvp_method={hvp_method!r}; allowed: {', '.join(HVP_METHODS)}")
        self.batches = list(batches)
        if not self.batches:
            raise GniError("no probe batches; give at least one (inputs, targets) pair")
        self.model = model
        self.loss_fn = loss_fn
        self.hvp_method = hvp_method
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.w = flat_parameters(model)
        self.n = self.w.numel()
        self.n_hvp = 0

    def tensors(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The flat vector ``w`` as named views shaped like the model's parameters."""
        if w.shape != (self.n,):
            raise GniError(f"a flat parameter vector has shape ({self.n},), not {tuple(w.shape)}")
        pieces = w.split(self.numels)
        return {
            name: piece.view(shape)
            for name, piece, shape in zip(self.names, pieces, self.shapes, strict=True)
        }

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        training = self.model.training
        self.model.eval()
        try:
            with sdpa_kernel(SDPBackend.MATH):
                yield
        finally:
            self.model.train(training)

    def _batch_loss(self, w: torch.Tensor, batch: Batch) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(functional_call(self.model, self.tensors(w), (x,)), y)

    def value(self, w: torch.Tensor) -> torch.Tensor:
        """L(w) as a differentiable 0-d tensor (a small model's dense Hessian:
        ``torch.autograd.functional.hessian(obj.value, obj.w)``)."""
        with self._evaluating():
            return sum(self._batch_loss(w, b) for b in self.batches) / len(self.batches)

    def loss(self, w: torch.Tensor | None = None) -> float:
        """L(w) in nats per character (default: at ``self.w``)."""
        with torch.no_grad():
            return self.value(self.w if w is None else w).item()

    def loss_and_grad(self, w: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        """L(w) and its gradient (flat, like ``w``), one batch's graph at a time."""
        w = (self.w if w is None else w).detach().requires_grad_()
        total, gradient = 0.0, torch.zeros_like(w)
        with torch.enable_grad(), self._evaluating():
            for batch in self.batches:
                loss = self._batch_loss(w, batch)
                gradient += torch.autograd.grad(loss, w)[0]
                total += loss.item()
        return total / len(self.batches), gradient / len(self.batches)

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H v at ``self.w``, flat, in the model's dtype (``v`` is converted to it)."""
        if v.shape != (self.n,):
            raise GniError(f"a flat vector has shape ({self.n},), not {tuple(v.shape)}")
        v = v.to(self.w)
        product = torch.zeros_like(self.w)
        with torch.enable_grad(), self._evaluating():
            for batch in self.batches:
                product += self._batch_hvp(v, batch)
        self.n_hvp += 1
        return product / len(self.batches)

    def _batch_hvp(self, v: torch.Tensor, batch: Batch) -> torch.Tensor:
        if self.hvp_method == "forward_over_reverse":
            return jvp(grad(lambda w: self._batch_loss(w, batch)), (self.w,), (v,))[1]
        w = self.w.detach().requires_grad_()
        (gradient,) = torch.autograd.grad(self._batch_loss(w, batch), w, create_graph=True)
        return torch.autograd.grad(gradient, w, v)[0]


# ---------------------------------------------------------------------------------------
# Spectrum


@dataclass(frozen=True)
class Eigenvalues:
    values: np.ndarray  # descending; nats per character per squared parameter unit
    n_hvp: int  # HVPs used


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float  # standard error of the mean of the samples


def _estimate(samples: Sequence[float]) -> Estimate:
    values = np.asarray(samples, dtype=np.float64)
    return Estimate(float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))))


def top_eigenvalues(obj: Objective, k: int, tol: float = TOL, seed: int = 0) -> Eigenvalues:
    """The ``k`` largest (algebraic) eigenvalues of H, by implicitly restarted Lanczos.

    ``scipy.sparse.linalg.eigsh(which="LA")`` on a ``LinearOperator`` of HVPs (float64 on
    scipy's side, the model's dtype in the products). ARPACK stops when each Ritz pair
    has ``||H v - theta v|| <= tol |theta|``. Its starting vector is standard normal from
    ``seed``. Needs ``1 <= k < n`` (ARPACK's limit).
    """
    check_count("k", k, 1, obj.n - 1, f" (eigsh needs k below the {obj.n:,} parameters)")
    check_positive("tol", tol)

    def matvec(v: np.ndarray) -> np.ndarray:
        product = obj.hvp(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).ravel()))
        return product.double().numpy()

    operator = LinearOperator((obj.n, obj.n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(obj.n)
    start = obj.n_hvp
    try:
        values = eigsh(operator, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    except ArpackNoConvergence as e:
        raise GniError(
            f"eigsh found {len(e.eigenvalues)} of k={k} eigenvalues to tol={tol} in "
            f"{obj.n_hvp - start} HVPs; allow a larger tol or ask for fewer"
        ) from None
    return Eigenvalues(np.sort(values)[::-1].copy(), obj.n_hvp - start)


def power_iteration(
    obj: Objective, k: int = 1, tol: float = TOL, seed: int = 0, max_hvp: int = 1000
) -> Eigenvalues:
    """The ``k`` eigenvalues of H largest in magnitude, by power iteration with deflation:
    the reference for :func:`top_eigenvalues` (at a minimum, the largest ones).

    For each pair: ``v <- H' v / ||H' v||`` from a standard normal vector (``seed``), with
    ``H' = H - sum_i theta_i v_i v_i^T`` over the pairs already found, until the Rayleigh
    quotient ``theta = v^T H' v`` has ``||H' v - theta v|| <= tol |theta|``: the criterion
    ARPACK applies, so the HVP counts of the two compare. A pair that needs more than
    ``max_hvp`` HVPs raises GniError.
    """
    check_count("k", k, 1, obj.n, f" (no more eigenvalues than the {obj.n:,} parameters)")
    check_positive("tol", tol)
    check_count("max_hvp", max_hvp, 1)
    generator = torch.Generator().manual_seed(seed)
    pairs: list[tuple[float, torch.Tensor]] = []
    start = obj.n_hvp

    def deflated(v: torch.Tensor) -> torch.Tensor:
        product = obj.hvp(v).double()
        for theta, u in pairs:
            product -= theta * (u @ v) * u
        return product

    for found in range(k):
        v = torch.randn(obj.n, generator=generator, dtype=torch.float64)
        v /= v.norm()
        product = deflated(v)
        for _ in range(max_hvp):
            theta = float(v @ product)
            if (product - theta * v).norm() <= tol * abs(theta):
                break
            v = product / product.norm()
            product = deflated(v)
        else:
            raise GniError(
                f"power iteration did not reach tol={tol} for eigenvalue {found + 1} in "
                f"max_hvp={max_hvp} HVPs; allow more or a larger tol"
            )
        pairs.append((theta, v))
    return Eigenvalues(np.array([theta for theta, _ in pairs]), obj.n_hvp - start)


def hutchinson_trace(obj: Objective, n_samples: int, seed: int = 0) -> Estimate:
    """tr(H), estimated as the mean of ``z^T H z`` over ``n_samples`` Rademacher vectors
    (entries +-1, so ``E z z^T = I``), with its standard error; ``n_samples`` HVPs.

    In nats per character per squared parameter unit.
    """
    check_count("n_samples", n_samples, 2)
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n_samples):
        z = torch.randint(0, 2, (obj.n,), generator=generator, dtype=torch.float64) * 2 - 1
        samples.append(float(z @ obj.hvp(z).double()))
    return _estimate(samples)


def _lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal alpha (m) and off-diagonal beta (m - 1) of the tridiagonal
    ``T = Q^T H Q`` after ``m <= steps`` Lanczos steps from ``v0``, with full
    reorthogonalization (Gram-Schmidt against every earlier vector, twice); fewer steps
    when the Krylov space stops growing. Float64."""
    basis = torch.empty(steps, v0.numel(), dtype=torch.float64)
    basis[0] = v0 / v0.norm()
    alpha: list[float] = []
    beta: list[float] = []
    for j in range(steps):
        residual = matvec(basis[j])
        alpha.append(float(basis[j] @ residual))
        if j == steps - 1:
            break
        for _ in range(2):
            residual -= basis[: j + 1].T @ (basis[: j + 1] @ residual)
        norm = float(residual.norm())
        if norm <= _BREAKDOWN * max(abs(a) for a in alpha):
            break
        beta.append(norm)
        basis[j + 1] = residual / norm
    return np.array(alpha), np.array(beta)


@dataclass(frozen=True)
class SpectralDensity:
    """H's eigenvalue density by stochastic Lanczos quadrature.

    For each random unit vector v, ``m`` Lanczos steps give the Gauss quadrature
    ``v^T f(H) v ~ sum_j weights_j f(nodes_j)``: nodes are the Ritz values (eigenvalues of
    the tridiagonal T), weights the squared first components of T's eigenvectors (they
    sum to 1), exact for polynomials f of degree up to 2m - 1. Since
    ``E v^T f(H) v = tr f(H) / n`` for v uniform on the sphere, averaging over vectors
    estimates the density ``(1/n) sum_i delta(t - lambda_i)``.
    """

    nodes: list[np.ndarray]  # per vector: Ritz values, nats/char per squared parameter unit
    weights: list[np.ndarray]  # per vector: quadrature weights, summing to 1
    n_hvp: int

    def moment(self, p: int) -> float:
        """The estimate of ``tr(H^p) / n``: the mean over vectors of ``sum_j w_j theta_j^p``."""
        return float(
            np.mean([(w * t**p).sum() for t, w in zip(self.nodes, self.weights, strict=True)])
        )

    def density(self, grid: np.ndarray, bandwidth: float) -> np.ndarray:
        """The density smoothed by a Gaussian kernel of standard deviation ``bandwidth``,
        at the points of ``grid``: the mean over vectors of ``sum_j w_j N(t; theta_j,
        bandwidth^2)``. It integrates to 1 over a grid that covers the nodes."""
        check_positive("bandwidth", bandwidth)
        t = np.asarray(grid, dtype=np.float64)[:, None]
        per_vector = [
            (w * np.exp(-0.5 * ((t - nodes) / bandwidth) ** 2)).sum(axis=1)
            for nodes, w in zip(self.nodes, self.weights, strict=True)
        ]
        return np.mean(per_vector, axis=0) / (bandwidth * math.sqrt(2 * math.pi))


def slq(obj: Objective, n_vectors: int, steps: int, seed: int = 0) -> SpectralDensity:
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019) of H's eigenvalue density:
    ``steps`` Lanczos steps with full reorthogonalization from each of ``n_vectors``
    random unit vectors (normalized standard normal from ``seed``), then
    ``scipy.linalg.eigh_tridiagonal``; ``n_vectors * steps`` HVPs at most."""
    check_count("n_vectors", n_vectors, 1)
    check_count("steps", steps, 1, obj.n, f" (Lanczos steps, at most the {obj.n:,} parameters)")
    generator = torch.Generator().manual_seed(seed)
    start = obj.n_hvp
    nodes, weights = [], []
    for _ in range(n_vectors):
        v0 = torch.randn(obj.n, generator=generator, dtype=torch.float64)
        alpha, beta = _lanczos(lambda v: obj.hvp(v).double(), v0, steps)
        ritz, vectors = eigh_tridiagonal(alpha, beta)
        nodes.append(ritz)
        weights.append(vectors[0] ** 2)
    return SpectralDensity(nodes, weights, obj.n_hvp - start)


# ---------------------------------------------------------------------------------------
# Sharpness


def _unit(x: torch.Tensor) -> torch.Tensor:
    norm = x.norm()
    return x / norm if norm > 0 else torch.zeros_like(x)


def _ascent(obj: Objective, rho: float, scale: torch.Tensor, steps: int, seed: int) -> float:
    """max over ``||u||_2 <= rho`` of ``L(w + scale * u) - L(w)``, by projected ascent.

    ``u`` starts at ``rho`` times the unit gradient in u (the SAM step; a random direction
    from ``seed`` where that gradient is zero), then takes ``steps`` steps of length
    ``rho`` along the unit gradient, each projected back into the ball. The result is the
    best value met: a lower bound on the maximum. ``steps + 1`` gradients and one loss.
    """
    check_positive("rho", rho)
    check_count("steps", steps, 1)
    base, gradient = obj.loss_and_grad()
    direction = _unit(scale * gradient)
    if not direction.any():
        generator = torch.Generator().manual_seed(seed)
        direction = _unit(scale * torch.randn(obj.n, generator=generator, dtype=obj.w.dtype))
    u = rho * direction
    best = -math.inf
    for _ in range(steps):
        loss, gradient = obj.loss_and_grad(obj.w + scale * u)
        best = max(best, loss - base)
        u = u + rho * _unit(scale * gradient)
        norm = float(u.norm())
        if norm > rho:  # the projection onto the ball
            u = u * (rho / norm)
    return max(best, obj.loss(obj.w + scale * u) - base)


def epsilon_sharpness(
    obj: Objective, rho: float, steps: int = ASCENT_STEPS, seed: int = 0
) -> float:
    r"""Worst-case sharpness in nats per character (Keskar et al. 2017, L2 ball):

    .. math:: S_\rho(w) = \max_{\|\delta\|_2 \le \rho} L(w + \delta) - L(w)

    by projected gradient ascent (``steps`` steps, see ``_ascent``): a lower bound.
    For a quadratic at its minimum it is ``rho^2 lambda_max / 2``.
    """
    return _ascent(obj, rho, torch.ones_like(obj.w), steps, seed)


def adaptive_sharpness(
    obj: Objective, rho: float, steps: int = ASCENT_STEPS, seed: int = 0
) -> float:
    r"""Adaptive worst-case sharpness in nats per character (Andriushchenko et al. 2023):

    .. math:: S^a_\rho(w) = \max_{\|\delta / |w|\|_2 \le \rho} L(w + \delta) - L(w)

    the ball scaled elementwise by ``|w|`` (so a weight that is zero stays unperturbed),
    which makes it invariant to rescaling the weights. Ascent in ``u = delta / |w|`` as in
    :func:`epsilon_sharpness`: a lower bound. For a quadratic at its minimum it is
    ``rho^2 lambda_max(D H D) / 2`` with ``D = diag|w|``.
    """
    return _ascent(obj, rho, obj.w.abs(), steps, seed)


def average_sharpness(obj: Objective, sigma: float, n_samples: int, seed: int = 0) -> Estimate:
    r"""Average-case sharpness in nats per character, with its standard error:

    .. math:: S^{avg}_\sigma(w) = E_{\delta \sim N(0, \sigma^2 I)} L(w + \delta) - L(w)

    over ``n_samples`` antithetic pairs: each sample is
    ``(L(w + delta) + L(w - delta)) / 2 - L(w)``, which has the same expectation and
    cancels the odd terms of L's Taylor series (the gradient's term, which otherwise
    dominates the variance); ``2 n_samples + 1`` losses. For a quadratic it is
    ``sigma^2 tr(H) / 2``.
    """
    check_positive("sigma", sigma)
    check_count("n_samples", n_samples, 2)
    generator = torch.Generator().manual_seed(seed)
    base = obj.loss()
    samples = []
    for _ in range(n_samples):
        delta = sigma * torch.randn(obj.n, generator=generator, dtype=obj.w.dtype)
        samples.append((obj.loss(obj.w + delta) + obj.loss(obj.w - delta)) / 2 - base)
    return _estimate(samples)


# ---------------------------------------------------------------------------------------
# Landscapes


def filter_normalized_direction(obj: Objective, seed: int = 0) -> torch.Tensor:
    """A random direction scaled like the weights (Li et al. 2018), flat like ``w``.

    Each tensor of two or more dimensions gets standard normal entries, then each of its
    rows (an index of its first dimension: an output unit of a Linear layer, a token of
    an embedding) is rescaled to the norm of that row in the weights. One-dimensional
    tensors (biases, LayerNorm gains) get zeros. Li et al.'s filters are the rows here.
    """
    generator = torch.Generator().manual_seed(seed)
    pieces = []
    for weights in obj.tensors(obj.w).values():
        if weights.dim() < 2:
            pieces.append(torch.zeros(weights.numel(), dtype=weights.dtype))
            continue
        rows = weights.reshape(weights.shape[0], -1)
        d = torch.randn(rows.shape, generator=generator, dtype=weights.dtype)
        d *= rows.norm(dim=1, keepdim=True) / d.norm(dim=1, keepdim=True)
        pieces.append(d.reshape(-1))
    return torch.cat(pieces).to(obj.w.device)


def loss_along(
    obj: Objective, direction: torch.Tensor, alphas: Sequence[float] | np.ndarray
) -> np.ndarray:
    """``L(w + alpha d)`` for each alpha, in nats per character."""
    return np.array([obj.loss(obj.w + float(a) * direction) for a in alphas])


def loss_plane(
    obj: Objective,
    d1: torch.Tensor,
    d2: torch.Tensor,
    alphas: Sequence[float] | np.ndarray,
    betas: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """``L(w + alpha d1 + beta d2)`` on the grid, in nats per character: an array of
    shape (len(alphas), len(betas))."""
    return np.array(
        [[obj.loss(obj.w + float(a) * d1 + float(b) * d2) for b in betas] for a in alphas]
    )


def loss_interpolation(
    obj: Objective, w_a: torch.Tensor, w_b: torch.Tensor, ts: Sequence[float] | np.ndarray
) -> np.ndarray:
    """``L((1 - t) w_a + t w_b)`` for each t, in nats per character: t = 0 gives exactly
    ``w_a`` and t = 1 exactly ``w_b`` (initial -> final weights, or one run's final
    weights -> another's; flat vectors as from :func:`flat_parameters`)."""
    for name, w in (("w_a", w_a), ("w_b", w_b)):
        if w.shape != (obj.n,):
            raise GniError(f"{name} has shape {tuple(w.shape)}; the model's is ({obj.n},)")
    w_a, w_b = w_a.to(obj.w), w_b.to(obj.w)
    return np.array([obj.loss((1 - float(t)) * w_a + float(t) * w_b) for t in ts])


# ---------------------------------------------------------------------------------------
# Reparameterization (Dinh et al. 2017)


def rescaled_attention(model: GPT, alpha: float) -> GPT:
    """A copy of ``model`` that computes exactly the same function with other weights.

    In every block the query rows of ``c_attn`` are multiplied by ``alpha`` and the key
    rows divided by it (so every ``q . k`` is unchanged), and the value rows multiplied
    by ``alpha`` and the columns of the attention's output projection divided by it (so
    every block's output is unchanged); biases, where present, follow their rows. The
    loss is the same at every input; the Hessian, and every sharpness measured in a
    fixed Euclidean ball, are not.
    """
    check_positive("alpha", alpha)
    if not isinstance(model, GPT):
        raise GniError(f"rescaled_attention rescales a gni GPT, not a {type(model).__name__}")
    rescaled = copy.deepcopy(model)
    c = rescaled.config.n_embd
    factors = torch.tensor([alpha, 1 / alpha, alpha], dtype=torch.float64).repeat_interleave(c)
    with torch.no_grad():
        for block in rescaled.transformer.h:
            attention = block.attn
            attention.c_attn.weight.mul_(factors.to(attention.c_attn.weight)[:, None])
            if attention.c_attn.bias is not None:
                attention.c_attn.bias.mul_(factors.to(attention.c_attn.bias))
            attention.c_proj.weight.div_(alpha)
    return rescaled
