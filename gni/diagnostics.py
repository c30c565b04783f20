"""What the noise does to the update: measurements for ``RunConfig(diagnostics=True)``.

An :class:`UpdateProbe` watches one optimizer step at a time. With g the gradient just
before the noise is added (after clipping for the post-clip placement), theta the
parameters and s the noise's per-entry standard deviation, it accumulates over the
steps between two evaluations (n = all entries, n_i = the entries of tensor i):

- ``signal_step``: -<theta_{t+1} - theta_t, g_t> / ||g_t||, the distance the step moves
  along the clean gradient's descent direction (parameter units, per step);
- ``step_norm``: ||theta_{t+1} - theta_t||, the whole step's length;
- ``grad_rms``: ||g_t|| / sqrt(n), the clean gradient's per-entry RMS;
- ``grad_spread_rms``: sqrt(mean over steps of ||g_t - g_{t-1}||^2 / (2 n)), the per-entry
  spread of the minibatch gradient (exact when the expected gradient does not change
  between consecutive steps, since then E||g_t - g_{t-1}||^2 = 2 tr Cov(g));
- ``noise_ratio/<name>``: s sqrt(n_i) / ||g_{t,i}||, the noise's expected norm over the
  clean gradient's norm, per tensor.

Each is a mean over the interval's steps (the spread a root-mean-square). At the
evaluation, :meth:`UpdateProbe.row` adds ``adam_v/<name>``, the mean over the tensor's
entries of Adam's bias-corrected second moment v / (1 - beta2^k) (optimizers that keep
``exp_avg_sq``; absent otherwise). The probe does not change training: it reads the
gradients and parameters, never writes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

SCALARS = ("signal_step", "step_norm", "grad_rms", "grad_spread_rms")


class UpdateProbe:
    def __init__(self, named_params: Sequence[tuple[str, torch.Tensor]]) -> None:
        """``named_params``: (name, parameter) pairs; their names label the columns."""
        self.names = [name for name, _ in named_params]
        self.params = [p for _, p in named_params]
        self.n = sum(p.numel() for p in self.params)
        self._sqrt_numel = torch.tensor([math.sqrt(p.numel()) for p in self.params])
        self._before: list[torch.Tensor] = []
        self._grads: list[torch.Tensor] = []
        self._grad_norm = 0.0
        self.previous: list[torch.Tensor] | None = None  # g_{t-1}
        self.sums = self._zero()

    def _zero(self) -> dict[str, Any]:
        return {
            "steps": 0,
            "spread_steps": 0,
            "signal_step": 0.0,
            "step_norm": 0.0,
            "grad_rms": 0.0,
            "grad_spread_sq": 0.0,
            "noise_ratio": torch.zeros(len(self.params), dtype=torch.float64),
        }

    @torch.no_grad()
    def before_noise(self) -> None:
        """Call when the gradients are final but before the noise is added to them."""
        self._grads = [p.grad.detach().float().clone() for p in self.params]
        self._before = [p.detach().float().clone() for p in self.params]
        norms = torch.stack(torch._foreach_norm(self._grads)).double().cpu()
        self._tensor_norms = norms
        self._grad_norm = float(torch.linalg.vector_norm(norms))

    @torch.no_grad()
    def after_step(self, std: torch.Tensor | float) -> None:
        """Call after ``optimizer.step()``; ``std`` is the noise's per-entry std s."""
        delta = torch._foreach_sub([p.detach().float() for p in self.params], self._before)
        dot = sum(float(torch.sum(d * g)) for d, g in zip(delta, self._grads, strict=True))
        step_norm = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(delta))))
        s = self.sums
        s["steps"] += 1
        s["signal_step"] += -dot / max(self._grad_norm, 1e-30)
        s["step_norm"] += step_norm
        s["grad_rms"] += self._grad_norm / math.sqrt(self.n)
        s["noise_ratio"] += float(std) * self._sqrt_numel / self._tensor_norms.clamp_min(1e-30)
        if self.previous is not None:
            change = torch._foreach_sub(self._grads, self.previous)
            sq = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(change)))) ** 2
            s["grad_spread_sq"] += sq / (2 * self.n)
            s["spread_steps"] += 1
        self.previous = self._grads
        self._grads, self._before = [], []

    def row(self, optimizer: torch.optim.Optimizer | None = None) -> dict[str, float]:
        """The interval's means (NaN for an interval without steps) and, when
        ``optimizer`` keeps them, Adam's second moments; starts the next interval."""
        s = self.sums
        steps = s["steps"]
        row = {
            name: s[name] / steps if steps else math.nan
            for name in ("signal_step", "step_norm", "grad_rms")
        }
        row["grad_spread_rms"] = (
            math.sqrt(s["grad_spread_sq"] / s["spread_steps"]) if s["spread_steps"] else math.nan
        )
        ratios = (s["noise_ratio"] / steps).tolist() if steps else [math.nan] * len(self.names)
        row.update({f"noise_ratio/{n}": r for n, r in zip(self.names, ratios, strict=True)})
        if optimizer is not None:
            row.update(adam_second_moments(optimizer, self.params, self.names))
        self.sums = self._zero()
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "previous": self.previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = state["sums"]
        self.previous = state["previous"]


@torch.no_grad()
def adam_second_moments(
    optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], names: Sequence[str]
) -> dict[str, float]:
    """``adam_v/<name>``: the mean of v / (1 - beta2^k) over each tensor's entries, for
    the tensors whose optimizer state has ``exp_avg_sq`` and a step k >= 1."""
    row = {}
    for group in optimizer.param_groups:
        beta2 = group.get("betas", (0.0, 0.0))[1]
        members = {id(p) for p in group["params"]}
        for name, p in zip(names, params, strict=True):
            state = optimizer.state.get(p, {})
            if id(p) not in members or "exp_avg_sq" not in state:
                continue
            k = float(state["step"])
            if k >= 1:
                row[f"adam_v/{name}"] = float(state["exp_avg_sq"].float().mean()) / (1 - beta2**k)
    return row
