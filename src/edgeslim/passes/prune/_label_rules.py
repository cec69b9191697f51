"""How each op moves, couples, produces or consumes unit labels (see :mod:`._trace`).

Tables keyed by module type and by function; anything not listed is *opaque*: the units that
reach it are frozen and its outputs carry no units. Adding support for an op means adding it
here and, if it has weights, a cut rule in :mod:`._cuts`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edgeslim.passes.prune._trace import NONE, Consumer, Labeler, PassThrough, none_like

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_RNN = (nn.GRU, nn.LSTM, nn.RNN)
_ELEMENTWISE_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Mish,
    nn.PReLU,
)
_SPATIAL_MODULES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_MOVE_MODULES = (nn.Flatten, nn.Unflatten)

_MOVE_FUNCTIONS: frozenset[Any] = frozenset(
    {
        torch.flatten,
        torch.reshape,
        torch.transpose,
        torch.permute,
        torch.squeeze,
        torch.unsqueeze,
        torch.cat,
        torch.concat,
        torch.stack,
        torch.chunk,
        torch.split,
        torch.narrow,
        torch.select,
        torch.movedim,
        torch.swapaxes,
        torch.t,
        operator.getitem,
    }
)
_MOVE_METHODS = frozenset(
    {
        "view",
        "reshape",
        "flatten",
        "transpose",
        "permute",
        "unsqueeze",
        "squeeze",
        "contiguous",
        "__getitem__",
        "chunk",
        "split",
        "narrow",
        "select",
        "movedim",
        "expand",
        "swapaxes",
        "t",
    }
)
_ELEMENTWISE_FUNCTIONS: frozenset[Any] = frozenset(
    {
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.iadd,
        operator.imul,
        operator.neg,
        torch.add,
        torch.sub,
        torch.mul,
        torch.div,
        torch.relu,
        torch.sigmoid,
        torch.tanh,
        torch.clamp,
        torch.neg,
        F.relu,
        F.relu6,
        F.gelu,
        F.silu,
        F.leaky_relu,
        F.hardswish,
        F.elu,
        F.dropout,
        F.mish,
        F.hardtanh,
        F.sigmoid,
        F.tanh,
    }
)
_ELEMENTWISE_METHODS = frozenset(
    {
        "add",
        "sub",
        "mul",
        "div",
        "relu",
        "sigmoid",
        "tanh",
        "clamp",
        "neg",
        "add_",
        "mul_",
        "relu_",
        "__add__",
        "__mul__",
        "__sub__",
        "__radd__",
        "__rmul__",
    }
)
_SPATIAL_FUNCTIONS: frozenset[Any] = frozenset(
    {
        F.max_pool1d,
        F.max_pool2d,
        F.max_pool3d,
        F.avg_pool1d,
        F.avg_pool2d,
        F.avg_pool3d,
        F.adaptive_avg_pool1d,
        F.adaptive_avg_pool2d,
        F.adaptive_avg_pool3d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool2d,
    }
)
_SHAPE_METHODS = frozenset({"size", "dim", "numel"})


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def _channel_broadcast(units: torch.Tensor, shape: torch.Size, axis: int) -> torch.Tensor:
    view = [1] * len(shape)
    view[axis] = len(units)
    return units.reshape(view).expand(shape).clone()


def opaque(lab: Labeler, where: str, largs: Any, out_real: Any) -> Any:
    lab.freeze(largs, f"feeds {where}, which edgeslim cannot cut")
    return none_like(out_real)


def elementwise(lab: Labeler, where: str, args: Any, largs: Any, out_real: Any) -> Any:
    """Couple the units that meet at the same element; freeze units facing unlabeled data."""
    operands = [
        lbl for a, lbl in zip(args, largs, strict=False) if _is_tensor(a) and a.numel() > 1
    ]
    if not _is_tensor(out_real):
        return opaque(lab, where, largs, out_real)
    if not operands:
        return none_like(out_real)
    try:
        expanded = torch.broadcast_tensors(*operands)
    except RuntimeError:
        return opaque(lab, where, largs, out_real)
    out = expanded[0].clone()
    for other in expanded[1:]:
        both = (out >= 0) & (other >= 0) & (out != other)
        lab.merge(out[both], other[both])
        one_sided = (out >= 0) ^ (other >= 0)
        lab.freeze(torch.where(one_sided, torch.maximum(out, other), NONE), f"{where} with data")
        out = torch.where(out >= 0, out, other)
    return out.expand(out_real.shape).clone() if out.shape != out_real.shape else out


def spatial(lab: Labeler, where: str, largs: Any, out_real: Any) -> Any:
    """Channel-preserving ops over positions (pooling): one unit per channel goes through."""
    src = largs[0]
    if not _is_tensor(src) or src.dim() < 2 or not _is_tensor(out_real):
        return opaque(lab, where, largs, out_real)
    units = lab.per_channel(src, 1, where)
    if out_real.dim() < 2 or out_real.shape[1] != len(units):
        return opaque(lab, where, largs, out_real)
    return _channel_broadcast(units, out_real.shape, 1)


def move(fn: Callable[..., Any], args: Any, kwargs: Any, largs: Any) -> Any:
    """Apply a data-movement op to the labels of its first argument."""
    first = largs[0]
    if first is None or (isinstance(first, list | tuple) and any(v is None for v in first)):
        return None
    return fn(first, *args[1:], **kwargs)


def _pad(lab: Labeler, where: str, args: Any, kwargs: Any, largs: Any, out_real: Any) -> Any:
    mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
    if mode != "constant" or largs[0] is None:
        return opaque(lab, where, largs, out_real)
    pad = kwargs.get("pad", args[1] if len(args) > 1 else None)
    return F.pad(largs[0], pad, mode="constant", value=NONE)


def _conv(lab: Labeler, name: str, m: nn.Module, largs: Any, out_real: torch.Tensor) -> Any:
    assert isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)
    units = lab.per_channel(largs[0], 1, f"conv {name}")
    if m.groups == 1:
        lab.consumers.append(Consumer(name, tuple(units.tolist())))
        ids = lab.new_source(name, m.out_channels)
        return _channel_broadcast(ids, out_real.shape, 1)
    if m.groups == m.in_channels == m.out_channels:  # depthwise: channel c stays channel c
        lab.passthroughs.append(PassThrough(name, tuple(units.tolist())))
        return _channel_broadcast(units, out_real.shape, 1)
    return opaque(lab, f"grouped conv {name}", largs, out_real)


def _linear(lab: Labeler, name: str, m: nn.Module, largs: Any, out_real: torch.Tensor) -> Any:
    assert isinstance(m, nn.Linear)
    units = lab.per_channel(largs[0], -1, f"linear {name}")
    lab.consumers.append(Consumer(name, tuple(units.tolist())))
    ids = lab.new_source(name, m.out_features)
    return _channel_broadcast(ids, out_real.shape, out_real.dim() - 1)


def _batchnorm(lab: Labeler, name: str, largs: Any, out_real: torch.Tensor) -> Any:
    units = lab.per_channel(largs[0], 1, f"batch norm {name}")
    lab.passthroughs.append(PassThrough(name, tuple(units.tolist())))
    return _channel_broadcast(units, out_real.shape, 1)


def _rnn(lab: Labeler, name: str, m: nn.Module, args: Any, largs: Any, out_real: Any) -> Any:
    assert isinstance(m, nn.GRU | nn.LSTM | nn.RNN)
    if len(args) > 1 or not _is_tensor(args[0]) or int(getattr(m, "proj_size", 0)):
        return opaque(
            lab, f"recurrent module {name} with initial state or projection", largs, out_real
        )
    units = lab.per_channel(largs[0], -1, f"recurrent module {name}")
    lab.consumers.append(Consumer(name, tuple(units.tolist())))
    dirs = 2 if m.bidirectional else 1
    ids = [
        [lab.new_source(name, m.hidden_size, (li, d)) for d in range(dirs)]
        for li in range(m.num_layers)
    ]
    seq, h_n = out_real[0], out_real[1][0] if isinstance(m, nn.LSTM) else out_real[1]
    seq_labels = _channel_broadcast(torch.cat(ids[-1]), seq.shape, seq.dim() - 1)
    h = torch.stack([u for layer in ids for u in layer])  # (layers*dirs, hidden)
    h_labels = h.unsqueeze(1).expand(h_n.shape).clone()
    if isinstance(m, nn.LSTM):
        return (seq_labels, (h_labels, h_labels.clone()))
    return (seq_labels, h_labels)


def module_labels(
    lab: Labeler, name: str, m: nn.Module, args: Any, largs: Any, out_real: Any
) -> Any:
    if isinstance(m, _CONV) and _is_tensor(largs[0]):
        return _conv(lab, name, m, largs, out_real)
    if isinstance(m, nn.Linear) and _is_tensor(largs[0]):
        return _linear(lab, name, m, largs, out_real)
    if isinstance(m, _BN) and _is_tensor(largs[0]):
        return _batchnorm(lab, name, largs, out_real)
    if isinstance(m, _RNN):
        return _rnn(lab, name, m, args, largs, out_real)
    if isinstance(m, _ELEMENTWISE_MODULES) and not list(m.parameters(recurse=False)):
        return elementwise(lab, f"module {name}", args, largs, out_real)
    if isinstance(m, _SPATIAL_MODULES):
        return spatial(lab, f"module {name}", largs, out_real)
    if isinstance(m, _MOVE_MODULES):
        return move(lambda t: m(t), args, {}, largs)
    return opaque(lab, f"module {name} ({type(m).__name__})", largs, out_real)


def function_labels(
    lab: Labeler, fn: Any, node: str, args: Any, kwargs: Any, largs: Any, out_real: Any
) -> Any:
    where = f"{getattr(fn, '__name__', fn)} (node {node})"
    if fn is getattr:
        return none_like(out_real)
    if not any(_is_tensor(t) for t in _flat(largs)):
        return none_like(out_real)
    if fn in _MOVE_FUNCTIONS:
        return move(fn, args, kwargs, largs)
    if fn in _ELEMENTWISE_FUNCTIONS:
        return elementwise(lab, where, args, largs, out_real)
    if fn in _SPATIAL_FUNCTIONS:
        return spatial(lab, where, largs, out_real)
    if fn is F.pad:
        return _pad(lab, where, args, kwargs, largs, out_real)
    return opaque(lab, where, largs, out_real)


def method_labels(
    lab: Labeler, method: str, node: str, args: Any, kwargs: Any, largs: Any, out_real: Any
) -> Any:
    where = f"method {method} (node {node})"
    if method in _SHAPE_METHODS or not _is_tensor(largs[0]):
        return none_like(out_real)
    if method in _MOVE_METHODS:
        target = "reshape" if method == "view" else method
        return move(lambda t, *a, **k: getattr(t, target)(*a, **k), args, kwargs, largs)
    if method in _ELEMENTWISE_METHODS:
        return elementwise(lab, where, args, largs, out_real)
    return opaque(lab, where, largs, out_real)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, tuple | list):
        return [t for v in value for t in _flat(v)]
    return [value]
