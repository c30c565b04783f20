"""The probes of stored runs: the sharpness mathematics of :mod:`gni.sharpness` applied
to a finished run's final weights, from the sweep, and saved beside its record.

- :func:`sharpness_probe`: the spectrum, the three sharpness measures, a 1-D landscape
  and the line from the initial weights (:func:`probe_model`, with :class:`ProbeSettings`);
- :func:`plane_probe`: the 2-D landscape;
- :func:`rescaled_probe`: the same measures after a rescaling that changes no model's
  function (the reparameterization check);
- :func:`interpolation_between`: the loss on the line between two runs' final weights.

Final weights are read from ``checkpoints/<run id>/model.pt`` with
``torch.load(weights_only=True)`` (:func:`load_final_model`), never unpickled otherwise.
Every run is probed on the same batches and vectors (:data:`PROBE_SEED`): the probes of
two runs pair by design.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gni import GniError, paths
from gni.atomic import atomic_file
from gni.config import RunConfig
from gni.data import TokenData
from gni.results import RecordError, ResultsStore, read_extra
from gni.sharpness import (
    ADAPTIVE_RHO,
    ASCENT_STEPS,
    AVERAGE_SAMPLES,
    HVP_METHOD,
    HVP_METHODS,
    INTERPOLATION_POINTS,
    LANDSCAPE_POINTS,
    LANDSCAPE_SPAN,
    RHO,
    SIGMA,
    SLQ_STEPS,
    SLQ_VECTORS,
    TOL,
    TOP_K,
    TRACE_SAMPLES,
    Batch,
    Objective,
    adaptive_sharpness,
    average_sharpness,
    check_count,
    check_positive,
    epsilon_sharpness,
    filter_normalized_direction,
    flat_parameters,
    hutchinson_trace,
    loss_along,
    loss_interpolation,
    loss_plane,
    rescaled_attention,
    slq,
    top_eigenvalues,
)
from gni.train import build_model, load_error

__all__ = [
    "PLANE_POINTS",
    "PROBE_BATCHES",
    "PROBE_BATCH_SIZE",
    "PROBE_SEED",
    "PROBE_SPLIT",
    "RESCALE_MAX",
    "ProbeSettings",
    "interpolation_between",
    "load_final_model",
    "plane_probe",
    "probe_batches",
    "probe_model",
    "probe_run",
    "rescaled_probe",
    "rescaling_factor",
    "sharpness_probe",
]

#: Sized so that chapter 4 can probe 42 runs, twice each (as trained and rescaled), within
#: the book's 3-hour regeneration: one batch halves the cost of two.
#: Every run is probed on the same batches and vectors: paired by design.
PROBE_SEED = 0
#: The split the probes read their batches from.
PROBE_SPLIT = "val"
#: Batches each probe averages over.
PROBE_BATCHES = 1
#: Windows of the run's block_size; 1 x 32 x 64 = 2,048 characters
PROBE_BATCH_SIZE = 32
#: The 2-D landscape; a PLANE_POINTS x PLANE_POINTS grid on the same span
PLANE_POINTS = 15
#: The rescaling probe's alpha; log-uniform in [1 / RESCALE_MAX, RESCALE_MAX]
RESCALE_MAX = 8.0


def probe_batches(
    data: TokenData, split: str, n_batches: int, batch_size: int, block_size: int, seed: int
) -> list[Batch]:
    """``n_batches`` random windows (inputs, targets), each (batch_size, block_size), from
    ``split``, drawn by a ``torch.Generator`` seeded with ``seed``: the same seed gives the
    same batches for every run of a dataset."""
    check_count("n_batches", n_batches, 1)
    check_count("batch_size", batch_size, 1)
    if split not in data.splits:
        raise GniError(f"split={split!r}; {data.name} has {', '.join(data.splits)}")
    data.check_block_size(block_size)
    generator = torch.Generator().manual_seed(seed)
    return [data.get_batch(split, batch_size, block_size, generator) for _ in range(n_batches)]


# ---------------------------------------------------------------------------------------
# The sweep probe


@dataclass(frozen=True)
class ProbeSettings:
    """What :func:`probe_model` measures, and how; the defaults are the module's constants."""

    seed: int = PROBE_SEED
    split: str = PROBE_SPLIT
    n_batches: int = PROBE_BATCHES
    batch_size: int = PROBE_BATCH_SIZE
    k: int = TOP_K
    tol: float = TOL
    trace_samples: int = TRACE_SAMPLES
    slq_vectors: int = SLQ_VECTORS
    slq_steps: int = SLQ_STEPS
    rho: float = RHO
    adaptive_rho: float = ADAPTIVE_RHO
    sigma: float = SIGMA
    average_samples: int = AVERAGE_SAMPLES
    ascent_steps: int = ASCENT_STEPS
    landscape_points: int = LANDSCAPE_POINTS
    landscape_span: float = LANDSCAPE_SPAN
    interpolation_points: int = INTERPOLATION_POINTS
    hvp_method: str = HVP_METHOD

    def __post_init__(self) -> None:
        """Check every setting at once, before minutes of probing."""
        for name in ("n_batches", "batch_size", "k", "slq_vectors", "slq_steps", "ascent_steps"):
            check_count(name, getattr(self, name), 1)
        for name in ("trace_samples", "average_samples", "landscape_points"):
            check_count(name, getattr(self, name), 2)
        check_count("interpolation_points", self.interpolation_points, 2)
        for name in ("tol", "rho", "adaptive_rho", "sigma", "landscape_span"):
            check_positive(name, getattr(self, name))
        check_count("seed", self.seed, 0)
        if self.hvp_method not in HVP_METHODS:
            raise GniError(f"hvp_method={self.hvp_method!r}; allowed: {', '.join(HVP_METHODS)}")


