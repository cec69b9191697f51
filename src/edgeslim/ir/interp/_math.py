"""Element-wise ops, activations, reductions, Softmax, Clip and Cast."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from edgeslim.ir._dtypes import dtype_name
from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import (
    Inputs,
    Outputs,
    attr,
    axes_from,
    need,
    opt,
    register,
    unsupported,
)


def _same(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    return np.asarray(y).astype(x.dtype, copy=False)


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C semantics, as onnxruntime does)."""
    q = np.abs(a) // np.abs(b)
    return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Pow": np.power,
    "Max": np.maximum,
    "Min": np.minimum,
    "Equal": np.equal,
    "Less": np.less,
    "LessOrEqual": np.less_equal,
    "Greater": np.greater,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
    "BitwiseAnd": np.bitwise_and,
    "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
}


@register(*_BINARY)
def binary(node: Node, xs: Inputs, opset: int) -> Outputs:
    if node.op in ("Max", "Min") and len(xs) != 2:
        return variadic(node, xs, opset)
    a, b = need(node, xs, 0), need(node, xs, 1)
    y = _BINARY[node.op](a, b)
    if node.op == "Pow":
        y = y.astype(a.dtype)
    return (np.asarray(y),)


@register("Div")
def div(node: Node, xs: Inputs, opset: int) -> Outputs:
    a, b = need(node, xs, 0), need(node, xs, 1)
    if np.issubdtype(a.dtype, np.integer):
        return (_int_div(a, b),)
    return (np.asarray(np.divide(a, b)),)


@register("Sum", "Mean")
def variadic(node: Node, xs: Inputs, opset: int) -> Outputs:
    arrays = [need(node, xs, i) for i in range(len(xs))]
    fn = {"Max": np.maximum, "Min": np.minimum}.get(node.op, np.add)
    y = arrays[0]
    for a in arrays[1:]:
        y = fn(y, a)
    if node.op == "Mean":
        y = (y / len(arrays)).astype(arrays[0].dtype)
    return (np.asarray(y),)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return _same(x, 1.0 / (1.0 + np.exp(-x.astype(np.float64))))


def _erf(x: np.ndarray) -> np.ndarray:
    return _same(x, np.vectorize(math.erf, otypes=[np.float64])(x))


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return _same(x, np.clip(alpha * x.astype(np.float64) + beta, 0.0, 1.0))


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Relu": lambda x: np.maximum(x, _same(x, 0)),
    "Sigmoid": _sigmoid,
    "Tanh": np.tanh,
    "Neg": np.negative,
    "Abs": np.abs,
    "Exp": np.exp,
    "Log": np.log,
    "Sqrt": np.sqrt,
    "Reciprocal": lambda x: _same(x, 1.0 / x),
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Round": np.rint,  # half to even, as ONNX specifies
    "Sign": np.sign,
    "Erf": _erf,
    "Not": np.logical_not,
    "Softsign": lambda x: _same(x, x / (1.0 + np.abs(x))),
    "Softplus": lambda x: _same(x, np.logaddexp(0.0, x.astype(np.float64))),
    "Identity": lambda x: x,
}


@register("BitShift")
def bitshift(node: Node, xs: Inputs, opset: int) -> Outputs:
    """Logical shift of unsigned integers (``direction`` LEFT or RIGHT); bits shifted past the
    type's width are lost, as in onnxruntime."""
    a, b = need(node, xs, 0), need(node, xs, 1)
    if a.dtype.kind != "u":
        raise unsupported(node, f"BitShift of {a.dtype} (the spec takes unsigned integers)")
    n = np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)).astype(np.uint64)
    wide = np.broadcast_to(a, n.shape).astype(np.uint64)
    bits = np.uint64(a.dtype.itemsize * 8)
    big = n >= bits
    n = np.where(big, np.uint64(0), n)
    left = str(attr(node, "direction", "")).upper() == "LEFT"
    y = (wide << n) if left else (wide >> n)
    mask = np.uint64((1 << int(bits)) - 1) if bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return (np.where(big, 0, y & mask).astype(a.dtype),)


@register(*_UNARY)
def unary(node: Node, xs: Inputs, opset: int) -> Outputs:
    return (np.asarray(_UNARY[node.op](need(node, xs, 0))),)


