"""GradientNoise: add sigma_t * N(0, I) to every gradient, for any optimizer.

Call ``step()`` after ``backward()`` (and after gradient clipping, the default
placement) and before ``optimizer.step()``::

    noise = GradientNoise(model.parameters(), make_schedule("exponential", sigma0=0.01,
                          gamma=0.999), seed=0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    noise.step()  # g <- g + sigma_t * z, z ~ N(0, I); then t <- t + 1
    optimizer.step()

Conventions: sigma_t is a standard deviation; t counts calls to ``step`` from 0;
parameters without a gradient get no noise. With ``scale="relative"`` the standard
deviation is sigma_t times the root-mean-square of all gradient entries (the
"adaptive" variant). The noise comes from the object's own ``torch.Generator`` and is
drawn with one ``randn`` per step into a persistent flat buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

SCALES = ("absolute", "relative")


class GradientNoise:
    def __init__(
        self,
        params: Iterable[torch.Tensor],
        schedule: Callable[[int], float],
        seed: int = 0,
        scale: str = "absolute",
    ) -> None:
        """
        Args:
            params: the parameters whose ``.grad`` receives noise.
            schedule: sigma_t as a function of the step t (see ``gni.schedules``).
            seed: seeds this object's generator, independent of every other stream.
            scale: ``absolute`` (sigma_t per entry) or ``relative`` (sigma_t times the
                gradients' RMS).
        """
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r}; allowed: {', '.join(SCALES)}")
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("GradientNoise got no parameters that require a gradient")
        self.schedule = schedule
        self.scale = scale
        self.t = 0
        self.generator = torch.Generator(device=self.params[0].device)
        self.generator.manual_seed(seed)
        self._buffer: torch.Tensor | None = None
        self.last_std = 0.0  # the per-entry standard deviation of the last step's noise

    @torch.no_grad()
    def step(self) -> float:
        """Add noise to the current gradients, advance t; returns the std used."""
        sigma = float(self.schedule(self.t))
        self.t += 1
        grads = [p.grad for p in self.params if p.grad is not None]
        if sigma == 0.0 or not grads:
            self.last_std = 0.0
            return 0.0
        n = sum(g.numel() for g in grads)
        std = sigma
        if self.scale == "relative":  # the only case that needs a pass over the gradients
            grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            std = sigma * grad_norm.item() / math.sqrt(n)
        if self._buffer is None or self._buffer.numel() < n:
            self._buffer = torch.empty(n, device=grads[0].device, dtype=torch.float32)
        z = self._buffer[:n]
        torch.randn(n, generator=self.generator, out=z)
        chunks = z.split([g.numel() for g in grads])
        torch._foreach_add_(
            grads,
            [c.view_as(g).to(g.dtype) for c, g in zip(chunks, grads, strict=True)],
            alpha=std,
        )
        self.last_std = std
        return std

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t = int(state["t"])
        self.generator.set_state(state["generator"])
