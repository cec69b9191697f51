"""Counts on the torch model: prunable weights, non-zeros, MACs, per-layer sparsity, histograms.

These are the *claims* a pass makes; the realized gains are measured on the exported artifact
(:mod:`edgeslim.measure`) and compared with them by :mod:`._claims`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_RNN = (nn.GRU, nn.LSTM, nn.RNN)


def weight_params(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The weight matrices pruning works on: Conv/Linear ``weight``, recurrent ``weight_ih``/
    ``weight_hh`` (biases and norms excluded), by qualified name, in module order."""
    out = []
    for mname, m in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if isinstance(m, _WEIGHTED):
            out.append((f"{prefix}weight", m.weight))
        elif isinstance(m, _RNN):
            out += [
                (f"{prefix}{n}", p)
                for n, p in m.named_parameters(recurse=False)
                if n.startswith("weight_")
            ]
    return out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_counts(model: nn.Module) -> dict[str, tuple[int, int]]:
    """(elements, non-zero elements) per weight matrix."""
    return {
        name: (p.numel(), int(torch.count_nonzero(p.detach()))) for name, p in weight_params(model)
    }


def layer_sparsity(
    model: nn.Module, reference: Mapping[str, int] | None = None
) -> dict[str, float]:
    """1 - non-zeros / elements per weight matrix; ``reference`` gives the elements of the
    unpruned model, so a physically smaller matrix counts as sparser."""
    out = {}
    for name, (n, nz) in weight_counts(model).items():
        total = reference.get(name, n) if reference else n
        out[name] = 1.0 - nz / total if total else 0.0
    return out


def overall_sparsity(model: nn.Module, reference_total: int | None = None) -> float:
    counts = weight_counts(model).values()
    total = reference_total or sum(n for n, _ in counts)
    return 1.0 - sum(nz for _, nz in counts) / total if total else 0.0


def _rnn_macs(m: Any, steps: int) -> int:
    gates = 4 if isinstance(m, nn.LSTM) else 3 if isinstance(m, nn.GRU) else 1
    dirs = 2 if m.bidirectional else 1
    total, inp = 0, m.input_size
    for _ in range(m.num_layers):
        total += dirs * gates * m.hidden_size * (inp + m.hidden_size)
        inp = dirs * m.hidden_size
    return steps * total


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one sample through Conv, Linear and recurrent layers."""
    total = 0

    def hook(m: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            per_out = (m.in_channels // m.groups) * math.prod(m.kernel_size)
            total += output.numel() // output.shape[0] * per_out
        elif isinstance(m, nn.Linear):
            total += output.numel() // x.shape[0] * m.in_features
        elif isinstance(m, _RNN):
            steps = x.shape[1] if m.batch_first else x.shape[0]
            total += _rnn_macs(m, steps)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _WEIGHTED + _RNN)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def histogram(model: nn.Module, edges: torch.Tensor) -> list[int]:
    """Counts of non-zero weight values per bin of ``edges`` (outliers go to the end bins)."""
    values = torch.cat([p.detach().flatten() for _, p in weight_params(model)])
    values = values[values != 0].clamp(float(edges[0]), float(edges[-1]))
    counts = torch.histc(values, bins=len(edges) - 1, min=float(edges[0]), max=float(edges[-1]))
    return [int(c) for c in counts.tolist()]


def histogram_edges(model: nn.Module, bins: int = 41) -> torch.Tensor:
    values = torch.cat([p.detach().flatten() for _, p in weight_params(model)])
    top = float(values.abs().max()) if values.numel() else 1.0
    return torch.linspace(-top, top, bins + 1)
