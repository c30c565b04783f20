"""Optimizer construction: parameter groups with weight decay on >=2-d tensors only.

Matrices (Linear and embedding weights) decay; vectors (LayerNorm weights, biases) do
not, as in nanoGPT and the paper's template.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def decay_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: >=2-d parameters with ``weight_decay``, the rest with none."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
