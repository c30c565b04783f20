"""NoisyAdamW: gradient noise fused into the AdamW update; parameter groups for decay.

The algorithm, for every parameter p with gradient g, at optimizer step t (from 0)::

    s       = sigma_t                          (scale="absolute")
            = sigma_t * rms(all gradients)     (scale="relative")
    g~      = g + s * z_t,  z_t ~ N(0, I)      (kind="independent"; .grad is left as it was)
            = g + s * (z_t - z_{t-1}) / sqrt(2),  z_{-1} = 0   (kind="anticorrelated")
    p       = p * (1 - lr * weight_decay)      (decoupled weight decay)
    m       = beta1 * m + (1 - beta1) * g~
    v       = beta2 * v + (1 - beta2) * g~^2
    p       = p - lr / (1 - beta1^(t+1)) * m / (sqrt(v / (1 - beta2^(t+1))) + eps)

With sigma_t = 0 this is ``torch.optim.AdamW``. Three implementations share these
semantics: ``reference`` (a readable loop over tensors), ``foreach`` (torch's
multi-tensor ops with one ``randn`` into a persistent flat buffer; the default off
CUDA) and ``triton`` (one kernel launch per parameter group and dtype that draws the
noise with Philox keyed by seed, step and element offset and applies the whole update
in one pass over memory; the default on CUDA when Triton is installed). ``reference``
and ``foreach`` draw the same numbers as :class:`gni.noise.GradientNoise` with the same
seed (both draw with :class:`gni.noise.FlatNoise`); ``triton`` draws other numbers with
the same distribution. All three take s from :func:`gni.noise.noise_std`. The
anticorrelated kind (Anti-PGD, see :mod:`gni.noise`) keeps z_{t-1} as state in
``reference`` and ``foreach``; ``triton`` is stateless and draws z_{t-1} again from its
key (seed, t - 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from gni import GniError
from gni.noise import FlatNoise, has_noise, noise_std
from gni.noise_options import check_kind, check_scale

__all__ = [
    "IMPLEMENTATIONS",
    "NoisyAdamW",
    "decay_param_groups",
    "triton_available",
]

#: NoisyAdamW's implementations; auto picks triton on CUDA with Triton, else foreach.
IMPLEMENTATIONS = ("auto", "reference", "foreach", "triton")


def decay_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: >=2-d parameters (matrices, embeddings) with ``weight_decay``, the
    rest (LayerNorm weights, biases) with none, as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def triton_available() -> bool:
    """Whether Triton can be imported here (``pip install 'gni[gpu]'``)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


