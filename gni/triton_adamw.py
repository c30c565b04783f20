"""The Triton path of :class:`gni.optim.NoisyAdamW`: noise and AdamW in one kernel.

One launch covers every tensor of a parameter group that shares a dtype and a step
count: the kernel reads tables of tensor addresses, and each program handles one
block of one tensor. Per element it loads p, g, m and v once, draws z with Philox
(``tl.randn``; key = (seed, step), counter = the element's offset in the flattened
list of all gradients), applies the update of ``gni.optim`` in fp32 and stores p, m
and v once. Parameters may be fp32 or bf16; the moments are fp32. The anticorrelated
kind is stateless here: from step 1 on the kernel also draws z_{t-1} with the key
(seed, t - 1) at the same counters and adds s * (z_t - z_{t-1}) / sqrt(2); at step 0,
s * z_0 / sqrt(2).

Runs on CUDA, and on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests run it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import triton
import triton.language as tl

from gni import GniError
from gni.noise import has_noise

if TYPE_CHECKING:
    from gni.optim import NoisyAdamW

BLOCK = 1024
_TL_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}


@triton.jit
def _noisy_adamw_kernel(
    p_ptrs,  # int64 address tables, one entry per tensor
    g_ptrs,
    m_ptrs,
    v_ptrs,
    numels,  # int32 per tensor
    noise_offsets,  # int32 per tensor: its first element's Philox counter
    block_tensor,  # int32 per program: which tensor
    block_start,  # int32 per program: first element within that tensor
    std_ptr,  # fp32 scalar: the noise's standard deviation
    seed,  # Philox key: (noise seed << 32) | step
    previous_seed,  # the key of step - 1 (anticorrelated, step >= 1)
    decay,  # 1 - lr * weight_decay
    one_minus_beta1,
    beta2,
    one_minus_beta2,
    eps,
    step_size,  # lr / (1 - beta1^k)
    bias_correction2_sqrt,  # sqrt(1 - beta2^k)
    P_DTYPE: tl.constexpr,
    HAS_NOISE: tl.constexpr,
    ANTICORRELATED: tl.constexpr,  # the kind: (z - z_previous) / sqrt(2) instead of z
    HAS_PREVIOUS: tl.constexpr,  # step >= 1: z_previous from previous_seed, else 0
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    tensor = tl.load(block_tensor + pid)
    start = tl.load(block_start + pid)
    n = tl.load(numels + tensor)
    p_ptr = tl.load(p_ptrs + tensor).to(tl.pointer_type(P_DTYPE))
    g_ptr = tl.load(g_ptrs + tensor).to(tl.pointer_type(P_DTYPE))
    m_ptr = tl.load(m_ptrs + tensor).to(tl.pointer_type(tl.float32))
    v_ptr = tl.load(v_ptrs + tensor).to(tl.pointer_type(tl.float32))
    offs = start + tl.arange(0, BLOCK)
    mask = offs < n

    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
    m = tl.load(m_ptr + offs, mask=mask)
    v = tl.load(v_ptr + offs, mask=mask)
    if HAS_NOISE:
        counter = tl.load(noise_offsets + tensor) + offs
        z = tl.randn(seed, counter)
        if ANTICORRELATED:
            if HAS_PREVIOUS:
                z = z - tl.randn(previous_seed, counter)
            z = z / 1.4142135623730951  # sqrt(2)
        g = g + tl.load(std_ptr) * z
    # the operations follow torch.optim.AdamW's order, so that both round alike
    p = p * decay
    m = m + one_minus_beta1 * (g - m)  # lerp
    v = v * beta2 + one_minus_beta2 * g * g
    denom = tl.sqrt(v) / bias_correction2_sqrt + eps
    p = p + (-step_size * m) / denom  # addcdiv: (value * t1) / t2
    tl.store(p_ptr + offs, p.to(P_DTYPE), mask=mask)
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)


_block_tables: dict[tuple[Any, ...], tuple[torch.Tensor, ...]] = {}


def _tables(
    device: torch.device, numels: tuple[int, ...], offsets: tuple[int, ...]
) -> tuple[torch.Tensor, ...]:
    """(numels, noise offsets, block -> tensor, block -> start), cached per layout."""
    key = (device, numels, offsets)
    if key not in _block_tables:
        block_tensor, block_start = [], []
        for i, n in enumerate(numels):
            for start in range(0, n, BLOCK):
                block_tensor.append(i)
                block_start.append(start)
        _block_tables[key] = tuple(
            torch.tensor(values, dtype=torch.int32, device=device)
            for values in (numels, offsets, block_tensor, block_start)
        )
    return _block_tables[key]


def _philox_key(seed: int, t: int) -> int:
    """The noise's key at step t: (seed << 32) | t, each in 32 bits."""
    return (seed & 0xFFFFFFFF) << 32 | (t & 0xFFFFFFFF)


