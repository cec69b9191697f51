"""Rewrite an imported TFLite graph into the QDQ form the int8 C generator lowers.

``to_qdq(graph)`` turns the ``tflite`` ops of :mod:`edgeslim.ir._tflite` (NHWC, TFLite integer
semantics) into standard ONNX ops between ``DequantizeLinear``/``QuantizeLinear`` pairs in NCHW,
the patterns :mod:`edgeslim.codegen.nn._qlower` recognizes: ``Conv``/``Gemm`` (+ ``Relu``) with
int8 weights and int32 bias, ``Sigmoid``, data movement on codes with equal parameters.
Generated with ``QOptions(rounding="double")`` the kernels requantize as TFLite does.

Exactness is checked here, op by op, never assumed; a mismatch is a :class:`ModelError` naming
the op:

* Conv/depthwise: the C generator's multiplier ``double(s_x) * s_w / s_y`` is TFLite's.
* FULLY_CONNECTED: TFLite multiplies ``s_x * s_w`` in float32 first; the rewrite is accepted
  when both multipliers quantize to the same ``(M0, shift)`` (all four pymicro-wakeword models).
* LOGISTIC and QUANTIZE (int8 -> int8/uint8): the 256-entry table the generator would build
  (dequantize, float op, round half to even) must equal TFLite's integer kernel on every code.

``pack_state=True`` gives a single-input single-output graph for the C API of
:mod:`edgeslim.codegen.nn` (one input, one output): input = data codes then every state buffer,
output = data codes then every new state (the caller copies the state part of the output back
into the next input). Codes travel through the packing unchanged (a DQ/Q pair of scale 1).
A final int8 -> uint8 QUANTIZE of equal scale (``y = x + 128``) is left out of a packed graph
so that all of it is int8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.ir._stream import INIT_SUFFIX, state_vars
from edgeslim.ir._tflite_fixed import (
    logistic_int8,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
)
from edgeslim.ir.graph import Graph, Node, TensorInfo

__all__ = ["packed_inputs", "packed_layout", "packed_outputs", "to_qdq"]

NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
_ACTS = ("NONE", "RELU")


@dataclass
class _Rewriter:
    src: Graph
    nodes: list[Node] = field(default_factory=list)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # source tensor -> codes tensor
    count: int = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        arr = np.array(value)
        arr.flags.writeable = False
        self.inits[name] = arr
        self.tensors[name] = TensorInfo(name, arr.dtype.name, tuple(arr.shape))
        return name

    def add(self, op: str, ins: list[str], outs: list[tuple[str, str, tuple[int, ...]]],
            **attrs: Any) -> None:  # fmt: skip
        for name, dtype, shape in outs:
            self.tensors[name] = TensorInfo(name, dtype, shape)
        node = Node(self.fresh(op), op, tuple(ins), tuple(o[0] for o in outs),
                    MappingProxyType(attrs))  # fmt: skip
        self.nodes.append(node)

    def shape(self, t: str) -> tuple[int, ...]:
        """Static shape of a tensor of the rewritten graph (symbolic dimensions = 1)."""
        return _dims(self.tensors[t].shape)

    def stored_shape(self, t: str) -> tuple[int, ...]:
        shape = _dims(self.src.tensors[t].shape)
        return tuple(shape[i] for i in NHWC_TO_NCHW) if len(shape) == 4 else shape

    def qp(self, t: str) -> tuple[float, int]:
        q = self.src.tensors[t].quant
        if q is None or len(q.scale) != 1:
            raise ModelError(f"tensor {t!r} needs per-tensor quantization for the C generator")
        return q.scale[0], q.zero_point[0]

    def dq(self, t: str, qp: tuple[float, int] | None = None) -> str:
        """A fresh DequantizeLinear of the codes of source tensor ``t`` (float32 out)."""
        s, z = qp or self.qp(t)
        codes = self.codes[t]
        zdt = self.tensors[codes].dtype
        out = self.fresh(f"{t}__dq")
        sn = self.const("s", np.array(s, np.float32))
        zn = self.const("z", np.array(z, zdt))
        self.add("DequantizeLinear", [codes, sn, zn], [(out, "float32", self.shape(codes))])
        return out

    def q(self, x: str, t: str, shape: tuple[int, ...], qp: tuple[float, int] | None = None,
          dtype: str | None = None) -> str:  # fmt: skip
        """QuantizeLinear of float ``x`` to the codes of source tensor ``t``."""
        s, z = qp or self.qp(t)
        dt = dtype or self.src.tensors[t].dtype
        out = self.fresh(f"{t}__q")
        sn = self.const("s", np.array(s, np.float32))
        zn = self.const("z", np.array(z, dt))
        self.add("QuantizeLinear", [x, sn, zn], [(out, dt, shape)])
        self.codes[t] = out
        return out


def _dims(shape: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(1 if d is None else int(d) for d in shape)


def _axis(r: _Rewriter, t: str, axis: int) -> int:
    rank = len(r.src.tensors[t].shape)
    axis = axis % rank if rank else axis
    return NHWC_TO_NCHW.index(axis) if rank == 4 else axis


def _pads(size: int, k: int, stride: int, dil: int, same: bool) -> tuple[int, int]:
    if not same:
        return 0, 0
    eff = (k - 1) * dil + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _check_multipliers(node: Node, sx: float, ws: np.ndarray, sy: float, fc: bool) -> None:
    for s in ws.astype(np.float32):
        gen = float(np.float64(np.float32(sx)) * np.float64(s) / np.float64(np.float32(sy)))
        tfl = float(np.float32(sx) * s) / float(np.float32(sy)) if fc else gen
        q, _ = math.frexp(gen)
        if quantize_multiplier(gen) != quantize_multiplier(tfl) or (q * 2**31) % 1 == 0.5:
            raise ModelError(
                f"node {node.name!r} ({node.op}): TFLite's requantization multiplier differs "
                "from the C generator's; cannot lower it bit-exactly"
            )


def _conv(r: _Rewriter, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    w = np.asarray(r.src.initializers[n.inputs[1]])
    dw = n.op == "tflite.DepthwiseConv2D"
    if n.attrs.get("activation", "NONE") not in _ACTS:
        raise ModelError(f"node {n.name!r}: activation {n.attrs['activation']} has no C pattern")
    ws = np.asarray(n.attrs["w_scale"], np.float32)
    sx, sy = float(n.attrs["x_scale"]), float(n.attrs["y_scale"])
    _check_multipliers(n, sx, ws, sy, fc=False)
    xs = r.stored_shape(x)  # N, C, H, W
    wt = w.transpose(3, 0, 1, 2) if dw else w.transpose(0, 3, 1, 2)  # O, I/g, KH, KW
    cout = wt.shape[0]
    kh, kw = wt.shape[2], wt.shape[3]
    sh, sw = (int(v) for v in n.attrs["strides"])
    dh, dwl = (int(v) for v in n.attrs["dilations"])
    same = n.attrs["padding"] == "SAME"
    pt, pb = _pads(xs[2], kh, sh, dh, same)
    pl, pr = _pads(xs[3], kw, sw, dwl, same)
    wq = _weights(r, n.inputs[1], wt, ws, axis=0)
    args = [r.dq(x), wq]
    if len(n.inputs) > 2 and n.inputs[2]:
        args.append(_bias(r, n.inputs[2], sx, ws, cout))
    ys = r.stored_shape(y)
    conv_out = r.fresh(f"{y}__f")
    r.add("Conv", args, [(conv_out, "float32", ys)], strides=(sh, sw), dilations=(dh, dwl),
          pads=(pt, pl, pb, pr), group=xs[1] if dw else 1, kernel_shape=(kh, kw))  # fmt: skip
    if n.attrs.get("activation") == "RELU":
        relu = r.fresh(f"{y}__relu")
        r.add("Relu", [conv_out], [(relu, "float32", ys)])
        conv_out = relu
    r.q(conv_out, y, ys)


def _weights(r: _Rewriter, name: str, w: np.ndarray, ws: np.ndarray, axis: int) -> str:
    codes = r.const(name, w.astype(np.int8))
    scale = ws if ws.size > 1 else ws.reshape(())
    sn = r.const("ws", scale.astype(np.float32))
    zn = r.const("wz", np.zeros(scale.shape, np.int8))
    out = r.fresh(f"{name}__dq")
    attrs = {"axis": axis} if ws.size > 1 else {}
    r.add("DequantizeLinear", [codes, sn, zn], [(out, "float32", w.shape)], **attrs)
    return out


def _bias(r: _Rewriter, name: str, sx: float, ws: np.ndarray, n: int) -> str:
    b = np.asarray(r.src.initializers[name]).astype(np.int32).reshape(n)
    scale = (np.float32(sx) * ws.astype(np.float32)).astype(np.float32)
    scale = scale if scale.size > 1 else scale.reshape(())
    codes = r.const(name, b)
    sn = r.const("bs", np.broadcast_to(scale, (n,)).astype(np.float32))
    zn = r.const("bz", np.zeros(n, np.int32))
    out = r.fresh(f"{name}__dq")
    r.add("DequantizeLinear", [codes, sn, zn], [(out, "float32", (n,))], axis=0)
    return out


def _to_plain(r: _Rewriter, t: str) -> str:
    """Float view of a source tensor in NHWC element order: a DQ, then for a 4-D tensor a
    Reshape when NCHW order is the same, else a Transpose done on the codes."""
    shape = r.src.tensors[t].shape
    if len(shape) != 4:
        return r.dq(t)
    nhwc = tuple(int(d or 1) for d in shape)
    stored = r.stored_shape(t)
    f = r.dq(t)
    out = r.fresh(f"{t}__nhwc")
    if [d for d in nhwc[1:] if d > 1] == [d for d in stored[1:] if d > 1]:
        shp = r.const("shape", np.array(nhwc, np.int64))
        r.add("Reshape", [f, shp], [(out, "float32", nhwc)])
        return out
    r.add("Transpose", [f], [(out, "float32", nhwc)], perm=NCHW_TO_NHWC)
    qp = r.qp(t)
    tmp = f"{t}#nhwc"
    r.q(out, tmp, nhwc, qp, r.src.tensors[t].dtype)
    return r.dq(tmp, qp)


def _from_plain(r: _Rewriter, f: str, t: str) -> None:
    """Quantize float ``f`` (NHWC element order, shape of ``t``) to ``t``'s stored codes."""
    shape = tuple(int(d or 1) for d in r.src.tensors[t].shape)
    if len(shape) != 4:
        r.q(f, t, shape)
        return
    stored = r.stored_shape(t)
    out = r.fresh(f"{t}__nchw")
    if [d for d in shape[1:] if d > 1] == [d for d in stored[1:] if d > 1]:
        shp = r.const("shape", np.array(stored, np.int64))
        r.add("Reshape", [f, shp], [(out, "float32", stored)])
    else:
        r.add("Transpose", [f], [(out, "float32", stored)], perm=NHWC_TO_NCHW)
    r.q(out, t, stored)


