"""QuantizeLinear / DequantizeLinear, bit-exact with onnxruntime.

``q = saturate(round_half_even(x / scale) + zero_point)`` with the division in float32, and
``x = float32(q - zero_point) * scale``; per tensor (scalar scale) or per axis (1-D scale along
``axis``), or blocked (``block_size``, opset 21). int8, uint8, int16, uint16, int4, uint4
(opset 21; numpy arrays of ``ml_dtypes``' int4/uint4, as ``onnx.numpy_helper`` reads them) and
int32 (dequantize only) are supported.
"""

from __future__ import annotations

import numpy as np

from edgeslim.ir._dtypes import dtype_name
from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import Inputs, Outputs, attr, need, opt, register, unsupported

_QTYPES = ("int8", "uint8", "int16", "uint16", "int4", "uint4", "int32")


def _sub_byte(name: str) -> np.dtype:
    import ml_dtypes  # a dependency of onnx

    return np.dtype(getattr(ml_dtypes, name))


def qrange(dt: np.dtype) -> tuple[int, int]:
    """(min, max) of an integer type, int4/uint4 included."""
    if dt.name in ("int4", "uint4"):
        import ml_dtypes

        info = ml_dtypes.iinfo(dt)
        return int(info.min), int(info.max)
    i = np.iinfo(dt)
    return int(i.min), int(i.max)


def _broadcast(node: Node, p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Scale or zero point shaped to broadcast against ``x``."""
    if p.ndim == 0 or (p.size == 1 and p.ndim == 1 and not attr(node, "block_size", 0)):
        return p.reshape(())
    axis = int(attr(node, "axis", 1)) % x.ndim
    block = int(attr(node, "block_size", 0))
    if block:
        return np.repeat(p, block, axis=axis)[tuple(slice(0, n) for n in x.shape)]
    if p.ndim != 1 or p.shape[0] != x.shape[axis]:
        raise unsupported(node, f"scale of shape {p.shape} for input {x.shape} on axis {axis}")
    shape = [1] * x.ndim
    shape[axis] = -1
    return p.reshape(shape)


def _out_dtype(node: Node, zp: np.ndarray | None) -> np.dtype:
    if zp is not None:
        dt = zp.dtype
    elif attr(node, "output_dtype", 0):
        name = dtype_name(int(attr(node, "output_dtype", 0)))
        dt = _sub_byte(name) if name in ("int4", "uint4") else np.dtype(name)
    else:
        dt = np.dtype(np.uint8)
    if dt.name not in _QTYPES[:-1]:
        raise unsupported(node, f"quantized type {dt.name}")
    return dt


@register("QuantizeLinear")
def quantize_linear(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, scale, zp = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    dt = _out_dtype(node, zp)
    s = _broadcast(node, scale.astype(np.float32), x)
    q = np.rint(x.astype(np.float32) / s).astype(np.float64)
    if zp is not None:
        q = q + _broadcast(node, zp.astype(np.float64), x)
    lo, hi = qrange(dt)
    return (np.clip(q, lo, hi).astype(dt),)


@register("DequantizeLinear")
def dequantize_linear(node: Node, xs: Inputs, opset: int) -> Outputs:
    q, scale, zp = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    if q.dtype.name not in _QTYPES:
        raise unsupported(node, f"quantized type {q.dtype.name}")
    v = q.astype(np.int64)
    if zp is not None:
        v = v - _broadcast(node, zp.astype(np.int64), q)
    s = _broadcast(node, scale, q)
    return ((v.astype(np.float32) * s.astype(np.float32)).astype(scale.dtype),)
