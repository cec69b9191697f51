"""A certified bound on how far a quantized model's output can be from its float model's.

:func:`quantization_error_bound` propagates, through the quantized graph, an interval
``[lo, hi]`` that holds the *float* model's value of every tensor for all inputs in a box, and
an elementwise error ``err`` that bounds ``|quantized - float|`` (interval arithmetic):

* linear ops (Conv, Gemm, MatMul) with quantized weights ``W'`` and float weights ``W``:
  ``y' - y = W'(x' - x) + (W' - W) x + (b' - b)``, so
  ``err_y = |W'| err_x + |W' - W| max(|lo|, |hi|) + |b' - b|``; the float interval uses
  the positive and negative parts of ``W``;
* ``QuantizeLinear -> DequantizeLinear`` of an activation adds the rounding error ``s/2`` or,
  where the quantized value can leave the representable range, the clipping distance;
* Relu, MaxPool, Flatten, Reshape, ... are 1-Lipschitz and monotone (applied to lo, hi, err);
  averaging pools are linear with positive weights; Sigmoid and Tanh are monotone with
  Lipschitz constants 1/4 and 1; Add/Sub add errors; Mul/Div by constants scale them.

These interval rules are the ``"interval"`` method. They are loose once activations are
quantized: ``|W'| err`` adds the rounding errors of every input channel with the same sign,
layer after layer. The default ``"best"`` also runs affine arithmetic (zonotopes,
:mod:`._bounds_affine`: ``W' e`` keeps the signs, and ``(W' - W) f`` stays correlated with the
float value), plain and tightened tensor by tensor with the intervals, and returns per output
element the smallest of the bounds (each is sound).

Constants (initializers, and nodes whose inputs are all constants, such as a weight's
DequantizeLinear or Cast) carry both values: the quantized path's value is computed, and the
float value is the reference's tensor of the same name (edgeslim's rewrites keep the float
weight's name on the dequantized weight) or, without one, the same computation. The result is
exact-arithmetic sound; ``slack`` (relative, default 1e-4, plus 1e-5 absolute) covers float32
rounding of the two executions. Unsupported ops (recurrent cells, for instance) raise
:class:`UnsupportedOpError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, UnsupportedOpError
from edgeslim._core.records import Metric, Provenance
from edgeslim.ir.graph import Graph, Node

__all__ = ["DeviationBound", "quantization_error_bound"]

_WHERE = "the quantization error bound"
_MONOTONE: tuple[str, ...] = ("Relu", "MaxPool", "GlobalMaxPool", "Flatten", "Reshape")
_MONOTONE += ("Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "AveragePool")
_MONOTONE += ("GlobalAveragePool", "Slice", "Gather", "Pad")  # Pad: zero constant only
_LIPSCHITZ = {"Sigmoid": 0.25, "Tanh": 1.0, "Relu": 1.0}
AFFINE_MAX_ELEMENTS = 16384  # "best" skips zonotopes for graphs with larger activations


@dataclass(frozen=True, slots=True)
class DeviationBound:
    """Per output element: the worst-case ``|quantized - float|`` over the input box."""

    per_output: tuple[float, ...]
    output_lo: tuple[float, ...]  # the float model's output interval (for context)
    output_hi: tuple[float, ...]
    method: str = "propagated"  # or "ranges": from the two models' output ranges alone
    note: str = ""  # why "ranges" (the op the propagation lacks)

    @property
    def max(self) -> float:
        return max(self.per_output)

    def metrics(self, context: str = "") -> tuple[Metric, ...]:
        return (Metric("output_deviation_bound", self.max, "1", Provenance.BOUND, context),)


@dataclass(frozen=True, slots=True)
class _S:
    lo: np.ndarray  # float model's value lies in [lo, hi]
    hi: np.ndarray
    err: np.ndarray  # |quantized path - float path| <= err
    q: np.ndarray | None = None  # exact value on the quantized path for constants

    @property
    def const(self) -> bool:
        return self.q is not None


@dataclass(frozen=True, slots=True)
class _Codes:  # output of a QuantizeLinear: remembers its input and qparams
    src: _S
    scale: np.ndarray
    zero_point: np.ndarray


@dataclass(frozen=True, slots=True)
class _DynCodes:  # DynamicQuantizeLinear's codes: its input and the runtime scale's upper bound
    src: _S
    step: float


@dataclass(frozen=True, slots=True)
class _DynScale:  # DynamicQuantizeLinear's runtime scale (times the weights' scale after a Mul)
    step: float
    factor: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class _DynZeroPoint:
    pass


@dataclass(frozen=True, slots=True)
class _DynProduct:  # MatMulInteger/ConvInteger of dynamic codes before the rescaling Mul
    node: Node
    x: _S  # the float input, its error widened by the runtime rounding
    w_int: np.ndarray  # quantized weight minus its zero point
    w_float: np.ndarray


_DYNAMIC = (_DynCodes, _DynScale, _DynZeroPoint, _DynProduct)


def _op(node: Node, inputs: list[np.ndarray | None], opset: int) -> tuple[np.ndarray, ...]:
    from edgeslim.ir.interp import OPS

    if node.op not in OPS:
        raise UnsupportedOpError(node.op, node.name, _WHERE)
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    return tuple(np.asarray(r) for r in OPS.get(node.op)(node, args, opset))


def _const(q: np.ndarray, f: np.ndarray | None = None) -> _S:
    f = q if f is None else f
    ff = np.asarray(f, np.float64) if np.asarray(f).dtype.kind == "f" else np.asarray(f)
    diff = (
        np.abs(np.asarray(q, np.float64) - np.asarray(f, np.float64))
        if q.dtype.kind in "fiu"
        else 0
    )
    return _S(ff, ff, np.asarray(diff, np.float64), q)


def _constant_node(
    node: Node, env: dict[str, Any], ref: Mapping[str, np.ndarray], opset: int
) -> None:
    if node.op == "DequantizeLinear" and env[node.inputs[0]].q.dtype.name in _SUB_BYTE:
        qs: tuple[Any, ...] = (_dequantize_constant(node, [env[t].q for t in node.inputs if t]),)
    else:
        qs = _op(node, [env[t].q if t else None for t in node.inputs], opset)
    if all(not name or name in ref for name in node.outputs):
        fs: tuple[Any, ...] = tuple(ref.get(name) for name in node.outputs)
    else:
        fs = _op(node, [env[t].lo if t else None for t in node.inputs], opset)
    for name, qv, fv in zip(node.outputs, qs, fs, strict=False):
        if name:
            env[name] = _const(qv, ref.get(name, fv))


_SUB_BYTE = ("int4", "uint4", "int2", "uint2")


def _dequantize_constant(node: Node, xs: list[np.ndarray]) -> np.ndarray:
    """DequantizeLinear of packed sub-byte constants (which the interpreter does not take):
    ``(q - z) * s`` per tensor, per axis or per block, in float32 like onnxruntime."""
    q = xs[0].astype(np.float64)
    z = xs[2].astype(np.float64) if len(xs) > 2 else np.zeros(())
    s = xs[1].astype(np.float32)
    if s.size > 1:
        axis = int(node.attrs.get("axis", 1)) % q.ndim
        block = int(node.attrs.get("block_size", 0))
        if block:
            s = np.repeat(s, block, axis=axis)[tuple(slice(0, n) for n in q.shape)]
            z = (
                np.repeat(z, block, axis=axis)[tuple(slice(0, n) for n in q.shape)]
                if z.ndim
                else z
            )
        else:
            shape = [1] * q.ndim
            shape[axis] = -1
            s, z = s.reshape(shape), (z.reshape(shape) if z.size > 1 else z.reshape(()))
    return ((q - z).astype(np.float32) * s).astype(np.float32)


def _split(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(w, 0.0), np.minimum(w, 0.0)


def _linear(node: Node, x: _S, w: _S, b: _S | None, opset: int) -> _S:
    attrs = node.attrs
    if node.op == "Gemm" and (
        attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0)
    ):
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (alpha, beta or transA)")
    assert w.q is not None
    wf = w.lo
    wp, wn = _split(wf)
    zero_b = None
    lo = _op(node, [x.lo, wp, zero_b], opset)[0] + _op(node, [x.hi, wn, zero_b], opset)[0]
    hi = _op(node, [x.hi, wp, zero_b], opset)[0] + _op(node, [x.lo, wn, zero_b], opset)[0]
    amax = np.maximum(np.abs(x.lo), np.abs(x.hi))
    err = _op(node, [x.err, np.abs(w.q.astype(np.float64)), None], opset)[0]
    err = err + _op(node, [amax, np.abs(w.q - wf), None], opset)[0]
    if b is not None:
        shape = (1, -1) + (1,) * (lo.ndim - 2) if node.op == "Conv" else (1, -1)
        if node.op == "MatMul":
            raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (MatMul with 3 inputs)")
        lo, hi = lo + b.lo.reshape(shape), hi + b.lo.reshape(shape)
        err = err + b.err.reshape(shape)
    return _S(lo, hi, err)


def _dequantize(node: Node, codes: _Codes, opset: int) -> _S:
    """Rounding and clipping error of DQ(Q(v)) for v in [lo - err, hi + err]."""
    from edgeslim.ir.interp._quant import _broadcast, _out_dtype, qrange

    src = codes.src
    qmin, qmax = qrange(_out_dtype(node, codes.zero_point))
    s = _broadcast(node, codes.scale.astype(np.float64), src.lo)
    z = _broadcast(node, codes.zero_point.astype(np.float64), src.lo)
    top, bottom = s * (qmax - z), s * (qmin - z)
    e_q = np.maximum(s / 2.0, np.maximum(src.hi + src.err - top, bottom - (src.lo - src.err)))
    return _S(src.lo, src.hi, src.err + e_q)


def _elementwise(node: Node, xs: list[_S], opset: int) -> _S:
    op = node.op
    if op in ("Add", "Sub"):
        a, b = xs
        if op == "Add":
            return _S(a.lo + b.lo, a.hi + b.hi, a.err + b.err)
        return _S(a.lo - b.hi, a.hi - b.lo, a.err + b.err)
    if op in ("Mul", "Div") and sum(x.const for x in xs) == 1:
        x, c = (xs[0], xs[1]) if xs[1].const else (xs[1], xs[0])
        if op == "Div" and x is not xs[0]:
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (constant / tensor)")
        kf = np.asarray(c.lo, np.float64)
        kq = np.asarray(c.q, np.float64)
        if op == "Div":
            kf, kq = 1.0 / kf, 1.0 / kq
        u, v = x.lo * kf, x.hi * kf
        # x' k' - x k = k' (x' - x) + (k' - k) x
        amax = np.maximum(np.abs(x.lo), np.abs(x.hi))
        return _S(np.minimum(u, v), np.maximum(u, v), x.err * np.abs(kq) + np.abs(kq - kf) * amax)
    if op == "Concat":
        return _S(*(_op(node, [getattr(x, k) for x in xs], opset)[0] for k in ("lo", "hi", "err")))
    if op == "Pad" and (
        node.attrs.get("mode", "constant") in ("constant", b"constant")
        and len(xs) > 2
        and np.any(xs[2].lo != 0)
    ):
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (padding with a nonzero value)")
    if op in _COMPARE and len(xs) == 2 and xs[1].const:
        return _compare(op, xs[0], np.asarray(xs[1].lo, np.float64))
    if op == "Where" and len(xs) == 3:
        return _where(*xs)
    if op in _MONOTONE or op in _LIPSCHITZ:
        rest = [x.lo if x.const else None for x in xs[1:]]
        lo = _op(node, [xs[0].lo, *rest], opset)[0]
        hi = _op(node, [xs[0].hi, *rest], opset)[0]
        if op in _LIPSCHITZ and op != "Relu":
            err = xs[0].err * _LIPSCHITZ[op]
        else:
            err = _op(node, [xs[0].err, *rest], opset)[0]
        return _S(np.asarray(lo, np.float64), np.asarray(hi, np.float64), np.asarray(err))
    raise UnsupportedOpError(op, node.name, _WHERE)


_COMPARE = {
    "Greater": np.greater,
    "GreaterOrEqual": np.greater_equal,
    "Less": np.less,
    "LessOrEqual": np.less_equal,
}


def _compare(op: str, x: _S, c: np.ndarray) -> _S:
    """``x <op> c`` as 0/1: the float path's possible results in ``[lo, hi]``; ``err`` is 1
    where the quantized path (``x'`` in ``[lo - err, hi + err]``) may decide differently."""
    fn = _COMPARE[op]
    ends = [fn(v, c) for v in (x.lo, x.hi, x.lo - x.err, x.hi + x.err)]
    lo = np.minimum(ends[0], ends[1]).astype(np.float64)
    hi = np.maximum(ends[0], ends[1]).astype(np.float64)
    same = (ends[0] == ends[1]) & (ends[1] == ends[2]) & (ends[2] == ends[3])
    return _S(lo, hi, (~same).astype(np.float64))


def _where(cond: _S, a: _S, b: _S) -> _S:
    """``cond ? a : b``: the hull of the branches the float path may take; the error is the
    taken branch's where both paths agree on ``cond``, else the widest gap between the
    quantized path's and the float path's possible values."""
    may_a, may_b = cond.hi > 0, cond.lo < 1
    big = np.inf
    lo = np.minimum(np.where(may_a, a.lo, big), np.where(may_b, b.lo, big))
    hi = np.maximum(np.where(may_a, a.hi, -big), np.where(may_b, b.hi, -big))
    qa, qb = may_a | (cond.err > 0), may_b | (cond.err > 0)
    qlo = np.minimum(np.where(qa, a.lo - a.err, big), np.where(qb, b.lo - b.err, big))
    qhi = np.maximum(np.where(qa, a.hi + a.err, -big), np.where(qb, b.hi + b.err, -big))
    agree = np.maximum(np.where(may_a, a.err, 0.0), np.where(may_b, b.err, 0.0))
    gap = np.maximum(qhi - lo, hi - qlo)
    return _S(lo, hi, np.where(cond.err > 0, np.maximum(gap, agree), agree))


@dataclass(frozen=True, slots=True)
class _IntRange:  # integer codes of an edgeslim integer cell (ranges mode only)
    lo: float
    hi: float
    shape: tuple[int, ...]


def _integer_cell(node: Node, env: dict[str, Any]) -> None:
    """``edgeslim.IntGRU``/``IntLSTM`` outputs by their code ranges: the hidden state is a
    convex combination of tanh table values (GRU) or a gate times one (LSTM), so it stays in
    the int16 (or int8, ``state_bits`` 8) range; the LSTM cell uses all of int16."""
    bits = int(node.attrs.get("state_bits", 16))
    top = float(2 ** (bits - 1))
    x = env[node.inputs[0]]
    seq, batch = np.shape(x.src.lo if isinstance(x, _Codes) else x.lo)[:2]
    nd = 2 if str(node.attrs.get("direction", "forward")) == "bidirectional" else 1
    hidden = int(node.attrs["hidden_size"])
    shapes = [(seq, nd, batch, hidden), (nd, batch, hidden), (nd, batch, hidden)]
    for i, name in enumerate(node.outputs):
        if name:
            lo, hi = (-top, top - 1) if i < 2 else (-32768.0, 32767.0)
            env[name] = _IntRange(lo, hi, shapes[min(i, 2)])


def _step(
    node: Node,
    env: dict[str, Any],
    ref: Mapping[str, np.ndarray],
    opset: int,
    ranges: bool = False,
) -> None:
    xs: list[Any] = [env[t] if t else None for t in node.inputs]
    if node.op == "QuantizeLinear":
        zp = xs[2].q if len(xs) > 2 and xs[2] is not None else np.zeros((), np.uint8)
        env[node.outputs[0]] = _Codes(xs[0], xs[1].q, zp)
        return
    if node.op.removeprefix("edgeslim.") in ("IntGRU", "IntLSTM") and ranges:
        _integer_cell(node, env)
        return
    if node.op == "DequantizeLinear" and isinstance(xs[0], _IntRange):
        scale = np.asarray(xs[1].q, np.float64)
        zp = np.asarray(xs[2].q, np.float64) if len(xs) > 2 and xs[2] is not None else 0.0
        v_lo = np.broadcast_to((xs[0].lo - zp) * scale, xs[0].shape)
        v_hi = np.broadcast_to((xs[0].hi - zp) * scale, xs[0].shape)
        env[node.outputs[0]] = _S(
            np.minimum(v_lo, v_hi), np.maximum(v_lo, v_hi), np.zeros(v_lo.shape)
        )
        return
    if node.op == "DequantizeLinear":
        if not isinstance(xs[0], _Codes):
            raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (DQ of a non-constant)")
        env[node.outputs[0]] = _dequantize(node, xs[0], opset)
        return
    if node.op == "Shape":  # shapes are known: one sample of the box
        dims = np.asarray(xs[0].lo.shape, np.int64)
        start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
        env[node.outputs[0]] = _const(dims[start : None if end is None else int(end)])
        return
    if node.op in ("GRU", "LSTM"):
        from edgeslim.measure._bounds_rnn import recurrent

        for name, value in zip(node.outputs, recurrent(node, xs), strict=False):
            if name:
                env[name] = value
        return
    if node.op == "DynamicQuantizeLinear" or any(isinstance(x, _DYNAMIC) for x in xs):
        _dynamic(node, xs, env, ref, opset)
        return
    if any(isinstance(x, _Codes) for x in xs):
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (integer codes as input)")
    if node.op in ("Conv", "Gemm", "MatMul"):
        if not xs[1].const:
            raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (non-constant weight)")
        b = xs[2] if len(xs) > 2 else None
        env[node.outputs[0]] = _linear(node, xs[0], xs[1], b, opset)
        return
    env[node.outputs[0]] = _elementwise(node, [x for x in xs if x is not None], opset)


def _float_weight(node: Node, ref: Mapping[str, np.ndarray]) -> np.ndarray:
    """The float weight that onnxruntime's dynamic quantization replaced: ``W_quantized`` or,
    for a Gemm turned into MatMul, ``W_Transposed_quantized`` (then transposed)."""
    name = node.inputs[1]
    base = name.removesuffix("_quantized")
    transposed = base.endswith("_Transposed")
    base = base.removesuffix("_Transposed")
    if base not in ref:
        raise UnsupportedOpError(
            node.op, node.name, f"{_WHERE} (no float weight {base!r} for {name!r})"
        )
    w = np.asarray(ref[base], np.float64)
    return w.T if transposed else w


def _dynamic(
    node: Node, xs: list[Any], env: dict[str, Any], ref: Mapping[str, np.ndarray], opset: int
) -> None:
    """Dynamic quantization (``DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast ->
    Mul(x_scale * w_scale)``): together a linear op with weights ``w_scale (W_q - w_zp)`` on
    the input rounded at run time. The runtime scale is ``(max(0, max x) - min(0, min x)) /
    255`` over the whole tensor, at most ``step`` for every input in the box (also in a
    batch), and rounding to it moves each element by at most ``step / 2`` (no clipping: the
    range covers the tensor)."""
    op, out = node.op, node.outputs
    where = f"{_WHERE} (dynamic quantization)"
    if op == "DynamicQuantizeLinear":
        x = xs[0]
        top = max(0.0, float(np.max(x.hi + x.err)))
        bottom = min(0.0, float(np.min(x.lo - x.err)))
        step = (top - bottom) / 255.0 * (1.0 + 1e-6)
        env[out[0]] = _DynCodes(x, step)
        if len(out) > 1 and out[1]:
            env[out[1]] = _DynScale(step)
        if len(out) > 2 and out[2]:
            env[out[2]] = _DynZeroPoint()
        return
    if op == "Mul" and len(xs) == 2:
        a, b = xs
        if isinstance(b, _DynProduct) or (isinstance(b, _DynScale) and isinstance(a, _S)):
            a, b = b, a
        if isinstance(a, _DynScale) and a.factor is None and isinstance(b, _S) and b.const:
            env[out[0]] = _DynScale(a.step, np.asarray(b.q, np.float64))
            return
        if isinstance(a, _DynProduct) and isinstance(b, _DynScale) and b.factor is not None:
            p = a
            factor = b.factor
            if p.node.op == "Conv":
                factor = factor.reshape((-1,) + (1,) * (p.w_int.ndim - 1))
            wq = p.w_int * factor
            w = _S(p.w_float, p.w_float, np.abs(wq - p.w_float), wq)
            env[out[0]] = _linear(p.node, p.x, w, None, opset)
            return
    if op in ("MatMulInteger", "ConvInteger") and isinstance(xs[0], _DynCodes):
        w = xs[1]
        if not (isinstance(w, _S) and w.const):
            raise UnsupportedOpError(op, node.name, f"{where}: non-constant weight")
        zp = xs[3].q if len(xs) > 3 and isinstance(xs[3], _S) else np.zeros(())
        w_int = np.asarray(w.q, np.float64)
        zp = np.asarray(zp, np.float64)
        if op == "ConvInteger" and zp.ndim:
            zp = zp.reshape((-1,) + (1,) * (w_int.ndim - 1))
        w_int = w_int - zp
        w_float = _float_weight(node, ref)
        if w_float.shape != w_int.shape:
            raise UnsupportedOpError(op, node.name, f"{where}: float weight shape differs")
        codes = xs[0]
        x = _S(codes.src.lo, codes.src.hi, codes.src.err + codes.step / 2.0)
        lin = Node(node.name, "MatMul" if op == "MatMulInteger" else "Conv", node.inputs[:2],
                   node.outputs, node.attrs)  # fmt: skip
        env[out[0]] = _DynProduct(lin, x, w_int, w_float)
        return
    if op == "Cast" and isinstance(xs[0], _DynProduct):
        env[out[0]] = xs[0]
        return
    raise UnsupportedOpError(op, node.name, where)


def quantization_error_bound(
    quantized: Graph,
    reference: Graph | Mapping[str, np.ndarray],
    input_lo: np.ndarray,
    input_hi: np.ndarray,
    *,
    slack: float = 1e-4,
    method: str = "best",
) -> DeviationBound:
    """Bound ``|quantized(x) - reference(x)|`` per output element for all ``x`` in the box.

    ``reference`` is the float graph (or its initializers by name); ``input_lo``/``input_hi``
    are one sample's bounds (shape of one sample, or broadcastable to it), raw inputs as the
    artifact takes them. ``method`` is ``"interval"`` (the rules of the module docstring),
    ``"affine"`` (zonotopes, :mod:`._bounds_affine`) or ``"best"`` (intervals, zonotopes, and
    zonotopes tightened by the intervals tensor by tensor; per output element the smallest
    bound, sound since each is; where the affine rules lack an op or need too many symbols,
    the interval bound alone; also for activations over ``AFFINE_MAX_ELEMENTS`` elements).
    """
    if method not in ("best", "interval", "affine"):
        raise DataError(f"method must be 'best', 'interval' or 'affine'; got {method!r}")
    ref = _aligned(quantized, reference) if isinstance(reference, Graph) else reference
    info = quantized.inputs[0]
    shape = tuple(1 if d is None else d for d in info.shape)
    lo = np.broadcast_to(np.asarray(input_lo, np.float64), shape[1:])[None].astype(np.float32)
    hi = np.broadcast_to(np.asarray(input_hi, np.float64), shape[1:])[None].astype(np.float32)
    if np.any(lo > hi):
        raise DataError("input_lo must be <= input_hi everywhere")
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    env: dict[str, Any] = {}
    if method in ("best", "interval"):
        try:
            env = _interval_env(quantized, ref, lo, hi)
            if isinstance(reference, Graph):
                why = _unpaired(quantized, reference, lo, hi)
            elif missing := _missing_counterpart(quantized, env, ref):
                raise UnsupportedOpError("weights", info.name, f"{_WHERE} ({missing})")
            else:
                why = ""
        except UnsupportedOpError as exc:
            if not isinstance(reference, Graph):
                raise
            why = str(exc)
        if why:
            assert isinstance(reference, Graph)
            return _range_bound(quantized, reference, lo, hi, slack, why)
        found.append(_interval_error(quantized, env))
    if method in ("best", "affine"):
        from edgeslim.measure._bounds_affine import affine_error

        sizes = [x.lo.size for x in env.values() if isinstance(x, _S) and not x.const]
        runs: list[Mapping[str, Any]] = [{}] + ([env] if method == "best" else [])
        if method == "best" and max(sizes, default=0) > AFFINE_MAX_ELEMENTS:
            runs = []  # zonotopes would cost too much: the interval bound alone
        for intervals in runs:  # plain zonotopes, then their reduced product with intervals
            try:
                found.append(affine_error(quantized, ref, lo, hi, intervals))
            except UnsupportedOpError:
                if method == "affine":
                    raise
                break
    err = np.minimum.reduce([f[0] for f in found])
    lo_max = np.maximum.reduce([f[1] for f in found])  # intersection of the output ranges
    hi_min = np.minimum.reduce([f[2] for f in found])
    out_lo, out_hi = np.minimum(lo_max, hi_min), np.maximum(lo_max, hi_min)  # float rounding
    mag = np.maximum(np.abs(out_lo), np.abs(out_hi))
    bound = err * (1.0 + slack) + 1e-5 * (1.0 + mag)
    return DeviationBound(
        tuple(float(v) for v in bound.ravel()),
        tuple(float(v) for v in out_lo.ravel()),
        tuple(float(v) for v in out_hi.ravel()),
    )


_PAIRED_OPS = ("Conv", "Gemm", "MatMul", "GRU", "LSTM", "RNN")


def _aligned(quantized: Graph, reference: Graph) -> dict[str, np.ndarray]:
    """The reference's constants by name, plus, for weights the quantized graph names
    differently (an exporter folding BatchNorm under other names, say), the weights of the
    reference's op at the same position (n-th Conv with n-th Conv, ...) where shapes agree.
    :func:`_unpaired` then checks the pairing numerically."""
    ref = dict(reference.initializers)
    by_op: dict[str, list[Node]] = {}
    for node in reference.nodes:
        by_op.setdefault(node.op, []).append(node)
    seen: dict[str, int] = {}
    for node in quantized.nodes:
        if node.op not in _PAIRED_OPS:
            continue
        k = seen.get(node.op, 0)
        seen[node.op] = k + 1
        twins = by_op.get(node.op, [])
        if k >= len(twins):
            continue
        for mine, theirs in zip(node.inputs[1:4], twins[k].inputs[1:4], strict=False):
            if mine and theirs and mine not in ref and theirs in reference.initializers:
                info = quantized.tensors.get(mine)
                value = reference.initializers[theirs]
                if info is None or tuple(info.shape) == tuple(value.shape):
                    ref[mine] = value
    return ref


def _missing_counterpart(
    quantized: Graph, env: Mapping[str, Any], ref: Mapping[str, np.ndarray]
) -> str:
    """Names a float weight of a linear or recurrent op without a float counterpart in
    ``ref`` (its quantized value would pass for the float one and hide the weight error)."""
    for node in quantized.nodes:
        if node.op in _PAIRED_OPS:
            for t in node.inputs[1:4]:
                v = env.get(t) if t else None
                if (
                    isinstance(v, _S)
                    and v.q is not None
                    and v.q.dtype.kind == "f"
                    and t not in ref
                ):
                    return f"no float counterpart named {t!r} for {node.op} {node.name!r}"
    return ""


def _unpaired(quantized: Graph, reference: Graph, lo: np.ndarray, hi: np.ndarray) -> str:
    """Why the op-by-op pairing does not hold, or ``""``: the quantized graph's float path
    (its constants replaced by the reference's, every rounding left out) must compute the
    reference model: every weight of a linear or recurrent op has a float counterpart of the
    same name, and the float path matches the reference at the box's corners, its center and a
    random point (to 1e-5 relative: paired graphs agree to ~1e-8, while quantized weights used as
    float ones differ by 1e-4 or more). A binarized net (sign instead of ReLU) fails here."""
    from edgeslim.ir import interp

    rng = np.random.default_rng(0)
    pts = [lo, hi, (lo + hi) / 2, lo + (hi - lo) * rng.random(lo.shape)]
    x = np.concatenate(pts).astype(np.float32)
    ref = _aligned(quantized, reference)
    env = _interval_env(quantized, ref, x.astype(np.float64), x.astype(np.float64))
    missing = _missing_counterpart(quantized, env, ref)
    if missing:
        return missing
    out = env[quantized.outputs[0].name]
    if not isinstance(out, _S):
        return "the quantized output is integer codes"
    want = interp.run(reference, {reference.inputs[0].name: x})[reference.outputs[0].name]
    want = np.asarray(want, np.float64)
    got = np.asarray(out.lo, np.float64)
    if got.shape != want.shape:
        return f"output shapes differ ({got.shape} vs {want.shape})"
    tol = 1e-5 * (1.0 + np.abs(want).max())  # paired graphs agree to ~1e-8 here
    worst = float(np.abs(got - want).max())
    if worst > tol:
        return (
            f"the quantized graph with float constants is not the float model (differs by "
            f"{worst:.3g} at sample points: another structure, e.g. binarized activations)"
        )
    return ""


def _range_bound(
    quantized: Graph,
    reference: Graph,
    lo: np.ndarray,
    hi: np.ndarray,
    slack: float,
    why: str,
) -> DeviationBound:
    """The fallback where the two graphs cannot be paired op by op (a binarized net against
    its float model, integer recurrent cells, an op the error rules lack): each model's output
    interval over the box on its own, and ``|q - f| <= max(q_hi - f_lo, f_hi - q_lo)``. Sound
    and usually loose; :class:`UnsupportedOpError` if either model has an op the intervals
    lack."""
    env_q = _interval_env(quantized, {}, lo, hi, ranges=True)
    env_f = _interval_env(reference, {}, lo, hi, ranges=True)
    q, f = env_q[quantized.outputs[0].name], env_f[reference.outputs[0].name]
    if not isinstance(q, _S) or not isinstance(f, _S):
        raise UnsupportedOpError("output", quantized.outputs[0].name, f"{_WHERE} ({why})")
    q_lo, q_hi = np.asarray(q.lo) - q.err, np.asarray(q.hi) + q.err
    f_lo, f_hi = np.asarray(f.lo) - f.err, np.asarray(f.hi) + f.err
    err = np.maximum(q_hi - f_lo, f_hi - q_lo)
    mag = np.maximum(np.abs(f_lo), np.abs(f_hi))
    bound = err * (1.0 + slack) + 1e-5 * (1.0 + mag)
    return DeviationBound(
        tuple(float(v) for v in bound.ravel()),
        tuple(float(v) for v in np.ravel(f_lo)),
        tuple(float(v) for v in np.ravel(f_hi)),
        method="ranges",
        note=why,
    )


def _interval_error(
    quantized: Graph, env: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = env[quantized.outputs[0].name]
    if not isinstance(out, _S):
        raise UnsupportedOpError("QuantizeLinear", quantized.outputs[0].name, f"{_WHERE} (output)")
    return np.asarray(out.err, np.float64), np.asarray(out.lo), np.asarray(out.hi)


def _interval_env(
    quantized: Graph,
    ref: Mapping[str, np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    ranges: bool = False,
) -> dict[str, Any]:
    """Every tensor's interval value (``_S``, or ``_Codes`` after a QuantizeLinear)."""
    info = quantized.inputs[0]
    env: dict[str, Any] = {info.name: _S(lo, hi, np.zeros(lo.shape))}
    for name, value in quantized.initializers.items():
        env[name] = _const(value, ref.get(name))
    for node in quantized.nodes:
        inputs = [env[t] for t in node.inputs if t]
        if inputs and all(isinstance(x, _S) and x.const for x in inputs):
            _constant_node(node, env, ref, quantized.opset)
        else:
            _step(node, env, ref, quantized.opset, ranges)
    return env