class NoisyAdamW(torch.optim.Optimizer):
    """AdamW with gradient noise drawn inside the step (see the module docstring): a
    drop-in for ``torch.optim.AdamW`` that adds ``schedule``'s noise to each gradient
    before the moments are updated."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        schedule: Callable[[int], float] | None = None,
        seed: int = 0,
        scale: str = "absolute",
        impl: str = "auto",
        kind: str = "independent",
    ) -> None:
        """
        Args:
            params: parameters or parameter groups, as for ``torch.optim.AdamW``.
            lr, betas, eps, weight_decay: as for ``torch.optim.AdamW``.
            schedule: sigma_t as a function of the step t (see ``gni.schedules``);
                None means no noise.
            seed: seeds the noise, independent of every other random stream.
            scale: ``absolute`` or ``relative`` (sigma_t times the gradients' RMS).
            impl: ``auto``, ``reference``, ``foreach`` or ``triton``.
            kind: ``independent`` (s * z_t) or ``anticorrelated``
                (s * (z_t - z_{t-1}) / sqrt(2)).
        """
        if not lr > 0:
            raise GniError(f"lr={lr} must be > 0")
        if not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1:
            raise GniError(f"betas={betas} must each be in [0, 1)")
        if not eps > 0:
            raise GniError(f"eps={eps} must be > 0")
        if not weight_decay >= 0:
            raise GniError(f"weight_decay={weight_decay} must be >= 0")
        check_scale(scale)
        check_kind(kind)
        if impl not in IMPLEMENTATIONS:
            raise GniError(f"impl={impl!r}; allowed: {', '.join(IMPLEMENTATIONS)}")
        if impl == "triton" and not triton_available():
            raise GniError("impl='triton' needs Triton: pip install 'gni[gpu]'")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.schedule = schedule or (lambda t: 0.0)
        self.seed = seed
        self.scale = scale
        self.impl = impl
        self.kind = kind
        self.noise_t = 0  # steps taken; the noise of step t uses sigma_t
        # the per-entry std of the last step's noise, as GradientNoise.last_std
        self.last_std: torch.Tensor | float = 0.0
        # its generator starts on the first draw's device
        self._noise = FlatNoise(seed, kind=kind)

    def _implementation(self, device: torch.device) -> str:
        if self.impl != "auto":
            return self.impl
        return "triton" if device.type == "cuda" and triton_available() else "foreach"

    def _gather(self) -> list[tuple[dict[str, Any], list[torch.Tensor]]]:
        """Per group: the parameters that have a gradient, with their state created."""
        gathered = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    # the moments are fp32 whatever the parameter's dtype
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
            gathered.append((group, params))
        return gathered

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        gathered = self._gather()
        params = [p for _, ps in gathered for p in ps]
        if not params:
            return loss
        grads = [p.grad for p in params]
        std = noise_std(float(self.schedule(self.noise_t)), self.scale, grads)
        impl = self._implementation(params[0].device)
        if impl == "triton":
            from gni.triton_adamw import triton_noisy_adamw

            triton_noisy_adamw(self, gathered, std)
        else:
            noise = self._noise.draw(grads, std) if has_noise(std) else [None] * len(grads)
            update = _reference_adamw if impl == "reference" else _foreach_adamw
            start = 0
            for group, ps in gathered:
                update(group, ps, [self.state[p] for p in ps], noise[start : start + len(ps)])
                start += len(ps)
        self.noise_t += 1
        self.last_std = std
        return loss

    def state_dict(self) -> dict[str, Any]:
        """torch's, plus "noise": t, seed, the generator's state and the previous draw
        z_{t-1} (None for the independent kind, before the first draw, or with Triton)."""
        state = super().state_dict()
        state["noise"] = {
            "t": self.noise_t,
            "seed": self.seed,
            "generator": self._noise.get_state(),
            "previous": self._noise.previous,
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Accepts a "noise" without "previous" (older checkpoints): z_{t-1} = 0."""
        state_dict = dict(state_dict)
        noise = state_dict.pop("noise")
        super().load_state_dict(state_dict)
        self.noise_t, self.seed = int(noise["t"]), int(noise["seed"])
        self._noise = FlatNoise(self.seed, kind=self.kind)
        if noise["generator"] is not None:
            params = [p for g in self.param_groups for p in g["params"]]
            self._noise.set_state(noise["generator"], params[0].device, noise.get("previous"))


def _reference_adamw(
    group: dict[str, Any],
    params: list[torch.Tensor],
    states: list[dict[str, Any]],
    noise: list[torch.Tensor | None],
) -> None:
    """The update, one tensor at a time: the definition the fast paths must match."""
    beta1, beta2 = group["betas"]
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    for p, state, z in zip(params, states, noise, strict=True):
        g = p.grad.float() if z is None else p.grad.float() + z
        state["step"] += 1
        step = state["step"].item()
        p.mul_(1 - lr * wd)
        state["exp_avg"].lerp_(g, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        denom = (state["exp_avg_sq"].sqrt() / bias_correction2_sqrt).add_(eps)
        p.addcdiv_(state["exp_avg"], denom, value=-lr / bias_correction1)


def _foreach_adamw(
    group: dict[str, Any],
    params: list[torch.Tensor],
    states: list[dict[str, Any]],
    noise: list[torch.Tensor | None],
) -> None:
    """The update with torch's multi-tensor ops."""
    if not params:
        return
    if len({s["step"].item() for s in states}) > 1:  # some tensors skipped steps
        _reference_adamw(group, params, states, noise)
        return
    beta1, beta2 = group["betas"]
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    grads = [p.grad if p.grad.dtype == torch.float32 else p.grad.float() for p in params]
    if noise[0] is not None:
        grads = torch._foreach_add(grads, noise)  # noisy copies; .grad stays as it was
    exp_avgs = [s["exp_avg"] for s in states]
    exp_avg_sqs = [s["exp_avg_sq"] for s in states]
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1.0)
    if wd != 0:
        torch._foreach_mul_(params, 1 - lr * wd)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    step = steps[0].item()
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, -lr / bias_correction1)