@register("Dropout")
def dropout(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    training = opt(xs, 2)
    if training is not None and bool(training):
        raise unsupported(node, "training_mode=True")
    return x, np.ones(x.shape, dtype=bool)


@register("LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Gelu")
def parametric_activation(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    v = x.astype(np.float64)
    if node.op == "LeakyRelu":
        y = np.where(v >= 0, v, float(attr(node, "alpha", 0.01)) * v)
    elif node.op == "Elu":
        y = np.where(v >= 0, v, float(attr(node, "alpha", 1.0)) * np.expm1(v))
    elif node.op == "Selu":
        a, g = float(attr(node, "alpha", 1.67326319)), float(attr(node, "gamma", 1.05070102))
        y = g * np.where(v > 0, v, a * np.expm1(v))
    elif node.op == "HardSigmoid":
        y = np.clip(float(attr(node, "alpha", 0.2)) * v + float(attr(node, "beta", 0.5)), 0, 1)
    elif node.op == "HardSwish":
        y = v * np.clip(v / 6.0 + 0.5, 0, 1)
    else:  # Gelu
        if attr(node, "approximate", "none") == "tanh":
            y = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
        else:
            y = 0.5 * v * (1 + _erf(v / math.sqrt(2)))
    return (_same(x, y),)


@register("Clip")
def clip(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    lo, hi = opt(xs, 1), opt(xs, 2)
    if opset < 11:
        lo = np.asarray(attr(node, "min", -np.inf))
        hi = np.asarray(attr(node, "max", np.inf))
    y = x
    if lo is not None:
        y = np.maximum(y, _same(x, lo))
    if hi is not None:
        y = np.minimum(y, _same(x, hi))
    return (np.asarray(y),)


@register("Cast")
def cast(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    to = dtype_name(int(attr(node, "to", 0)))
    try:
        dt = np.dtype(to)
    except TypeError:
        raise unsupported(node, f"cast to {to}") from None
    return (x.astype(dt),)


@register("Softmax", "LogSoftmax")
def softmax(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axis = int(attr(node, "axis", -1 if opset >= 13 else 1))
    v = x.astype(np.float64)
    if opset < 13:  # coerce to 2-D at axis
        ax = axis % max(x.ndim, 1)
        v = v.reshape(int(np.prod(x.shape[:ax])), -1)
        axis = 1
    v = v - v.max(axis=axis, keepdims=True)
    e = np.exp(v)
    s = e.sum(axis=axis, keepdims=True)
    y = v - np.log(s) if node.op == "LogSoftmax" else e / s
    return (_same(x, y.reshape(x.shape)),)


_REDUCE: dict[str, Callable[..., np.ndarray]] = {
    "ReduceMean": np.mean,
    "ReduceSum": np.sum,
    "ReduceMax": np.max,
    "ReduceMin": np.min,
    "ReduceProd": np.prod,
    "ReduceL2": lambda v, axis, keepdims: np.sqrt(np.sum(v * v, axis=axis, keepdims=keepdims)),
    "ReduceSumSquare": lambda v, axis, keepdims: np.sum(v * v, axis=axis, keepdims=keepdims),
}


@register(*_REDUCE)
def reduce(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axes_as_input = opset >= 18 or (node.op == "ReduceSum" and opset >= 13)
    axes = axes_from(node, xs, 1) if axes_as_input else axes_from(node, [], 1)
    keep = bool(attr(node, "keepdims", 1))
    if not axes:
        if axes_as_input and attr(node, "noop_with_empty_axes", 0):
            return (x,)
        axes = list(range(x.ndim))
    v = x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x
    y = _REDUCE[node.op](v, axis=tuple(a % x.ndim for a in axes), keepdims=keep)
    return (_same(x, y),)


@register("Where")
def where(node: Node, xs: Inputs, opset: int) -> Outputs:
    c, a, b = need(node, xs, 0), need(node, xs, 1), need(node, xs, 2)
    return (np.where(c, a, b),)


@register("ArgMax", "ArgMin")
def argmax(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axis = int(attr(node, "axis", 0)) % x.ndim
    v = np.flip(x, axis) if attr(node, "select_last_index", 0) else x
    fn = np.argmax if node.op == "ArgMax" else np.argmin
    idx = fn(v, axis=axis)
    if attr(node, "select_last_index", 0):
        idx = x.shape[axis] - 1 - idx
    if attr(node, "keepdims", 1):
        idx = np.expand_dims(idx, axis)
    return (np.asarray(idx, dtype=np.int64),)
