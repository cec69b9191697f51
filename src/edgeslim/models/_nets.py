"""torch modules of the zoo. Only built through :func:`edgeslim.models.build_model`."""

from __future__ import annotations

import math

import torch
from torch import nn

from edgeslim.data.spec import DataSpec, Layout
from edgeslim.models import zoo


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv2d if dims == 2 else nn.Conv1d


def _bn(dims: int) -> type[nn.Module]:
    return nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d


def _pool(dims: int) -> type[nn.Module]:
    return nn.MaxPool2d if dims == 2 else nn.MaxPool1d


def _as_conv_input(spec: DataSpec) -> tuple[int, int, tuple[int, ...]]:
    """(dims, channels, spatial shape) for convolutional models."""
    s = spec.input_shape
    if spec.layout is Layout.IMAGE:
        return 2, s[0], s[1:]
    if spec.layout is Layout.SERIES:
        return 1, s[0], s[1:]
    return 1, 1, s  # tabular: one channel, features as positions


class _ToConvInput(nn.Module):
    def __init__(self, layout: Layout) -> None:
        super().__init__()
        self.tabular = layout is Layout.TABULAR

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if self.tabular else x


class MLP(nn.Module):
    def __init__(self, cfg: zoo.MLPConfig, spec: DataSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(spec.input_shape)
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
            width = h
        layers.append(nn.Linear(width, spec.output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class CNN(nn.Module):
    def __init__(self, cfg: zoo.CNNConfig, spec: DataSpec) -> None:
        super().__init__()
        dims, cin, spatial = _as_conv_input(spec)
        layers: list[nn.Module] = [_ToConvInput(spec.layout)]
        size = list(spatial)
        for c in cfg.channels:
            layers.append(_conv(dims)(cin, c, cfg.kernel, padding=cfg.kernel // 2))
            if cfg.batchnorm:
                layers.append(_bn(dims)(c))
            layers.append(nn.ReLU())
            if cfg.pool and min(size) >= 2:
                layers.append(_pool(dims)(2))
                size = [s // 2 for s in size]
            cin = c
        layers.append(nn.Flatten())
        width = cin * math.prod(size)
        if cfg.hidden:
            layers += [nn.Linear(width, cfg.hidden), nn.ReLU()]
            width = cfg.hidden
        layers.append(nn.Linear(width, spec.output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class DSCNN(nn.Module):
    """Standard stem conv, then depthwise-separable blocks, global average pool, linear."""

    def __init__(self, cfg: zoo.DSCNNConfig, spec: DataSpec) -> None:
        super().__init__()
        dims, cin, _ = _as_conv_input(spec)
        conv, bn = _conv(dims), _bn(dims)
        k = cfg.kernel
        layers: list[nn.Module] = [
            _ToConvInput(spec.layout),
            conv(cin, cfg.stem, k, padding=k // 2),
            bn(cfg.stem),
            nn.ReLU(),
        ]
        c = cfg.stem
        for out in cfg.channels:
            layers += [
                conv(c, c, k, padding=k // 2, groups=c),
                bn(c),
                nn.ReLU(),
                conv(c, out, 1),
                bn(out),
                nn.ReLU(),
            ]
            c = out
        pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
        layers += [pool, nn.Flatten(), nn.Linear(c, spec.output_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class ResidualBlock(nn.Module):
    def __init__(self, dims: int, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        conv, bn = _conv(dims), _bn(dims)
        self.conv1 = conv(cin, cout, kernel, padding=kernel // 2)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, kernel, padding=kernel // 2)
        self.bn2 = bn(cout)
        self.shortcut: nn.Module = (
            nn.Sequential(conv(cin, cout, 1), bn(cout)) if cin != cout else nn.Identity()
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))  # type: ignore[no-any-return]


class ResNet(nn.Module):
    def __init__(self, cfg: zoo.ResNetConfig, spec: DataSpec) -> None:
        super().__init__()
        dims, cin, _ = _as_conv_input(spec)
        k = cfg.kernel
        self.inp = _ToConvInput(spec.layout)
        self.stem = nn.Sequential(
            _conv(dims)(cin, cfg.stem, k, padding=k // 2), _bn(dims)(cfg.stem), nn.ReLU()
        )
        blocks, c = [], cfg.stem
        for out in cfg.blocks:
            blocks.append(ResidualBlock(dims, c, out, k))
            c = out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(c, spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.blocks(self.stem(self.inp(x))))
        return self.head(torch.flatten(y, 1))  # type: ignore[no-any-return]


class _ToSequence(nn.Module):
    """Batch of samples -> (batch, steps, features)."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.layout = spec.layout
        self.features, self.steps = zoo.sequence_shape(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout is Layout.SERIES:
            return x.transpose(1, 2)
        if self.layout is Layout.IMAGE:
            return x.permute(0, 2, 1, 3).reshape(x.shape[0], self.steps, self.features)
        return x.unsqueeze(2)


class RecurrentNet(nn.Module):
    """GRU or LSTM (stacked, optionally bidirectional); the head reads the final hidden states."""

    def __init__(self, cfg: zoo.GRUConfig | zoo.LSTMConfig, spec: DataSpec) -> None:
        super().__init__()
        self.seq = _ToSequence(spec)
        cell = nn.GRU if isinstance(cfg, zoo.GRUConfig) else nn.LSTM
        self.rnn = cell(
            self.seq.features,
            cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(cfg.hidden * self.directions, spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(self.seq(x))[1]
        h = out[0] if isinstance(out, tuple) else out  # LSTM returns (h, c)
        last = h[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)
        return self.head(last)  # type: ignore[no-any-return]


class CausalBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(cin, cout, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, kernel, dilation=dilation)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.shortcut: nn.Module = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        y = self.drop(self.relu(self.conv2(nn.functional.pad(y, (self.pad, 0)))))
        return self.relu(y + self.shortcut(x))  # type: ignore[no-any-return]


class TCN(nn.Module):
    """Dilated causal 1-D convolutions (dilation 2**level); the head reads the last step."""

    def __init__(self, cfg: zoo.TCNConfig, spec: DataSpec) -> None:
        super().__init__()
        self.seq = _ToSequence(spec)
        c = self.seq.features
        blocks = []
        for level, out in enumerate(cfg.channels):
            blocks.append(CausalBlock(c, out, cfg.kernel, 2**level, cfg.dropout))
            c = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, spec.output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.seq(x).transpose(1, 2))
        return self.head(y[:, :, -1])  # type: ignore[no-any-return]


_BUILDERS: dict[type, type[nn.Module]] = {
    zoo.MLPConfig: MLP,
    zoo.CNNConfig: CNN,
    zoo.DSCNNConfig: DSCNN,
    zoo.ResNetConfig: ResNet,
    zoo.GRUConfig: RecurrentNet,
    zoo.LSTMConfig: RecurrentNet,
    zoo.TCNConfig: TCN,
}


def build(config: zoo.ModelConfig, spec: DataSpec) -> nn.Module:
    model = _BUILDERS[type(config)](config, spec)  # type: ignore[call-arg]
    model.eval()
    return model


class Normalized(nn.Module):
    """Applies the training data's normalization in the graph, so the deployed artifact takes
    raw inputs and deployment cannot forget the preprocessing."""

    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, model: nn.Module, mean: torch.Tensor, inv_std: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", inv_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) * self.inv_std)  # type: ignore[no-any-return]
