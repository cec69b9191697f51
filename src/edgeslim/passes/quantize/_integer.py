"""Integer-only execution of a QDQ model: int32 accumulation, fixed-point requantization.

:func:`run_integer` executes an edgeslim QDQ graph the way an int8 kernel library (TFLite Micro,
CMSIS-NN, generated C) does: activations stay integer codes between ``QuantizeLinear`` and the
final ``DequantizeLinear``; ``Conv``/``Gemm``/``MatMul`` on codes accumulate
``sum((x - z_x) * w) + b`` exactly in integers (int32 checked); ``Relu`` clamps the
accumulator at 0; the next ``QuantizeLinear`` requantizes with the fixed-point multiplier
``M = s_x * s_w / s_y = M0 * 2^shift`` (``M0`` a Q31 int32) using TFLite's
``MultiplyByQuantizedMultiplier`` (rounding doubling high multiply, then rounding right shift:
round half away from zero), adds ``z_y`` and saturates. Pass-through ops (MaxPool, Flatten,
Reshape, ...) run on the codes. Other ops fall back to float on dequantized values.

Requantization comes in two roundings (``rounding``): ``"single"`` rounds
``acc * M0 * 2^(shift - 31)`` once, half up (TFLite's and CMSIS-NN's ``SINGLE_ROUNDING``
builds); ``"double"`` is TFLite's reference ``MultiplyByQuantizedMultiplier`` (a rounding
doubling high multiply, then a rounding right shift, ties away from zero), which rounds twice and
so differs by one code when the exact value is within ``2^-(right shift + 1)`` of a half.

onnxruntime computes the same graph in float: without graph optimizations DequantizeLinear ->
float Conv -> QuantizeLinear; with them fused QLinearConv/QGemm with a float multiplier; both
round half to even. On edgeslim's QDQ models (tests: digits CNN, MLP, int8 and int4 weights, per
channel and per tensor) ``"single"`` gives the same codes as onnxruntime at both optimization
levels; ``"double"`` differs by at most one code on about 0.1% (int8 weights) to 2% (int4
weights: larger multipliers, shorter right shifts) of the first requantized layer's values.
``edgeslim.ir.interp`` reproduces onnxruntime's float path bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.ir.graph import Graph, Node

_PASS = ("MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity")
_LINEAR = ("Conv", "Gemm", "MatMul")


@dataclass(frozen=True, slots=True)
class _Codes:
    q: np.ndarray  # int64 codes
    scale: np.ndarray
    zero_point: np.ndarray
    dtype: np.dtype


@dataclass(frozen=True, slots=True)
class _DQ:  # a dequantized view of codes (not materialized)
    codes: _Codes


@dataclass(frozen=True, slots=True)
class _Acc:  # an exact integer accumulator with its float scale (s_x * s_w, per channel)
    acc: np.ndarray
    scale: np.ndarray  # broadcastable to acc


def quantize_multiplier(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's QuantizeMultiplier: ``m = M0 * 2^(shift - 31)`` with ``M0`` in [2^30, 2^31)."""
    flat = np.asarray(m, np.float64).ravel()
    m0, sh = np.zeros(flat.shape, np.int64), np.zeros(flat.shape, np.int64)
    for i, v in enumerate(flat):
        if v <= 0:
            continue
        frac, exp = math.frexp(float(v))
        q = round(frac * (1 << 31))
        if q == 1 << 31:
            q, exp = q // 2, exp + 1
        m0[i], sh[i] = q, exp
    shape = np.shape(m)
    return m0.reshape(shape), sh.reshape(shape)


