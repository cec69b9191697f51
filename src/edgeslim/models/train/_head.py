"""Regression target standardization: find the output layer, fold the target scale into it.

Training a regression head on targets of scale 100 with Adam is slow, because Adam's step size
does not follow the gradient's scale. :func:`fit` therefore trains on ``(y - mean) / std`` and
then rewrites the output layer ``W x + b`` to ``std * W x + (std * b + mean)``: the trained
model predicts raw targets, and nothing else (export, deployment) needs to know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class TargetScale:
    mean: np.ndarray  # (output_dim,)
    std: np.ndarray  # (output_dim,)

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScale:
        y2 = y.reshape(len(y), -1).astype(np.float64)
        return cls(mean=y2.mean(axis=0), std=np.maximum(y2.std(axis=0), 1e-6))

    def apply(self, y: np.ndarray) -> np.ndarray:
        shape = y.shape
        return ((y.reshape(len(y), -1) - self.mean) / self.std).astype(np.float32).reshape(shape)


def output_linear(model: Any, x: torch.Tensor) -> nn.Linear | None:
    """The ``nn.Linear`` whose output *is* the model's output on ``x`` (None if there is none).

    Identity of the returned tensor makes folding exact: nothing runs after that layer.
    """
    seen: dict[int, torch.Tensor] = {}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    hooks = [
        m.register_forward_hook(lambda mod, _inp, out: seen.__setitem__(id(mod), out))
        for m in linears
    ]
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in hooks:
            h.remove()
    for m in linears:
        if seen.get(id(m)) is y:
            return m
    return None


def fold_scale(layer: nn.Linear, scale: TargetScale) -> None:
    """Rewrite ``layer`` in place so its outputs are ``std * out + mean``."""
    std = torch.as_tensor(scale.std, dtype=layer.weight.dtype)
    mean = torch.as_tensor(scale.mean, dtype=layer.weight.dtype)
    with torch.no_grad():
        layer.weight.mul_(std[:, None])
        if layer.bias is None:
            layer.bias = nn.Parameter(mean.clone())
        else:
            layer.bias.mul_(std).add_(mean)