def _fully_connected(r: _Rewriter, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    if n.attrs.get("activation", "NONE") not in _ACTS:
        raise ModelError(f"node {n.name!r}: activation {n.attrs['activation']} has no C pattern")
    w = np.asarray(r.src.initializers[n.inputs[1]])
    ws = np.asarray(n.attrs["w_scale"], np.float32)
    sx, sy = float(n.attrs["x_scale"]), float(n.attrs["y_scale"])
    ws, sy_gen = _fc_scales(n, sx, ws, sy)
    f = _to_plain(r, x)
    rows = int(np.prod(_dims(r.src.tensors[x].shape))) // w.shape[1]
    flat = r.fresh(f"{x}__rows")
    r.add("Reshape", [f, r.const("shape", np.array([rows, w.shape[1]], np.int64))],
          [(flat, "float32", (rows, w.shape[1]))])  # fmt: skip
    args = [flat, _weights(r, n.inputs[1], w, ws, axis=0)]
    if len(n.inputs) > 2 and n.inputs[2]:
        args.append(_bias(r, n.inputs[2], sx, np.asarray(n.attrs["w_scale"], np.float32),
                          w.shape[0]))  # fmt: skip
    out = r.fresh(f"{y}__f")
    r.add("Gemm", args, [(out, "float32", (rows, w.shape[0]))], transB=1)
    if n.attrs.get("activation") == "RELU":
        relu = r.fresh(f"{y}__relu")
        r.add("Relu", [out], [(relu, "float32", (rows, w.shape[0]))])
        out = relu
    yshape = tuple(int(d or 1) for d in r.src.tensors[y].shape)
    if yshape != (rows, w.shape[0]):
        shaped = r.fresh(f"{y}__shaped")
        r.add("Reshape", [out, r.const("shape", np.array(yshape, np.int64))],
              [(shaped, "float32", yshape)])  # fmt: skip
        out = shaped
    if len(r.src.tensors[y].shape) == 4:
        raise ModelError(f"node {n.name!r}: a 4-D FULLY_CONNECTED output has no C pattern")
    r.q(out, y, yshape, (sy_gen, r.qp(y)[1]))


def _fc_scales(n: Node, sx: float, ws: np.ndarray, sy: float) -> tuple[np.ndarray, float]:
    """Weight and output scales for which the C generator's multiplier ``double(s_x) * s_w /
    s_y`` quantizes to TFLite's FULLY_CONNECTED multiplier ``float32(s_x * s_w) / s_y``.

    They usually differ by a few dozen units of M0. The rewrite then uses the nearest float32
    neighbours of ``s_w`` and ``s_y`` (up to 256 ulps each) that give TFLite's exact ``(M0,
    shift)``: these scales only feed that multiplier; every other use keeps the file's scales.
    """
    sx64 = float(np.float32(sx))
    target = [quantize_multiplier(float(np.float32(sx) * s) / float(np.float32(sy))) for s in ws]
    gen = [quantize_multiplier(sx64 * float(s) / float(np.float32(sy))) for s in ws]
    if gen == target:
        return ws, sy
    if ws.size != 1:
        raise ModelError(f"node {n.name!r}: per-channel FULLY_CONNECTED multipliers differ "
                         "from the C generator's; cannot lower it bit-exactly")  # fmt: skip
    k = 256
    steps = np.arange(-k, k + 1, dtype=np.int32)
    wsn = (np.float32(ws.reshape(-1)[0]).view(np.int32) + steps).view(np.float32)
    syn = (np.float32(sy).view(np.int32) + steps).view(np.float32)
    m = sx64 * wsn.astype(np.float64)[:, None] / syn.astype(np.float64)[None, :]
    frac, exp = np.frexp(m)
    m0, shift = target[0]
    hits = np.argwhere((np.floor(frac * 2.0**31 + 0.5) == m0) & (exp == shift)
                       & ((frac * 2.0**31) % 1 != 0.5))  # fmt: skip
    if len(hits) == 0:
        raise ModelError(f"node {n.name!r}: TFLite's FULLY_CONNECTED multiplier cannot be "
                         "expressed for the C generator; cannot lower it bit-exactly")  # fmt: skip
    i, j = min(hits.tolist(), key=lambda ij: abs(ij[0] - k) + abs(ij[1] - k))
    return np.array([wsn[i]], np.float32), float(syn[j])


def _table_check(n: Node, want: np.ndarray, sx: float, zx: int, sy: float, zy: int,
                 dtype: str, sigmoid: bool) -> None:  # fmt: skip
    codes = np.arange(-128, 128, dtype=np.int64)
    v = (np.float32(sx) * (codes - zx).astype(np.float32)).astype(np.float32)
    if sigmoid:
        v = (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(np.float32)
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    got = np.clip(np.rint(v / np.float32(sy)) + zy, lo, hi).astype(dtype)
    bad = int(np.count_nonzero(got != want))
    if bad:
        raise ModelError(
            f"node {n.name!r} ({n.op}): the C generator's table differs from TFLite's integer "
            f"kernel on {bad} of 256 codes; cannot lower it bit-exactly"
        )


def _logistic(r: _Rewriter, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (sx, zx), (sy, zy) = r.qp(x), r.qp(y)
    want = logistic_int8(np.arange(-128, 128), sx, zx)
    _table_check(n, want, sx, zx, sy, zy, "int8", sigmoid=True)
    f = r.dq(x)
    out = r.fresh(f"{y}__f")
    r.add("Sigmoid", [f], [(out, "float32", r.stored_shape(x))])
    r.q(out, y, r.stored_shape(y))


def _quantize(r: _Rewriter, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    if r.src.tensors[x].dtype != "int8":
        raise ModelError(f"node {n.name!r}: QUANTIZE from {r.src.tensors[x].dtype} has no pattern")
    (sx, zx), (sy, zy) = r.qp(x), r.qp(y)
    dt = r.src.tensors[y].dtype
    m0, sh = quantize_multiplier(sx / sy)
    codes = np.arange(-128, 128, dtype=np.int64)
    info = np.iinfo(dt)
    want = np.clip(multiply_by_quantized_multiplier(codes - zx, m0, sh) + zy, info.min, info.max)
    _table_check(n, want.astype(dt), sx, zx, sy, zy, dt, sigmoid=False)
    r.q(r.dq(x), y, r.stored_shape(y))


def _move(r: _Rewriter, n: Node) -> None:
    """Concat / Split / Slice on codes (equal parameters in and out), axes in NCHW."""
    data = list(n.inputs) if n.op == "Concat" else [n.inputs[0]]
    qps = {r.qp(t) for t in data} | {r.qp(t) for t in n.outputs if t}
    if len(qps) != 1:
        raise ModelError(f"node {n.name!r} ({n.op}): inputs and outputs quantized differently")
    ins = [r.dq(t) for t in data]
    attrs: dict[str, Any] = {}
    if n.op in ("Concat", "Split"):
        attrs["axis"] = _axis(r, n.inputs[0], int(n.attrs.get("axis", 0)))
        if n.op == "Split":
            ins.append(r.const("split", r.src.initializers[n.inputs[1]]))
    else:  # Slice: starts, ends, axes, steps constants
        consts = [np.asarray(r.src.initializers[t]) for t in n.inputs[1:5]]
        axes = np.array([_axis(r, n.inputs[0], int(a)) for a in consts[2]], np.int64)
        ins += [r.const("starts", consts[0]), r.const("ends", consts[1]), r.const("axes", axes),
                r.const("steps", consts[3])]  # fmt: skip
    outs = [(r.fresh(f"{t}__f"), "float32", r.stored_shape(t)) for t in n.outputs]
    r.add(n.op, ins, outs, **attrs)
    for (f, _, shape), t in zip(outs, n.outputs, strict=True):
        r.q(f, t, shape)


def _reshape(r: _Rewriter, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    f = _to_plain(r, x)
    shape = tuple(int(d or 1) for d in r.src.tensors[y].shape)
    out = r.fresh(f"{y}__f")
    r.add("Reshape", [f, r.const("shape", np.array(shape, np.int64))],
          [(out, "float32", shape)])  # fmt: skip
    _from_plain(r, out, y)


_RULES = {
    "tflite.Conv2D": _conv, "tflite.DepthwiseConv2D": _conv,
    "tflite.FullyConnected": _fully_connected, "tflite.Logistic": _logistic,
    "tflite.Quantize": _quantize, "Concat": _move, "Split": _move, "Slice": _move,
    "Reshape": _reshape,
}  # fmt: skip


def _final_shift(graph: Graph) -> Node | None:
    """The last node if it is an int8 -> uint8 QUANTIZE of equal scale (``y = x + 128``)."""
    out = graph.outputs[0].name
    n = graph.producer(out)
    if n is None or n.op != "tflite.Quantize" or graph.tensors[out].dtype != "uint8":
        return None
    sx, zx = n.attrs.get("x_scale"), n.attrs.get("x_zero_point")
    if sx != n.attrs["y_scale"] or zx is None or int(n.attrs["y_zero_point"]) - int(zx) != 128:
        return None
    return n


def packed_layout(graph: Graph) -> dict[str, Any]:
    """Sizes of the packed input and output: data first, then each state in ``state_vars``
    order, stored NCHW for 4-D states."""
    states = state_vars(graph)
    data_in = [t for t in graph.inputs if not t.name.startswith("state.")]
    x = int(np.prod([d or 1 for d in data_in[0].shape]))
    y = int(np.prod([d or 1 for d in graph.outputs[0].shape]))
    sizes = [v.input.nbytes(1) // v.input.itemsize for v in states]
    return {"x": x, "y": y, "states": [v.name for v in states], "state_sizes": sizes,
            "in": x + sum(sizes), "out": y + sum(sizes)}  # fmt: skip


def to_qdq(graph: Graph, pack_state: bool = False) -> Graph:
    """The QDQ/NCHW form of an imported int8 TFLite graph (see the module docstring)."""
    r = _Rewriter(graph)
    states = state_vars(graph)
    skip = _final_shift(graph) if pack_state else None
    inputs: list[TensorInfo] = []
    one = (1.0, 0)
    if pack_state:
        lay = packed_layout(graph)
        packed = TensorInfo("packed_in", "int8", (1, lay["in"]))
        r.tensors[packed.name] = packed
        inputs.append(packed)
        pieces = [graph.inputs[0].name, *(v.input.name for v in states)]
        r.codes["packed_in"] = "packed_in"
        start = 0
        for t in pieces:
            size = int(np.prod(r.stored_shape(t)))
            f = r.dq("packed_in", one)
            sl = r.fresh(f"{t}__slice")
            r.add("Slice", [f, r.const("starts", np.array([start], np.int64)),
                            r.const("ends", np.array([start + size], np.int64)),
                            r.const("axes", np.array([1], np.int64))],
                  [(sl, "float32", (1, size))])  # fmt: skip
            r.q(sl, t, (1, size), one, "int8")  # Slice -> Q: a copy of the codes
            _view(r, t, r.stored_shape(t))
            start += size
    else:
        for gi in graph.inputs:
            stored = TensorInfo(gi.name, gi.dtype, r.stored_shape(gi.name), gi.quant)
            r.tensors[gi.name] = stored
            r.codes[gi.name] = gi.name
            inputs.append(stored)
    for n in graph.nodes:
        if n is skip:
            continue
        if n.op == "Identity":
            r.codes[n.outputs[0]] = r.codes[n.inputs[0]]
            continue
        rule = _RULES.get(n.op)
        if rule is None or (n.op.startswith("tflite.") and "x_scale" not in n.attrs):
            raise ModelError(f"node {n.name!r} ({n.op}) has no int8 C pattern")
        rule(r, n)
    return _finish(r, graph, states, skip, inputs, pack_state)


def _finish(r: _Rewriter, graph: Graph, states: tuple[Any, ...], skip: Node | None,
            inputs: list[TensorInfo], pack: bool) -> Graph:  # fmt: skip
    outputs: list[TensorInfo] = []
    y = skip.inputs[0] if skip is not None else graph.outputs[0].name
    if pack:
        parts = []
        for t in [y, *(v.output for v in states)]:
            r.codes[f"{t}#packed"] = r.codes[t]
            size = int(np.prod(r.shape(r.codes[t])))
            _view(r, f"{t}#packed", (1, size))
            parts.append(_dq_raw(r, r.codes[f"{t}#packed"]))
        cat = r.fresh("packed__f")
        total = sum(int(np.prod(r.shape(p))) for p in parts)
        r.add("Concat", parts, [(cat, "float32", (1, total))], axis=1)
        sn = r.const("s", np.array(1.0, np.float32))
        zn = r.const("z", np.array(0, np.int8))
        r.add("QuantizeLinear", [cat, sn, zn], [("packed_out", "int8", (1, total))])
        outputs.append(r.tensors["packed_out"])
    else:
        for t in graph.outputs:
            name = r.codes[t.name]
            info = r.tensors[name]
            final = TensorInfo(t.name, info.dtype, info.shape, t.quant)
            if name != t.name:
                r.add("Identity", [name], [(t.name, info.dtype, r.shape(name))])
            r.tensors[t.name] = final
            outputs.append(final)
        for v in states:
            init = np.asarray(graph.initializers[v.init])
            stored = init.transpose(NHWC_TO_NCHW) if init.ndim == 4 else init
            r.inits[v.input.name + INIT_SUFFIX] = _ro(stored)
            r.tensors[v.input.name + INIT_SUFFIX] = TensorInfo(
                v.input.name + INIT_SUFFIX, stored.dtype.name, stored.shape
            )
    return Graph(graph.name, tuple(inputs), tuple(outputs), tuple(r.nodes),
                 MappingProxyType(r.inits), MappingProxyType(r.tensors), graph.opset)  # fmt: skip


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a).copy()
    a.flags.writeable = False
    return a


def _view(r: _Rewriter, t: str, shape: tuple[int, ...]) -> None:
    """Reshape the codes of ``t`` as DQ -> Reshape -> Q with scale 1 (an alias in C)."""
    f = _dq_raw(r, r.codes[t])
    out = r.fresh(f"{t}__view")
    r.add("Reshape", [f, r.const("shape", np.array(shape, np.int64))],
          [(out, "float32", shape)])  # fmt: skip
    r.q(out, t, shape, (1.0, 0), "int8")


def _dq_raw(r: _Rewriter, codes: str) -> str:
    out = r.fresh(f"{codes}__dq")
    sn = r.const("s", np.array(1.0, np.float32))
    zn = r.const("z", np.array(0, np.int8))
    r.add("DequantizeLinear", [codes, sn, zn], [(out, "float32", r.shape(codes))])
    return out


def _packed_rows(graph: Graph, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from edgeslim.ir._stream import Stream

    x_info = graph.inputs[0]
    frames = np.asarray(frames)
    size = int(np.prod(_dims(x_info.shape)))
    if frames.ndim < 1 or frames.size != len(frames) * size:
        raise ModelError(
            f"frames for {graph.name!r} must be (n, {size}) codes; got shape {frames.shape}"
        )
    stream = Stream(graph)
    skip = _final_shift(graph) is not None

    def states() -> list[np.ndarray]:
        out = []
        for v in stream.vars:
            s = stream.state[v.input.name]
            out.append((s.transpose(NHWC_TO_NCHW) if s.ndim == 4 else s).reshape(-1))
        return out

    ins, outs = [], []
    for f in frames.reshape(len(frames), *_dims(x_info.shape)):
        codes = np.clip(np.rint(f), -128, 127).astype(x_info.dtype)
        ins.append(np.concatenate([codes.reshape(-1), *states()]))
        y = stream(codes)
        y = (y.astype(np.int16) - 128).astype(np.int8) if skip else y
        outs.append(np.concatenate([y.reshape(-1), *states()]))
    return np.stack(ins), np.stack(outs)


def packed_inputs(graph: Graph, frames: np.ndarray) -> np.ndarray:
    """Packed inputs of ``to_qdq(graph, pack_state=True)`` for a stream of ``frames``: each
    frame followed by the state the model holds when it arrives (computed by :class:`Stream`
    from the init values, frame after frame). ``frames`` is ``(n, frame values)`` codes."""
    return _packed_rows(graph, frames)[0]


def packed_outputs(graph: Graph, frames: np.ndarray) -> np.ndarray:
    """The packed outputs the generated C must give for :func:`packed_inputs` (the reference:
    the interpreter's output code, then every new state)."""
    return _packed_rows(graph, frames)[1]