def _trunc_div(v: np.ndarray, d: int) -> np.ndarray:
    return np.where(v >= 0, v // d, -((-v) // d))


def single_rounding_multiply(x: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``round_half_up(x * M0 * 2^(shift - 31))`` with one rounding (TFLite's and CMSIS-NN's
    ``SINGLE_ROUNDING`` variant): ``(x * M0 + 2^(n - 1)) >> n`` with ``n = 31 - shift``."""
    n = 31 - shift
    prod = x.astype(np.int64) * m0
    return (prod + (np.int64(1) << (n - 1))) >> n


def multiply_by_quantized_multiplier(
    x: np.ndarray, m0: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """``round(x * M0 * 2^(shift - 31))`` as TFLite's MultiplyByQuantizedMultiplier computes
    it (int32 semantics in int64 arithmetic; ties away from zero)."""
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    ab = (x.astype(np.int64) << left) * m0
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _trunc_div(ab + nudge, 1 << 31)
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def _op(node: Node, inputs: list[Any], opset: int) -> tuple[np.ndarray, ...]:
    from edgeslim.ir.interp import OPS

    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    return tuple(np.asarray(r) for r in OPS.get(node.op)(node, args, opset))


def _float(v: Any) -> Any:
    """Materialize a value as float32 (codes dequantized, accumulators scaled)."""
    if isinstance(v, _DQ):
        c = v.codes
        return ((c.q - c.zero_point).astype(np.float32) * c.scale).astype(np.float32)
    if isinstance(v, _Acc):
        return (v.acc.astype(np.float64) * v.scale).astype(np.float32)
    if isinstance(v, _Codes):  # a graph output that is codes (a QuantizeLinear output)
        return v.q.astype(v.dtype)
    return v


def _axis_shape(node: Node, p: np.ndarray, ndim: int) -> np.ndarray:
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[int(node.attrs.get("axis", 1)) % ndim] = -1
    return p.reshape(shape)


def _linear(node: Node, x: _DQ, w: _DQ, b: _DQ | None, opset: int) -> _Acc:
    cx, cw = x.codes, w.codes
    xi = (cx.q - cx.zero_point).astype(np.float64)  # exact: |values| << 2^53
    wi = (cw.q - cw.zero_point).astype(np.float64)
    bi = None if b is None else (b.codes.q - b.codes.zero_point).astype(np.float64)
    acc = _op(node, [xi, wi, bi], opset)[0]
    acc_i = np.rint(acc).astype(np.int64)
    if np.abs(acc_i).max(initial=0) >= 2**31:
        raise ModelError(f"node {node.name}: accumulator overflows int32")
    ws = cw.scale.astype(np.float64)
    if ws.size > 1:  # per output channel: channels are axis 1 of Conv/Gemm/MatMul outputs
        shape = [1] * acc_i.ndim
        shape[1] = -1
        ws = ws.ravel().reshape(shape)
    else:
        ws = ws.reshape(())
    return _Acc(acc_i, cx.scale.astype(np.float64).reshape(()) * ws)


def _quantize(
    node: Node, x: Any, scale: np.ndarray, zp: np.ndarray, opset: int, rounding: str
) -> _Codes:
    dt = zp.dtype
    info = np.iinfo(dt)
    if isinstance(x, _Acc):
        s_y = float(scale.reshape(()))
        m0, shift = quantize_multiplier(np.broadcast_to(x.scale / s_y, x.scale.shape))
        mul = (
            single_rounding_multiply if rounding == "single" else multiply_by_quantized_multiplier
        )
        q = mul(x.acc, m0, shift) + int(zp.reshape(()))
    elif (
        isinstance(x, _DQ)
        and np.array_equal(x.codes.scale, scale)
        and np.array_equal(x.codes.zero_point, zp.astype(np.int64))
    ):
        q = x.codes.q  # requantizing with the same parameters is the identity
    else:
        q = _op(node, [_float(x), scale, zp], opset)[0].astype(np.int64)
    return _Codes(np.clip(q, info.min, info.max), scale, zp.astype(np.int64), dt)


def _step(node: Node, env: dict[str, Any], opset: int, rounding: str) -> None:
    xs: list[Any] = [env[t] if t else None for t in node.inputs]
    out = node.outputs[0]
    if node.op == "QuantizeLinear":
        env[out] = _quantize(node, xs[0], xs[1], xs[2], opset, rounding)
    elif node.op == "DequantizeLinear":
        src = xs[0]
        zp = np.zeros((), np.int64) if len(xs) < 3 or xs[2] is None else xs[2].astype(np.int64)
        # the node's own scale and zero point (equal to the producing Q's in edgeslim's QDQ
        # graphs; an imported TFLite graph reinterprets packed codes with other ones)
        codes = (
            _Codes(src.q, xs[1], zp, src.dtype)
            if isinstance(src, _Codes)
            else _Codes(src.astype(np.int64), xs[1], zp, src.dtype)
        )
        scale = _axis_shape(node, codes.scale, codes.q.ndim)
        zp = _axis_shape(node, codes.zero_point, codes.q.ndim)
        env[out] = _DQ(_Codes(codes.q, scale, zp, codes.dtype))
    elif node.op in _LINEAR and all(isinstance(x, _DQ) for x in xs if x is not None):
        env[out] = _linear(node, xs[0], xs[1], xs[2] if len(xs) > 2 else None, opset)
    elif node.op == "Relu" and isinstance(xs[0], _Acc):
        env[out] = _Acc(np.maximum(xs[0].acc, 0), xs[0].scale)
    elif node.op in _PASS and isinstance(xs[0], _DQ):
        c = xs[0].codes
        rest = [_float(x) for x in xs[1:]]
        q = _op(node, [c.q.astype(np.float64), *rest], opset)[0]
        env[out] = _DQ(_Codes(np.rint(q).astype(np.int64), c.scale, c.zero_point, c.dtype))
    else:
        results = _op(node, [None if x is None else _float(x) for x in xs], opset)
        for name, value in zip(node.outputs, results, strict=False):
            if name:
                env[name] = value


def run_integer(
    graph: Graph, x: np.ndarray, *, codes: bool = False, rounding: str = "single"
) -> dict[str, np.ndarray]:
    """Run ``graph`` integer-only; return its outputs (float), plus every QuantizeLinear output
    (the int8 codes) when ``codes``. ``rounding`` is ``"single"`` (one round-half-up of
    ``acc * M0 >> (31 - shift)``; bit-exact with onnxruntime on edgeslim's QDQ models) or
    ``"double"`` (TFLite's reference MultiplyByQuantizedMultiplier, CMSIS-NN's default)."""
    if rounding not in ("double", "single"):
        raise ModelError(f"rounding must be 'double' or 'single'; got {rounding!r}")
    env: dict[str, Any] = {graph.inputs[0].name: np.asarray(x, np.float32)}
    env |= {k: np.asarray(v) for k, v in graph.initializers.items()}
    quantized = []
    for node in graph.nodes:
        _step(node, env, graph.opset, rounding)
        if node.op == "QuantizeLinear":
            quantized.append(node.outputs[0])
    out = {o.name: np.asarray(_float(env[o.name])) for o in graph.outputs}
    if codes:
        for name in quantized:
            c = env[name]
            out[name] = c.q.astype(c.dtype)
    return out
