"""Ops of the ``tflite`` domain: TFLite kernels with TFLite Micro's exact integer semantics.

A ``.tflite`` model (see :mod:`edgeslim.ir._tflite`) keeps its NHWC layout and its arithmetic:
int8 ops requantize with gemmlowp double rounding and multipliers derived from the float32
scales as TFLite Micro's reference kernels do, so the interpreter's codes equal TFLM's. Pure
data movement (reshape, slice, concat, split) uses the standard ONNX ops, exact by nature.

Attributes of the arithmetic ops: ``strides``/``dilations`` (h, w), ``padding`` (``SAME`` or
``VALID``), ``activation`` (``NONE``, ``RELU``, ``RELU6``, ``RELU_N1_TO_1``),
``depth_multiplier``; int8 forms add ``x_scale``, ``x_zero_point``, ``w_scale`` (one per output
channel or one), ``y_scale``, ``y_zero_point``. Float forms accumulate in float64 and round to
float32 (TFLite's own float kernels accumulate in float32: agreement to about 1e-6).
"""

from __future__ import annotations

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim.ir._tflite_fixed import (
    logistic_int8,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
)
from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import WHERE, Inputs, Outputs, need, opt, register

__all__: list[str] = []


def _tfl_round(x: np.ndarray | np.floating) -> np.ndarray:
    """TfLiteRound: half away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _act_range(node: Node, scale: float, zp: int, lo: int, hi: int) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized``: the fused activation as a code range."""
    act = str(node.attrs.get("activation", "NONE"))

    def q(f: float) -> int:
        return zp + int(_tfl_round(np.float32(f) / np.float32(scale)))

    if act == "NONE":
        return lo, hi
    if act == "RELU":
        return max(lo, q(0.0)), hi
    if act == "RELU6":
        return max(lo, q(0.0)), min(hi, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(lo, q(-1.0)), min(hi, q(1.0))
    raise UnsupportedOpError(node.op, node.name, f"{WHERE} (fused activation {act})")


def _act_float(node: Node, y: np.ndarray) -> np.ndarray:
    act = str(node.attrs.get("activation", "NONE"))
    bounds = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0)}
    bounds["RELU_N1_TO_1"] = (-1.0, 1.0)
    if act not in bounds:
        raise UnsupportedOpError(node.op, node.name, f"{WHERE} (fused activation {act})")
    lo, hi = bounds[act]
    return y if lo is None else np.clip(y, lo, hi)


def _pads(size: int, k: int, stride: int, dilation: int, same: bool) -> tuple[int, int, int]:
    """(output size, pad before, pad after) as TFLite's ``ComputePaddingHeightWidth``."""
    eff = (k - 1) * dilation + 1
    out = (size + stride - 1) // stride if same else (size - eff + stride) // stride
    total = max((out - 1) * stride + eff - size, 0) if same else 0
    return out, total // 2, total - total // 2