def probe_model(
    model: nn.Module,
    initial: torch.Tensor,
    batches: Sequence[Batch],
    settings: ProbeSettings | None = None,
) -> dict[str, Any]:
    """Every probe of this module on ``model`` at its current weights: a JSON-able dict.

    ``initial`` is the flat vector (:func:`gni.sharpness.flat_parameters`) the interpolation starts
    from (t = 0; t = 1 is the model's weights). Losses and sharpness in nats per
    character, eigenvalues and trace in nats per character per squared parameter unit.
    """
    s = settings or ProbeSettings()
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    obj = Objective(model, batches, hvp_method=s.hvp_method)
    with _timed(seconds, "top_eigenvalues"):
        top = top_eigenvalues(obj, s.k, s.tol, s.seed)
    with _timed(seconds, "trace"):
        trace = hutchinson_trace(obj, s.trace_samples, s.seed)
    with _timed(seconds, "slq"):
        density = slq(obj, s.slq_vectors, s.slq_steps, s.seed)
    with _timed(seconds, "epsilon_sharpness"):
        epsilon = epsilon_sharpness(obj, s.rho, s.ascent_steps, s.seed)
    with _timed(seconds, "adaptive_sharpness"):
        adaptive = adaptive_sharpness(obj, s.adaptive_rho, s.ascent_steps, s.seed)
    with _timed(seconds, "average_sharpness"):
        average = average_sharpness(obj, s.sigma, s.average_samples, s.seed)
    alphas = np.linspace(-s.landscape_span, s.landscape_span, s.landscape_points)
    ts = np.linspace(0.0, 1.0, s.interpolation_points)
    with _timed(seconds, "landscape"):
        along = loss_along(obj, filter_normalized_direction(obj, s.seed), alphas)
    with _timed(seconds, "interpolation"):
        interpolation = loss_interpolation(obj, initial, obj.w, ts)
    return {
        "loss": obj.loss(),
        "n_params": obj.n,
        "probe_characters": sum(y.numel() for _, y in obj.batches),
        "top_eigenvalues": top.values.tolist(),
        "top_eigenvalues_hvps": top.n_hvp,
        "trace": trace.value,
        "trace_se": trace.se,
        "trace_hvps": s.trace_samples,
        "epsilon_sharpness": epsilon,
        "adaptive_sharpness": adaptive,
        "average_sharpness": average.value,
        "average_sharpness_se": average.se,
        "slq": {
            "nodes": [t.tolist() for t in density.nodes],
            "weights": [w.tolist() for w in density.weights],
            "hvps": density.n_hvp,
        },
        "landscape": {"alpha": alphas.tolist(), "loss": along.tolist()},
        "interpolation": {"t": ts.tolist(), "loss": interpolation.tolist()},
        "hvps": obj.n_hvp,
        "settings": dataclasses.asdict(s),
        "seconds": time.perf_counter() - started,
        "seconds_by_part": seconds,
    }


