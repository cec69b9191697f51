"""Fake quantization for training (QAT): straight-through rounding and learned step size.

:class:`LSQ` is Esser et al.'s learned step size quantizer: ``q = clamp(round(x / s), qmin, qmax)
* s`` with a straight-through estimator for ``round`` and the step's gradient scaled by
``1 / sqrt(numel * qmax)``. A weight quantizer is symmetric per output channel
(``-(2^(b-1) - 1) .. 2^(b-1) - 1``); an activation quantizer picks, at its first batch, the
unsigned range ``0 .. 255`` (non-negative inputs, exported as int8 with zero point -128) or the
signed range ``-128 .. 127`` (zero point 0), so the exported QDQ model computes exactly what
training simulated. With ``learn=False`` the step follows the min/max of the current tensor
(plain STE), the same rule PTQ uses for weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return (torch.round(x) - x).detach() + x


def _grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    return (x - x * g).detach() + x * g


class LSQ(nn.Module):
    """Learned step size fake quantizer (per tensor, or per channel along axis 0)."""

    def __init__(self, bits: int, *, weight: bool, channels: int = 1, learn: bool = True) -> None:
        super().__init__()
        self.bits, self.weight, self.learn = bits, weight, learn
        self.step = nn.Parameter(torch.ones(channels), requires_grad=learn)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("unsigned", torch.zeros((), dtype=torch.bool))

    def qrange(self) -> tuple[int, int]:
        half = 2 ** (self.bits - 1)
        if self.weight:
            return -(half - 1), half - 1
        return (0, 2 * half - 1) if bool(self.unsigned) else (-half, half - 1)

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (-1,) + (1,) * (x.dim() - 1) if self.step.numel() > 1 else (1,)

    def _minmax_step(self, x: torch.Tensor) -> torch.Tensor:
        qmin, qmax = self.qrange()
        if self.step.numel() > 1:
            amax = x.detach().abs().reshape(x.shape[0], -1).amax(dim=1)
        else:
            amax = x.detach().abs().amax().reshape(1)
        return torch.clamp(amax / max(qmax, -qmin), min=1e-8)

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        if not self.weight:
            self.unsigned.fill_(bool(x.min() >= 0))  # type: ignore[operator]
        self.step.copy_(self._minmax_step(x))
        self.initialized.fill_(True)  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            self._initialize(x)
        qmin, qmax = self.qrange()
        if self.learn:
            g = 1.0 / float(x.numel() / self.step.numel() * qmax) ** 0.5
            s = _grad_scale(self.step, g).abs().clamp(min=1e-8)
        else:
            s = self._minmax_step(x)
            with torch.no_grad():
                self.step.copy_(s)
        s = s.reshape(self._shape(x))
        return _round_ste(torch.clamp(x / s, qmin, qmax)) * s

    def act_range(self) -> tuple[float, float]:
        """The float range ``(lo, hi)`` this activation quantizer represents."""
        qmin, qmax = self.qrange()
        s = float(self.step.detach().abs().reshape(()))
        return qmin * s, qmax * s


class QATLayer(nn.Module):
    """A Conv1d/Conv2d/Linear with fake-quantized input and weight."""

    def __init__(self, layer: Any, weight_bits: int, act_bits: int, learn: bool) -> None:
        super().__init__()
        self.layer = layer
        self.act = LSQ(act_bits, weight=False, learn=learn)
        self.wq = LSQ(weight_bits, weight=True, channels=layer.weight.shape[0], learn=learn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.wq(self.layer.weight)
        x = self.act(x)
        if isinstance(self.layer, nn.Linear):
            return nn.functional.linear(x, w, self.layer.bias)
        return self.layer._conv_forward(x, w, self.layer.bias)  # type: ignore[no-any-return]


class QATRecurrent(nn.Module):
    """A GRU/LSTM whose gate weights (input and recurrent, all gates) are fake-quantized per
    row with straight-through rounding; state and gate activations stay float."""

    def __init__(self, rnn: Any, weight_bits: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.bits = weight_bits
        self.names = [n for n, _ in rnn.named_parameters() if n.startswith("weight_")]
        self.quant = nn.ModuleDict(
            {
                n: LSQ(weight_bits, weight=True, channels=getattr(rnn, n).shape[0], learn=False)
                for n in self.names
            }
        )

    def forward(self, *args: Any) -> Any:
        weights = {n: self.quant[n](getattr(self.rnn, n)) for n in self.names}
        params = {n: p for n, p in self.rnn.named_parameters()} | weights
        return torch.func.functional_call(self.rnn, params, args)
