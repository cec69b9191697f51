"""Convolution, pooling, Gemm/MatMul and normalization (N-D, float64 accumulation)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import (
    Inputs,
    Outputs,
    attr,
    ints,
    need,
    opt,
    register,
    unsupported,
)


@dataclass(frozen=True, slots=True)
class _Window:
    """Sliding-window geometry over the spatial dims: begin/end pads, output size."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pad_begin: tuple[int, ...]
    pad_end: tuple[int, ...]
    overhang: tuple[int, ...]  # ceil mode: padding past pad_end that no window position counts
    out: tuple[int, ...]


def _window(node: Node, spatial: tuple[int, ...], kernel: list[int], ceil: bool) -> _Window:
    n = len(spatial)
    strides = ints(node, "strides", [1] * n) or []
    dil = ints(node, "dilations", [1] * n) or []
    pads = ints(node, "pads", [0] * (2 * n)) or []
    auto = str(attr(node, "auto_pad", "NOTSET"))
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dil, strict=True)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * n)
        for i in range(n):
            total = max(
                (math.ceil(spatial[i] / strides[i]) - 1) * strides[i] + eff[i] - spatial[i], 0
            )
            small, big = total // 2, total - total // 2
            pads[i], pads[i + n] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * n)
    out, over = [], []
    for i in range(n):
        span = spatial[i] + pads[i] + pads[i + n] - eff[i]
        o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= spatial[i] + pads[i]:
            o -= 1  # the last window must start inside the input or the begin pad
        out.append(max(o, 0))
        reach = (o - 1) * strides[i] + eff[i] - spatial[i] - pads[i]  # needed end padding
        over.append(max(reach - pads[i + n], 0))
    return _Window(
        tuple(kernel),
        tuple(strides),
        tuple(dil),
        tuple(pads[:n]),
        tuple(pads[n:]),
        tuple(over),
        tuple(out),
    )


def _pad_spatial(x: np.ndarray, w: _Window, value: float) -> np.ndarray:
    ends = (e + o for e, o in zip(w.pad_end, w.overhang, strict=True))
    widths = [(0, 0), (0, 0), *zip(w.pad_begin, ends, strict=True)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def _patches(xp: np.ndarray, w: _Window) -> list[np.ndarray]:
    """One strided view per kernel offset, each of shape (N, C, *out)."""
    views = []
    for offset in itertools.product(*(range(k) for k in w.kernel)):
        idx: list[slice] = [slice(None), slice(None)]
        for i, k in enumerate(offset):
            start = k * w.dilations[i]
            idx.append(slice(start, start + (w.out[i] - 1) * w.strides[i] + 1, w.strides[i]))
        views.append(xp[tuple(idx)])
    return views


@register("Conv")
def conv(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, wt, b = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    groups = int(attr(node, "group", 1))
    kernel = ints(node, "kernel_shape") or list(wt.shape[2:])
    win = _window(node, tuple(x.shape[2:]), kernel, ceil=False)
    xp = _pad_spatial(x.astype(np.float64), win, 0.0)
    cols = np.stack(_patches(xp, win), axis=2)  # (N, C, K, *out)
    n, c = x.shape[:2]
    m = wt.shape[0]
    cols = cols.reshape(n, groups, c // groups, cols.shape[2], -1)
    wg = wt.astype(np.float64).reshape(groups, m // groups, c // groups, -1)
    y = np.einsum("ngckp,gmck->ngmp", cols, wg, optimize=True).reshape(n, m, *win.out)
    if b is not None:
        y = y + b.astype(np.float64).reshape(1, m, *([1] * len(win.out)))
    return (y.astype(x.dtype),)


@register("MaxPool")
def max_pool(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    if attr(node, "storage_order", 0):
        raise unsupported(node, "storage_order=1")
    kernel = ints(node, "kernel_shape") or []
    win = _window(node, tuple(x.shape[2:]), kernel, ceil=bool(attr(node, "ceil_mode", 0)))
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    xp = _pad_spatial(x, win, low)
    y = np.maximum.reduce(_patches(xp, win))
    return (np.asarray(y, dtype=x.dtype),)


def _counts(node: Node, spatial: tuple[int, ...], win: _Window) -> np.ndarray:
    """Positions of each window that count toward the average (shape (1, 1, *out)).

    The input always counts; explicit pads count with ``count_include_pad``; the ceil-mode
    overhang never does.
    """
    ones = np.ones((1, 1, *spatial))
    if attr(node, "count_include_pad", 0):
        widths = [(0, 0), (0, 0), *zip(win.pad_begin, win.pad_end, strict=True)]
        padded = np.pad(ones, widths, constant_values=1.0)
        tail = [(0, 0), (0, 0), *((0, o) for o in win.overhang)]
        padded = np.pad(padded, tail, constant_values=0.0)
    else:
        padded = _pad_spatial(ones, win, 0.0)
    return np.asarray(np.add.reduce(_patches(padded, win)))


@register("AveragePool")
def average_pool(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    kernel = ints(node, "kernel_shape") or []
    spatial = tuple(x.shape[2:])
    win = _window(node, spatial, kernel, ceil=bool(attr(node, "ceil_mode", 0)))
    total = np.add.reduce(_patches(_pad_spatial(x.astype(np.float64), win, 0.0), win))
    count = _counts(node, spatial, win)
    return ((total / np.maximum(count, 1.0)).astype(x.dtype),)


@register("GlobalAveragePool", "GlobalMaxPool")
def global_pool(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axes = tuple(range(2, x.ndim))
    if node.op == "GlobalMaxPool":
        return (np.max(x, axis=axes, keepdims=True),)
    return (np.mean(x.astype(np.float64), axis=axes, keepdims=True).astype(x.dtype),)


@register("Gemm")
def gemm(node: Node, xs: Inputs, opset: int) -> Outputs:
    a, b, c = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if attr(node, "transA", 0):
        a64 = a64.T
    if attr(node, "transB", 0):
        b64 = b64.T
    y = float(attr(node, "alpha", 1.0)) * (a64 @ b64)
    if c is not None:
        y = y + float(attr(node, "beta", 1.0)) * c.astype(np.float64)
    return (y.astype(a.dtype),)


@register("MatMul")
def matmul(node: Node, xs: Inputs, opset: int) -> Outputs:
    a, b = need(node, xs, 0), need(node, xs, 1)
    if np.issubdtype(a.dtype, np.floating):
        return (np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype),)
    return (np.matmul(a, b),)


@register("BatchNormalization")
def batch_norm(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    if attr(node, "training_mode", 0) or len([o for o in node.outputs if o]) > 1:
        raise unsupported(node, "training mode")
    scale, bias, mean, var = (need(node, xs, i).astype(np.float64) for i in range(1, 5))
    eps = float(attr(node, "epsilon", 1e-5))
    shape = (1, -1, *([1] * (x.ndim - 2)))
    y = (x.astype(np.float64) - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    y = y * scale.reshape(shape) + bias.reshape(shape)
    return (y.astype(x.dtype),)


@register("LayerNormalization")
def layer_norm(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, scale, bias = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    axis = int(attr(node, "axis", -1)) % x.ndim
    eps = float(attr(node, "epsilon", 1e-5))
    v = x.astype(np.float64)
    axes = tuple(range(axis, x.ndim))
    mean = v.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(((v - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    y = (v - mean) * inv * scale.astype(np.float64)
    if bias is not None:
        y = y + bias.astype(np.float64)
    return (y.astype(x.dtype), mean.astype(x.dtype), inv.astype(x.dtype))