def _patches(node: Node, x: np.ndarray, kh: int, kw: int, fill: int | float) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) windows of an NHWC input, padded with ``fill``."""
    sh, sw = (int(v) for v in node.attrs.get("strides", (1, 1)))
    dh, dw = (int(v) for v in node.attrs.get("dilations", (1, 1)))
    same = str(node.attrs.get("padding", "VALID")) == "SAME"
    oh, ph0, ph1 = _pads(x.shape[1], kh, sh, dh, same)
    ow, pw0, pw1 = _pads(x.shape[2], kw, sw, dw, same)
    xp = np.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)), constant_values=fill)
    iy = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * dh  # (OH, KH)
    ix = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * dw  # (OW, KW)
    p = xp[:, iy[:, None, :, None], ix[None, :, None, :], :]  # N, OH, OW, KH, KW, C
    return np.asarray(p)


def _requant(node: Node, acc: np.ndarray, w_scale: np.ndarray, fc: bool) -> np.ndarray:
    """int32 accumulators (..., O) -> int8 codes with per-channel multipliers."""
    sx, sy = float(node.attrs["x_scale"]), float(node.attrs["y_scale"])
    zy = int(node.attrs["y_zero_point"])
    ws = np.broadcast_to(np.asarray(w_scale, dtype=np.float32), (acc.shape[-1],))
    m0 = np.empty(ws.shape, dtype=np.int64)
    sh = np.empty(ws.shape, dtype=np.int64)
    for i, s in enumerate(ws):
        # FULLY_CONNECTED multiplies the two scales in float32 first (GetQuantizedConvolution-
        # Multipler); CONV_2D / DEPTHWISE_CONV_2D in double (PopulateConvolutionQuantization-
        # Params). Both are TFLite Micro's code paths, kept apart on purpose.
        prod = float(np.float32(sx) * s) if fc else float(np.float64(sx) * float(s))
        m0[i], sh[i] = quantize_multiplier(prod / sy)
    y = multiply_by_quantized_multiplier(acc, m0, sh) + zy
    lo, hi = _act_range(node, sy, zy, -128, 127)
    return np.clip(y, lo, hi).astype(np.int8)


def _bias(b: np.ndarray | None, n: int, dtype: type) -> np.ndarray:
    return np.zeros(n, dtype=dtype) if b is None else b.astype(dtype)


@register("tflite.Conv2D", "tflite.DepthwiseConv2D")
def _conv(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, w, b = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    depthwise = node.op == "tflite.DepthwiseConv2D"
    kh, kw = w.shape[1], w.shape[2]
    quant = x.dtype == np.int8
    fill = int(node.attrs["x_zero_point"]) if quant else 0.0
    p = _patches(node, x, kh, kw, fill)
    if quant:
        p = p.astype(np.int64) - int(node.attrs["x_zero_point"])
        wv = w.astype(np.int64)
    else:
        p, wv = p.astype(np.float64), w.astype(np.float64)
    if depthwise:
        mult = int(node.attrs.get("depth_multiplier", 1)) or 1
        pc = np.repeat(p, mult, axis=-1) if mult > 1 else p  # channel oc reads oc // mult
        acc = np.einsum("nyxijc,ijc->nyxc", pc, wv[0])
    else:
        acc = np.einsum("nyxijc,oijc->nyxo", p, wv)
    n_out = acc.shape[-1]
    if quant:
        acc = acc + _bias(b, n_out, np.int64)
        ws = np.asarray(node.attrs["w_scale"], dtype=np.float32)
        return (_requant(node, acc, ws, fc=False),)
    y = acc + _bias(b, n_out, np.float64)
    return (_act_float(node, y).astype(np.float32),)


@register("tflite.FullyConnected")
def _fully_connected(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, w, b = need(node, xs, 0), need(node, xs, 1), opt(xs, 2)
    rows = x.reshape(-1, w.shape[1])
    if x.dtype == np.int8:
        acc = (rows.astype(np.int64) - int(node.attrs["x_zero_point"])) @ w.astype(np.int64).T
        acc = acc + _bias(b, w.shape[0], np.int64)
        y = _requant(node, acc, np.asarray(node.attrs["w_scale"], dtype=np.float32), fc=True)
    else:
        acc = rows.astype(np.float64) @ w.astype(np.float64).T + _bias(b, w.shape[0], np.float64)
        y = _act_float(node, acc).astype(np.float32)
    if node.attrs.get("keep_num_dims"):
        y = y.reshape(*x.shape[:-1], w.shape[0])
    return (y,)


@register("tflite.Logistic")
def _logistic(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    if x.dtype == np.int8:
        return (logistic_int8(x, float(node.attrs["x_scale"]), int(node.attrs["x_zero_point"])),)
    if x.dtype == np.float32:
        return ((1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32),)
    raise UnsupportedOpError(node.op, node.name, f"{WHERE} (LOGISTIC of {x.dtype})")


_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


@register("tflite.Quantize")
def _quantize(node: Node, xs: Inputs, opset: int) -> Outputs:
    """QUANTIZE: float -> codes (AffineQuantize) or codes -> codes (Requantize)."""
    x = need(node, xs, 0)
    to = str(node.attrs["to"])
    if to not in _RANGES:
        raise UnsupportedOpError(node.op, node.name, f"{WHERE} (QUANTIZE to {to})")
    lo, hi = _RANGES[to]
    sy, zy = np.float32(node.attrs["y_scale"]), int(node.attrs["y_zero_point"])
    if x.dtype.kind == "f":
        q = _tfl_round(x.astype(np.float32) / sy).astype(np.int64) + zy
        return (np.clip(q, lo, hi).astype(to),)
    sx, zx = float(node.attrs["x_scale"]), int(node.attrs["x_zero_point"])
    m0, shift = quantize_multiplier(sx / float(sy))
    y = multiply_by_quantized_multiplier(x.astype(np.int64) - zx, m0, shift) + zy
    return (np.clip(y, lo, hi).astype(to),)


@register("tflite.Dequantize")
def _dequantize(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    s, z = float(np.float32(node.attrs["x_scale"])), int(node.attrs["x_zero_point"])
    return ((s * (x.astype(np.int64) - z)).astype(np.float32),)
