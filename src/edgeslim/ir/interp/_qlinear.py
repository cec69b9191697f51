"""Integer ops that onnxruntime's quantization tools emit: dynamic quantization
(``DynamicQuantizeLinear`` + ``MatMulInteger``/``ConvInteger``) and the operator-oriented
format (``QLinearMatMul``, ``QLinearConv``).

Accumulation is exact (int64 holding int32 sums; a sum outside int32 is an error, as on a
device). Requantization of the QLinear ops follows onnxruntime's CPU kernels: the multiplier
``s_a * s_b / s_y`` is formed in float32 (per output channel for per-channel weights), the int32
accumulator is converted to float32, multiplied in float32, rounded half to even and saturated
after adding ``y_zero_point``. ``DynamicQuantizeLinear`` computes its uint8 scale and zero point
in float32 exactly as the ONNX reference does. Tests compare every op with onnxruntime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeslim.ir.graph import Node
from edgeslim.ir.interp._nn import conv
from edgeslim.ir.interp._registry import Inputs, Outputs, need, opt, register, unsupported

_INT32 = np.iinfo(np.int32)


def _check_int32(node: Node, acc: np.ndarray) -> np.ndarray:
    if acc.size and (acc.min() < _INT32.min or acc.max() > _INT32.max):
        raise unsupported(node, "int32 accumulator overflow")
    return acc.astype(np.int32)


def _centered(x: np.ndarray, zp: np.ndarray | None, axis: int | None = None) -> np.ndarray:
    """``x - zp`` in int64; a 1-D zero point runs along ``axis`` (or is a scalar)."""
    v = x.astype(np.int64)
    if zp is None:
        return v
    z = np.asarray(zp).astype(np.int64)
    if z.ndim == 0 or z.size == 1:
        return v - z.reshape(())
    assert axis is not None
    shape = [1] * v.ndim
    shape[axis % v.ndim] = -1
    return v - z.reshape(shape)


@register("DynamicQuantizeLinear")
def dynamic_quantize_linear(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0).astype(np.float32)
    lo = np.float32(min(0.0, float(x.min(initial=0.0))))
    hi = np.float32(max(0.0, float(x.max(initial=0.0))))
    scale = np.float32((hi - lo) / np.float32(255.0))
    if scale == 0:
        zp = np.uint8(0)
        return np.zeros(x.shape, np.uint8), np.asarray(scale, np.float32), np.asarray(zp)
    zp_f = np.clip(np.rint(np.float32(0.0) - lo / scale), 0, 255)
    zp = np.uint8(zp_f)
    q = np.clip(np.rint(x / scale) + np.float32(zp), 0, 255).astype(np.uint8)
    return q, np.asarray(scale, np.float32), np.asarray(zp, np.uint8)


def _matmul_zp(
    a: np.ndarray, b: np.ndarray, az: np.ndarray | None, bz: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Centered operands: A's zero point is scalar or one per row, B's one per column."""
    ai = a.astype(np.int64)
    if az is not None:
        z = np.asarray(az).astype(np.int64)
        ai = ai - (z.reshape(()) if z.size == 1 else z.reshape(-1, 1))
    return ai, _centered(b, bz, axis=-1)


@register("MatMulInteger")
def matmul_integer(node: Node, xs: Inputs, opset: int) -> Outputs:
    a, b = need(node, xs, 0), need(node, xs, 1)
    ai, bi = _matmul_zp(a, b, opt(xs, 2), opt(xs, 3))
    return (_check_int32(node, np.matmul(ai, bi)),)


def _conv_acc(node: Node, x: np.ndarray, w: np.ndarray, xz: Any, wz: Any) -> np.ndarray:
    xi = _centered(x, xz, axis=1).astype(np.float64)  # exact: |sums| << 2^53
    wi = _centered(w, wz, axis=0).astype(np.float64)
    acc = conv(node, [xi, wi], 0)[0]
    return np.rint(acc).astype(np.int64)


@register("ConvInteger")
def conv_integer(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, w = need(node, xs, 0), need(node, xs, 1)
    return (_check_int32(node, _conv_acc(node, x, w, opt(xs, 2), opt(xs, 3))),)


def _requantize(acc: np.ndarray, mult: np.ndarray, y_zp: np.ndarray) -> np.ndarray:
    dt = y_zp.dtype
    info = np.iinfo(dt)
    y = np.rint(acc.astype(np.float32) * mult.astype(np.float32)).astype(np.float64)
    y = y + float(np.asarray(y_zp).reshape(()))
    return np.clip(y, info.min, info.max).astype(dt)


@register("QLinearMatMul")
def qlinear_matmul(node: Node, xs: Inputs, opset: int) -> Outputs:
    a, a_s, a_z = need(node, xs, 0), need(node, xs, 1), need(node, xs, 2)
    b, b_s, b_z = need(node, xs, 3), need(node, xs, 4), need(node, xs, 5)
    y_s, y_z = need(node, xs, 6), need(node, xs, 7)
    ai, bi = _matmul_zp(a, b, a_z, b_z)
    acc = _check_int32(node, np.matmul(ai, bi))
    mult = (a_s.astype(np.float32).reshape(()) * b_s.astype(np.float32)) / y_s.astype(
        np.float32
    ).reshape(())
    return (_requantize(acc, np.asarray(mult, np.float32), y_z),)


@register("QLinearConv")
def qlinear_conv(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, x_s, x_z = need(node, xs, 0), need(node, xs, 1), need(node, xs, 2)
    w, w_s, w_z = need(node, xs, 3), need(node, xs, 4), need(node, xs, 5)
    y_s, y_z, bias = need(node, xs, 6), need(node, xs, 7), opt(xs, 8)
    acc = _conv_acc(node, x, w, x_z, w_z)
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    if bias is not None:
        acc = acc + bias.astype(np.int64).reshape(shape)
    acc = _check_int32(node, acc)
    ws = w_s.astype(np.float32)
    mult = (x_s.astype(np.float32).reshape(()) * ws) / y_s.astype(np.float32).reshape(())
    mult = np.asarray(mult, np.float32).reshape(shape if mult.size > 1 else ())
    return (_requantize(acc, mult, y_z),)
