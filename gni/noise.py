"""GradientNoise: add sigma_t-scaled Gaussian noise to every gradient, for any optimizer.

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

Two kinds of noise, with s_t that per-entry standard deviation and z_t ~ N(0, I) the
draw of step t (the same numbers for both kinds with the same seed)::

    independent     noise_t = s_t * z_t                          (the default)
    anticorrelated  noise_t = s_t * (z_t - z_{t-1}) / sqrt(2),   z_{-1} = 0

The anticorrelated kind is Anti-PGD (Orvieto et al. 2022, arXiv 2202.02831), matched in
variance: each entry of noise_t has variance s_t^2 like the independent kind (s_0^2 / 2
at step 0), consecutive steps have correlation -1/2, and for a constant s the noises
telescope, sum_{t<T} noise_t = s * z_{T-1} / sqrt(2). It keeps z_{t-1} as state. A step
whose std is the float 0 draws nothing (both kinds), so z_t is the t-th draw made; when
the number of gradient entries changes (a parameter without a gradient on some step),
z_{t-1} restarts at 0.

The pieces that :class:`gni.optim.NoisyAdamW` shares live here too: :func:`noise_std`
(the definition of the scales) and :class:`FlatNoise` (the draw of both kinds); neither
waits for the device. The scales and kinds themselves, and their checks, are
:mod:`gni.noise_options` (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from gni import GniError
from gni.noise_options import check_kind, check_scale

__all__ = ["FlatNoise", "GradientNoise", "has_noise", "noise_std"]  # options: gni.noise_options


def noise_std(sigma: float, scale: str, grads: Sequence[torch.Tensor]) -> torch.Tensor | float:
    r"""The per-entry standard deviation s of one step's noise.

    .. math::

        s = \sigma_t \ (\text{absolute}), \qquad
        s = \sigma_t \sqrt{\tfrac{1}{n} \textstyle\sum_i g_i^2} \ (\text{relative}),

    where :math:`\sigma_t` is the schedule's value at step t and the sum runs over all
    n entries of ``grads``. Absolute (or sigma = 0): the float ``sigma``. Relative: a
    0-d tensor on the gradients' device, so that nothing waits for the device.
    """
    if scale == "absolute" or sigma == 0.0:
        return sigma
    n = sum(g.numel() for g in grads)
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(grads))))
    return norm * (sigma / math.sqrt(n))


def has_noise(std: torch.Tensor | float) -> bool:
    """False only for the float 0, which means: draw nothing (a tensor is not inspected)."""
    return not (isinstance(std, float) and std == 0.0)


class FlatNoise:
    """Gaussian noise for a list of tensors: one ``randn`` a draw, from its own generator.

    The generator is seeded with ``seed`` and lives on ``device``, or on the device of
    the first draw when ``device`` is None. Each draw fills the first n entries of a
    persistent flat fp32 buffer (n = the tensors' total number of entries, in list
    order) and hands out views of it, so the same seed gives the same numbers for any
    optimizer that draws this way. With ``kind="anticorrelated"`` the buffer gets
    (z_t - z_{t-1}) / sqrt(2) and ``previous`` keeps z_t (fp32, flat; None before the
    first draw), a tensor that is replaced, never changed in place.
    """

    def __init__(
        self, seed: int, device: torch.device | str | None = None, kind: str = "independent"
    ) -> None:
        check_kind(kind)
        self.seed = seed
        self.kind = kind
        self.generator: torch.Generator | None = None
        self.previous: torch.Tensor | None = None
        self._buffer: torch.Tensor | None = None
        if device is not None:
            self._generator_on(torch.device(device))

    def _generator_on(self, device: torch.device) -> torch.Generator:
        if self.generator is None:
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(self.seed)
        return self.generator

    def draw(
        self, like: Sequence[torch.Tensor], std: torch.Tensor | float | None = None
    ) -> list[torch.Tensor]:
        """std times the unit noise (z, or (z - z_prev) / sqrt(2) when anticorrelated), as
        fp32 views shaped like each tensor of ``like``; the views are valid until the next
        draw. ``std=None`` gives the unit noise itself."""
        sizes = [t.numel() for t in like]
        n, device = sum(sizes), like[0].device
        buffer = self._buffer
        if buffer is None or buffer.numel() < n or buffer.device != device:
            buffer = self._buffer = torch.empty(n, device=device, dtype=torch.float32)
        out = buffer[:n]
        generator = self._generator_on(device)
        if self.kind == "independent":
            torch.randn(n, generator=generator, out=out)
        else:
            z = torch.randn(n, generator=generator, device=device, dtype=torch.float32)
            previous = self.previous
            if previous is None or previous.numel() != n or previous.device != device:
                torch.div(z, math.sqrt(2.0), out=out)  # z_{t-1} = 0: a first or resized draw
            else:
                torch.sub(z, previous, out=out).div_(math.sqrt(2.0))
            self.previous = z
        if std is not None:
            out.mul_(std)
        return [c.view_as(t) for c, t in zip(out.split(sizes), like, strict=True)]

    def add_(self, tensors: Sequence[torch.Tensor], std: torch.Tensor | float) -> None:
        """tensors += std * (unit noise), each in its own dtype; nothing is drawn when std
        is 0.

        A float std goes into the add's ``alpha`` (torch may fuse the multiply-add, so
        this rounds unlike scaling the noise first); a tensor std scales the noise first,
        since ``alpha`` must be a number.
        """
        if not has_noise(std):
            return
        scaled = isinstance(std, torch.Tensor)
        noise = self.draw(tensors, std if scaled else None)
        noise = [z.to(t.dtype) for z, t in zip(noise, tensors, strict=True)]
        torch._foreach_add_(list(tensors), noise, alpha=1.0 if scaled else std)

    def get_state(self) -> torch.Tensor | None:
        """The generator's state; None before the first draw if no device was given.
        (The previous draw is the attribute ``previous``.)"""
        return None if self.generator is None else self.generator.get_state()

    def set_state(
        self,
        state: torch.Tensor,
        device: torch.device | str,
        previous: torch.Tensor | None = None,
    ) -> None:
        """Restore the generator's state and the previous draw (None: z_{t-1} = 0)."""
        if previous is not None and self.kind == "independent":
            raise GniError("a previous draw comes from kind='anticorrelated', not independent")
        self._generator_on(torch.device(device)).set_state(state)
        self.previous = None if previous is None else previous.to(device, torch.float32)


