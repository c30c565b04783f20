"""The GPT of the paper: nanoGPT's character-level transformer.

Pre-LayerNorm blocks, causal self-attention through ``scaled_dot_product_attention``,
a GELU MLP four times as wide as the residual stream, learned position embeddings,
the token embedding tied to the output head, and dropout on the embeddings, the
attention weights, the residual branches and the MLP. Shapes in comments use
B = batch, T = time (characters), C = ``n_embd``, V = ``vocab_size``.

The model knows nothing of noise or datasets; it draws its initial weights from the
generator it is given, so that runs paired by seed start from the same weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gni import GniError

__all__ = [
    "GPT",
    "MLP",
    "Block",
    "CausalSelfAttention",
    "GPTConfig",
    "LayerNorm",
    "count_parameters",
]


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int  # context length in characters
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = False  # biases in Linear and LayerNorm layers (the paper: none)


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (``torch.nn.LayerNorm`` cannot drop only the bias)."""

    def __init__(self, n_dim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_dim))
        self.bias = nn.Parameter(torch.zeros(n_dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (scaled dot product, one fused QKV projection)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, C / n_head)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The feed-forward layer: n_embd -> 4 n_embd, GELU, -> n_embd, dropout."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-LayerNorm transformer block: x + attention(ln(x)), then x + MLP(ln(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT: token and position embeddings, ``n_layer`` blocks, a final LayerNorm
    and the output layer tied to the token embedding; ``forward(idx, targets)`` gives
    the logits and the mean cross-entropy in nats per character."""

    def __init__(self, config: GPTConfig, generator: torch.Generator | None = None) -> None:
        """Build the model and draw its initial weights from ``generator``.

        Linear and embedding weights ~ N(0, 0.02); the residual projections
        (``c_proj``) ~ N(0, 0.02 / sqrt(2 * n_layer)), as in GPT-2; biases 0.
        """
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise GniError(f"n_embd={config.n_embd} is not divisible by n_head={config.n_head}")
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator | None) -> None:
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                std = residual_std if name.endswith("c_proj") else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding) and module is not self.transformer.wte:
                # wte shares lm_head's weight, which the Linear branch initialised.
                nn.init.normal_(module.weight, mean=0.0, std=0.02, generator=generator)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) for token ids ``idx`` (B, T), and the mean cross-entropy in
        nats per character when ``targets`` (B, T) are given."""
        T = idx.shape[1]
        if self.config.block_size < T:
            raise GniError(f"sequence length {T} exceeds block_size={self.config.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.view(-1), label_smoothing=label_smoothing
        )
        return logits, loss


def count_parameters(model: GPT, non_embedding: bool = True) -> int:
    """Number of parameters; with ``non_embedding`` the position embeddings are left out.

    The token embedding is tied to the output head, so it is counted once and kept:
    this is the count nanoGPT prints and the paper's model card uses.
    """
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        n -= model.transformer.wpe.weight.numel()
    return n