def _addresses(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    return torch.tensor([t.data_ptr() for t in tensors], dtype=torch.int64, device=device)


def _step_buckets(
    optimizer: NoisyAdamW, params: list[torch.Tensor]
) -> dict[tuple[torch.dtype, float], list[torch.Tensor]]:
    """Count the step in each parameter's state; group the parameters by (dtype, step),
    one kernel launch each."""
    buckets: dict[tuple[torch.dtype, float], list[torch.Tensor]] = {}
    for p in params:
        if not p.is_contiguous() or p.grad is None or not p.grad.is_contiguous():
            raise GniError("the Triton path needs contiguous parameters and gradients")
        if p.dtype not in _TL_DTYPES:
            raise GniError(f"the Triton path supports {list(_TL_DTYPES)}, not {p.dtype}")
        state = optimizer.state[p]
        state["step"] += 1
        buckets.setdefault((p.dtype, state["step"].item()), []).append(p)
    return buckets


def triton_noisy_adamw(
    optimizer: NoisyAdamW,
    gathered: list[tuple[dict[str, Any], list[torch.Tensor]]],
    std: torch.Tensor | float,
) -> None:
    """One NoisyAdamW step with the kernel; ``gathered`` is (group, params with grads) and
    ``std`` the per-entry standard deviation from :func:`gni.noise.noise_std`."""
    params = [p for _, ps in gathered for p in ps]
    device = params[0].device
    std_tensor = (
        std.reshape(1).float()
        if isinstance(std, torch.Tensor)
        else torch.full((1,), std, dtype=torch.float32, device=device)
    )
    if sum(p.numel() for p in params) >= 2**31:
        raise GniError("the Triton path supports fewer than 2**31 parameter entries")
    t = optimizer.noise_t
    key = _philox_key(optimizer.seed, t)
    has_previous = optimizer.kind == "anticorrelated" and t >= 1
    # without a previous draw pass key again, which compiles no other specialization
    previous_key = _philox_key(optimizer.seed, t - 1) if has_previous else key
    offset_of, offset = {}, 0
    for p in params:
        offset_of[p] = offset
        offset += p.numel()
    for group, ps in gathered:
        beta1, beta2 = group["betas"]
        for (dtype, step), bucket in _step_buckets(optimizer, ps).items():
            states = [optimizer.state[p] for p in bucket]
            for s in states:  # the kernel keeps the moments in fp32
                for name in ("exp_avg", "exp_avg_sq"):
                    if s[name].dtype != torch.float32:
                        s[name] = s[name].float()
            numels, offsets, block_tensor, block_start = _tables(
                device, tuple(p.numel() for p in bucket), tuple(offset_of[p] for p in bucket)
            )
            _noisy_adamw_kernel[(block_tensor.numel(),)](
                _addresses(bucket, device),
                _addresses([p.grad for p in bucket], device),
                _addresses([s["exp_avg"] for s in states], device),
                _addresses([s["exp_avg_sq"] for s in states], device),
                numels,
                offsets,
                block_tensor,
                block_start,
                std_tensor,
                key,
                previous_key,
                1 - group["lr"] * group["weight_decay"],
                1 - beta1,
                beta2,
                1 - beta2,
                group["eps"],
                group["lr"] / (1 - beta1**step),
                math.sqrt(1 - beta2**step),
                P_DTYPE=_TL_DTYPES[dtype],
                HAS_NOISE=has_noise(std),
                ANTICORRELATED=optimizer.kind == "anticorrelated",
                HAS_PREVIOUS=has_previous,
                BLOCK=BLOCK,
            )