class GradientNoise:
    """Adds sigma_t-scaled Gaussian noise to the gradients of ``params``, for any optimizer:
    call :meth:`step` after ``backward()`` (and after clipping) and before the optimizer's
    step. Its state (:meth:`state_dict`) resumes the same draws."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        schedule: Callable[[int], float],
        seed: int = 0,
        scale: str = "absolute",
        kind: str = "independent",
    ) -> None:
        """
        Args:
            params: the parameters whose ``.grad`` receives noise.
            schedule: sigma_t as a function of the step t (see ``gni.schedules``).
            seed: seeds this object's generator, independent of every other stream.
            scale: ``absolute`` (sigma_t per entry) or ``relative`` (sigma_t times the
                gradients' RMS).
            kind: ``independent`` (s_t * z_t) or ``anticorrelated``
                (s_t * (z_t - z_{t-1}) / sqrt(2)).
        """
        check_scale(scale)
        check_kind(kind)
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise GniError("GradientNoise got no parameters that require a gradient")
        self.schedule = schedule
        self.scale = scale
        self.t = 0
        self._noise = FlatNoise(seed, device=self.params[0].device, kind=kind)
        # the per-entry standard deviation of the last step's noise: a float, or a 0-d
        # tensor on the gradients' device with the relative scale (read it with float())
        self.last_std: torch.Tensor | float = 0.0

    @property
    def generator(self) -> torch.Generator:
        """The noise's own generator."""
        return self._noise.generator

    @torch.no_grad()
    def step(self) -> torch.Tensor | float:
        """Add noise to the current gradients, advance t; returns the std used (a 0-d
        tensor with the relative scale, so that nothing waits for the device)."""
        sigma = float(self.schedule(self.t))
        self.t += 1
        grads = [p.grad for p in self.params if p.grad is not None]
        std = noise_std(sigma, self.scale, grads) if grads else 0.0
        self._noise.add_(grads, std)
        self.last_std = std
        return std

    @property
    def kind(self) -> str:
        return self._noise.kind

    def state_dict(self) -> dict[str, Any]:
        """t, the generator's state and the previous draw z_{t-1} (None for the
        independent kind or before the first draw)."""
        noise = self._noise
        return {"t": self.t, "generator": noise.get_state(), "previous": noise.previous}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Accepts states without ``previous`` (older checkpoints): z_{t-1} = 0."""
        self.t = int(state["t"])
        device = self.params[0].device
        self._noise.set_state(state["generator"], device, state.get("previous"))