@contextlib.contextmanager
def _timed(seconds: dict[str, float], part: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    seconds[part] = time.perf_counter() - t0


def load_final_model(config: RunConfig) -> tuple[nn.Module, torch.Tensor, TokenData]:
    """The run's model with its final weights (``checkpoints/<run id>/model.pt``, loaded
    with ``weights_only=True``), the flat vector of its initial weights (``build_model``
    draws them from the run's seed), and the run's data."""
    path = paths.checkpoint_dir() / config.run_id / "model.pt"
    if not path.is_file():
        raise GniError(
            f"{path} does not exist: run {config.run_id} has no final weights here (the "
            "checkpoint folder is not committed); train the run again to probe it"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, foreign, or holding code: none is a weights file
        raise GniError(
            f"{path} cannot be loaded ({load_error(e)}); it is not loaded any other way, "
            "since a file that needs more than weights_only=True can run code: train the "
            "run again to write it anew"
        ) from None
    stored = state.get("config") if isinstance(state, dict) else None
    try:
        owner = RunConfig.from_dict(stored).run_id if isinstance(stored, dict) else None
    except (GniError, TypeError, ValueError):
        owner = None
    if owner != config.run_id:
        raise GniError(
            f"{path} holds the weights of {owner or 'no known run'}, not of run "
            f"{config.run_id}: train the run again to write its own"
        )
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    if state.get("vocab") != data.vocab:
        raise GniError(f"{path}: its vocabulary is not that of {config.dataset}'s data here")
    model = build_model(config, data.vocab_size)
    initial = flat_parameters(model)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as e:  # tensors of other shapes, or none
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GniError(f"{path} does not hold this run's model ({reason})") from None
    return model, initial, data


def probe_run(config: RunConfig, settings: ProbeSettings | None = None) -> dict[str, Any]:
    """:func:`probe_model` on a finished run's final weights, on probe batches of its
    block size drawn from ``settings.split`` with ``settings.seed``."""
    s = settings or ProbeSettings()
    model, initial, data = load_final_model(config)
    batches = probe_batches(data, s.split, s.n_batches, s.batch_size, config.block_size, s.seed)
    return probe_model(model, initial, batches, s)


def sharpness_probe(config: RunConfig, record: Path) -> dict[str, Any]:
    """The sweep probe (``gni.sweep.run(grid, probes=[sharpness_probe])``): :func:`probe_run`
    with the module's settings, saved as ``<record>/probe_sharpness_probe.json``.

    A run that did not end ``ok`` (diverged) has no final weights to probe: its probe
    says so in ``skipped`` instead.
    """
    if why := _ok_status(record):
        return {"skipped": why}
    return probe_run(config)


def _ok_status(record: Path) -> str | None:
    """Why a run cannot be probed (its status is not ``ok``), or None."""
    status = json.loads((record / "summary.json").read_text())["status"]
    if status != "ok":
        return f"the run's status is {status!r}: it has no final weights to probe"
    return None


def _run_objective(config: RunConfig, s: ProbeSettings) -> tuple[Objective, torch.Tensor]:
    """The probe loss of the run's final weights, and the flat initial weights."""
    model, initial, data = load_final_model(config)
    batches = probe_batches(data, s.split, s.n_batches, s.batch_size, config.block_size, s.seed)
    return Objective(model, batches, hvp_method=s.hvp_method), initial


def plane_probe(config: RunConfig, record: Path) -> dict[str, Any]:
    """The sweep probe of the 2-D landscape: ``L(w + alpha d1 + beta d2)`` on a
    ``PLANE_POINTS`` x ``PLANE_POINTS`` grid over ``[-LANDSCAPE_SPAN, LANDSCAPE_SPAN]``,
    ``d1`` and ``d2`` filter-normalized directions drawn with seeds ``PROBE_SEED`` and
    ``PROBE_SEED + 1`` (``d1`` is the 1-D landscape's direction of
    :func:`sharpness_probe`). Saved as ``<record>/probe_plane_probe.json``."""
    if why := _ok_status(record):
        return {"skipped": why}
    s = ProbeSettings()
    started = time.perf_counter()
    obj, _ = _run_objective(config, s)
    axis = np.linspace(-s.landscape_span, s.landscape_span, PLANE_POINTS)
    d1 = filter_normalized_direction(obj, s.seed)
    d2 = filter_normalized_direction(obj, s.seed + 1)
    return {
        "alpha": axis.tolist(),
        "beta": axis.tolist(),
        "loss": loss_plane(obj, d1, d2, axis, axis).tolist(),
        "settings": dataclasses.asdict(s),
        "seconds": time.perf_counter() - started,
    }


def rescaling_factor(run_id: str) -> float:
    """The run's ``alpha`` for :func:`rescaled_probe`: log-uniform in
    ``[1 / RESCALE_MAX, RESCALE_MAX]``, a fixed function of the run id (its sha256), so
    that every run gets its own rescaling and the same one each time."""
    u = int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") / 2.0**64
    return RESCALE_MAX ** (2 * u - 1)


def rescaled_probe(config: RunConfig, record: Path) -> dict[str, Any]:
    """The sweep probe of the reparameterization check: the run's final model rescaled by
    :func:`gni.sharpness.rescaled_attention` with ``alpha`` = :func:`rescaling_factor`,
    probed with the settings and seeds of :func:`sharpness_probe` (so each value pairs with
    that probe's): the loss (unchanged but for rounding), the top eigenvalue and the three sharpness
    measures (not the trace: the average-case sharpness is ``sigma^2 tr(H) / 2`` to
    second order). Saved as ``<record>/probe_rescaled_probe.json``."""
    if why := _ok_status(record):
        return {"skipped": why}
    s = ProbeSettings()
    started = time.perf_counter()
    obj, _ = _run_objective(config, s)
    alpha = rescaling_factor(config.run_id)
    rescaled = Objective(rescaled_attention(obj.model, alpha), obj.batches, hvp_method=s.hvp_method)
    average = average_sharpness(rescaled, s.sigma, s.average_samples, s.seed)
    return {
        "alpha": alpha,
        "loss": rescaled.loss(),
        "top_eigenvalue": float(top_eigenvalues(rescaled, 1, s.tol, s.seed).values[0]),
        "epsilon_sharpness": epsilon_sharpness(rescaled, s.rho, s.ascent_steps, s.seed),
        "adaptive_sharpness": adaptive_sharpness(rescaled, s.adaptive_rho, s.ascent_steps, s.seed),
        "average_sharpness": average.value,
        "average_sharpness_se": average.se,
        "settings": dataclasses.asdict(s),
        "seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------------------------------
# Between two runs


def interpolation_between(
    a: RunConfig, b: RunConfig, store: ResultsStore | None = None
) -> dict[str, Any]:
    """``L((1 - t) w_a + t w_b)`` for ``INTERPOLATION_POINTS`` values of t in [0, 1], on
    the probe batches of :func:`sharpness_probe` (so t = 0 and t = 1 are the two runs'
    probe losses), and the barrier: the largest excess of the line's loss over the
    straight line between its ends, in nats per character.

    Stored as ``<record of a>/interpolation_<run id of b>.json`` and read from there when
    present, so that only a first call needs both runs' final weights.
    """
    store = store or ResultsStore()
    if (a.dataset, a.block_size) != (b.dataset, b.block_size):
        raise GniError(
            f"runs {a.run_id} and {b.run_id} are on different data "
            f"({a.dataset}, block {a.block_size} vs {b.dataset}, block {b.block_size})"
        )
    for config in (a, b):
        if not store.has(config.run_id):
            raise GniError(f"run {config.run_id} has no record in {store.root}")
        if why := _ok_status(store.path(config.run_id)):
            raise GniError(f"run {config.run_id} cannot be interpolated: {why}")
    target = store.path(a.run_id) / f"interpolation_{b.run_id}.json"
    if target.is_file():
        with contextlib.suppress(RecordError):  # unreadable: moved aside, computed again
            return read_extra(target)
    s = ProbeSettings()
    obj, _ = _run_objective(a, s)
    other, _, _ = load_final_model(b)
    w_b = flat_parameters(other)
    if w_b.shape != obj.w.shape:
        raise GniError(f"runs {a.run_id} and {b.run_id} have models of different sizes")
    ts = np.linspace(0.0, 1.0, s.interpolation_points)
    losses = loss_interpolation(obj, obj.w, w_b, ts)
    values = {
        "from": a.run_id,
        "to": b.run_id,
        "t": ts.tolist(),
        "loss": losses.tolist(),
        "barrier": float(np.max(losses - ((1 - ts) * losses[0] + ts * losses[-1]))),
        "distance": float((w_b - obj.w).norm()),
        "settings": dataclasses.asdict(s),
    }
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(values, indent=1) + "\n")
    return values
