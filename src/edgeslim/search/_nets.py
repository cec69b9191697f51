"""Searchable networks: the architectures a search space describes, built as torch modules.

Every family reads a sample through an optional *front end* (the last ``window`` steps of the
series, every ``stride``-th step: input downsampling, which is most of a recurrent net's cost on
a microcontroller) and ends in a dense head (optionally one hidden ReLU layer). All of them
export to ONNX ops the C generator lowers (GRU, LSTM, Conv, Gemm, Slice, ...). A plain Elman RNN
cell is built from Linear + Tanh steps unrolled over the (downsampled) window, because the C
generator has no ONNX ``RNN`` kernel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeslim._core.errors import RecipeError
from edgeslim.data.spec import DataSpec, Layout
from edgeslim.models.zoo import sequence_shape

FAMILIES = ("recurrent", "tcn", "cnn", "dscnn", "mlp")


class FrontEnd(nn.Module):
    """(batch, ...) -> (batch, features, steps): last ``window`` steps, every ``stride``-th."""

    def __init__(self, spec: DataSpec, window: int, stride: int) -> None:
        super().__init__()
        self.layout = spec.layout
        self.features, steps = sequence_shape(spec)
        self.window = min(int(window or steps), steps)
        self.stride = max(int(stride), 1)
        self.start = steps - self.window
        self.steps = len(range(self.start, steps, self.stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout is Layout.IMAGE:
            x = x.permute(0, 1, 3, 2).reshape(x.shape[0], self.features, -1)
        elif self.layout is not Layout.SERIES:
            x = x.unsqueeze(1)
        if self.start or self.stride > 1:
            x = x[:, :, self.start :: self.stride]
        return x


def _head(cin: int, hidden: int, out: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(cin, out)
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, out))


class ElmanRNN(nn.Module):
    """h_t = tanh(W x_t + U h_{t-1} + b), unrolled (exports as Gemm/MatMul + Tanh steps)."""

    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.ih = nn.ModuleList(
            nn.Linear(features if i == 0 else hidden, hidden) for i in range(layers)
        )
        self.hh = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, features, steps)
        seq = [x[:, :, t] for t in range(x.shape[2])]
        for ih, hh in zip(self.ih, self.hh, strict=True):
            h = torch.tanh(ih(seq[0]))
            out = [h]
            for xt in seq[1:]:
                h = torch.tanh(ih(xt) + hh(h))
                out.append(h)
            seq = out
        return seq[-1]


class RecurrentCandidate(nn.Module):
    def __init__(self, p: dict[str, Any], spec: DataSpec) -> None:
        super().__init__()
        self.front = FrontEnd(spec, p.get("window", 0), p.get("stride", 1))
        cell, hidden, layers = str(p.get("cell", "gru")), int(p["hidden"]), int(p.get("layers", 1))
        self.bidirectional = bool(p.get("bidirectional", False))
        self.cell = cell
        if cell == "rnn":
            if self.bidirectional:
                raise RecipeError("search space: cell rnn is unidirectional; set bidirectional")
            self.rnn: nn.Module = ElmanRNN(self.front.features, hidden, layers)
        elif cell in ("gru", "lstm"):
            kind = nn.GRU if cell == "gru" else nn.LSTM
            self.rnn = kind(
                self.front.features,
                hidden,
                num_layers=layers,
                batch_first=True,
                bidirectional=self.bidirectional,
            )
        else:
            raise RecipeError(
                f"search space: parameter cell must be gru, lstm or rnn; got {cell!r}"
            )
        self.directions = 2 if self.bidirectional else 1
        self.head = _head(hidden * self.directions, int(p.get("head", 0)), spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.front(x)
        if self.cell == "rnn":
            return self.head(self.rnn(s))  # type: ignore[no-any-return]
        out = self.rnn(s.transpose(1, 2))[1]
        h = out[0] if isinstance(out, tuple) else out
        last = h[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)
        return self.head(last)  # type: ignore[no-any-return]


class _Causal(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, kernel, dilation=dilation)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv1(nn.functional.pad(x, (self.pad, 0))))
        y = self.relu(self.conv2(nn.functional.pad(y, (self.pad, 0))))
        return self.relu(y + self.shortcut(x))  # type: ignore[no-any-return]


class TCNCandidate(nn.Module):
    """``levels`` residual blocks of ``channels``, dilation ``dilation_base ** level``."""

    def __init__(self, p: dict[str, Any], spec: DataSpec) -> None:
        super().__init__()
        self.front = FrontEnd(spec, p.get("window", 0), p.get("stride", 1))
        c, blocks = self.front.features, []
        base = int(p.get("dilation_base", 2))
        for level in range(int(p.get("levels", 2))):
            blocks.append(_Causal(c, int(p["channels"]), int(p.get("kernel", 3)), base**level))
            c = int(p["channels"])
        self.blocks = nn.Sequential(*blocks)
        self.head = _head(c, int(p.get("head", 0)), spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.front(x))[:, :, -1])  # type: ignore[no-any-return]


class CNNCandidate(nn.Module):
    """1-D (depthwise-separable with ``separable``) conv stack; global average pool; head."""

    def __init__(self, p: dict[str, Any], spec: DataSpec, separable: bool = False) -> None:
        super().__init__()
        self.front = FrontEnd(spec, p.get("window", 0), p.get("stride", 1))
        depth, width = int(p.get("depth", 2)), int(p.get("width", 16))
        kernel, stride = int(p.get("kernel", 3)), int(p.get("conv_stride", 1))
        layers: list[nn.Module] = []
        c = self.front.features
        for i in range(depth):
            out = width * (2 ** min(i, 1) if p.get("widen", False) else 1)
            if separable and i > 0:
                layers += [nn.Conv1d(c, c, kernel, stride, kernel // 2, groups=c), nn.ReLU()]
                layers += [nn.Conv1d(c, out, 1), nn.ReLU()]
            else:
                layers += [nn.Conv1d(c, out, kernel, stride, kernel // 2), nn.ReLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1)  # exports as GlobalAveragePool
        self.head = _head(c, int(p.get("head", 0)), spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.body(self.front(x))), 1))  # type: ignore[no-any-return]


class MLPCandidate(nn.Module):
    def __init__(self, p: dict[str, Any], spec: DataSpec) -> None:
        super().__init__()
        self.front = FrontEnd(spec, p.get("window", 0), p.get("stride", 1))
        cin = self.front.features * self.front.steps
        width, depth = int(p.get("width", 32)), int(p.get("depth", 1))
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(cin, width), nn.ReLU()]
            cin = width
        layers.append(nn.Linear(cin, spec.output_dim))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.flatten(self.front(x), 1))  # type: ignore[no-any-return]


def build_candidate(family: str, params: dict[str, Any], spec: DataSpec) -> nn.Module:
    """A freshly initialized module of ``family`` with the sampled ``params`` for ``spec``."""
    if family == "recurrent":
        m: nn.Module = RecurrentCandidate(params, spec)
    elif family == "tcn":
        m = TCNCandidate(params, spec)
    elif family in ("cnn", "dscnn"):
        m = CNNCandidate(params, spec, separable=family == "dscnn")
    elif family == "mlp":
        m = MLPCandidate(params, spec)
    else:
        raise RecipeError(
            f"search space: family must be one of {', '.join(FAMILIES)}; got {family!r}"
        )
    m.eval()
    return m
