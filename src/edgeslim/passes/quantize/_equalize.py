"""Cross-layer equalization (CLE, Nagel et al. 2019, "Data-Free Quantization") of a float ONNX
graph, before static quantization.

Two consecutive linear layers ``A`` (Conv or Gemm) and ``B`` joined by a chain of
positive-homogeneous ops (``Relu``, ``MaxPool``, averaging pools, ``Flatten`` into a Gemm) compute
the same function when output channel ``i`` of ``A`` (its weights and bias) is divided by
``s_i > 0`` and the weights reading channel ``i`` in ``B`` are multiplied by ``s_i``. With
``s_i = sqrt(r_A,i / r_B,i)`` (``r`` = max |weight| of the channel) both channels end with the
range ``sqrt(r_A,i * r_B,i)``, which is what per-tensor weight quantization wants: one scale
then fits every channel. Depthwise convolutions (``group`` = channels) work as ``A`` and as
``B`` (their channel ``i`` reads only channel ``i``), so a depthwise-separable block equalizes
stem -> depthwise -> pointwise -> depthwise ... as a chain; pairs are swept until the scales
settle. BatchNorm is already folded into the convolutions by the exporter (the graph has no BN
left). Grouped convolutions with 1 < group < channels, and any chain whose intermediate tensor
has another consumer, are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

_HOMOGENEOUS = ("Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Identity", "Dropout")


@dataclass(frozen=True, slots=True)
class _Pair:
    a: onnx.NodeProto
    b: onnx.NodeProto
    spatial: int  # >0: B is a Gemm after Flatten; channel i is columns i*spatial:(i+1)*spatial


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def _channels_out(node: onnx.NodeProto, w: np.ndarray) -> int:
    if node.op_type == "Gemm":
        return int(w.shape[0] if _attr(node, "transB", 0) else w.shape[1])
    return int(w.shape[0])


def _depthwise(node: onnx.NodeProto, w: np.ndarray) -> bool:
    return node.op_type == "Conv" and _attr(node, "group", 1) == w.shape[0] and w.shape[1] == 1


def _usable(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> bool:
    if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2:
        return False
    if node.input[1] not in inits or (len(node.input) > 2 and node.input[2] not in inits):
        return False
    w = inits[node.input[1]]
    if node.op_type == "Gemm":
        return _attr(node, "transA", 0) == 0 and w.ndim == 2
    group = _attr(node, "group", 1)
    return group == 1 or _depthwise(node, w)


def find_pairs(model: onnx.ModelProto) -> list[_Pair]:
    """Consecutive (A, B) linear layers whose channels can be rescaled against each other."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    cons: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for t in node.input:
            cons.setdefault(t, []).append(node)
    outputs = {o.name for o in model.graph.output}
    shapes = _spatial_sizes(model)
    pairs = []
    for a in model.graph.node:
        if not _usable(a, inits):
            continue
        t, flatten = a.output[0], False
        while t not in outputs and len(cons.get(t, [])) == 1:
            nxt = cons[t][0]
            if nxt.op_type in _HOMOGENEOUS or (nxt.op_type == "Flatten" and a.op_type == "Conv"):
                flatten = flatten or nxt.op_type == "Flatten"
                t = nxt.output[0]
                continue
            if _usable(nxt, inits) and nxt.input[0] == t and nxt.input[1] != a.input[1]:
                spatial = shapes.get(nxt.input[0], 0) if flatten else 0
                if _compatible(a, nxt, inits, flatten, spatial):
                    pairs.append(_Pair(a, nxt, spatial))
            break
    return pairs


def _spatial_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """Flatten outputs -> values per channel (from ONNX shape inference of the Flatten input)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is a best effort here
        return {}
    dims = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input):
        d = [x.dim_value for x in vi.type.tensor_type.shape.dim]
        dims[vi.name] = d
    out = {}
    for node in model.graph.node:
        if node.op_type == "Flatten":
            d = dims.get(node.input[0], [])
            if len(d) >= 2 and all(v > 0 for v in d[2:]):
                out[node.output[0]] = int(np.prod(d[2:])) if len(d) > 2 else 1
    return out


def _compatible(
    a: onnx.NodeProto, b: onnx.NodeProto, inits: dict[str, np.ndarray], flatten: bool, sp: int
) -> bool:
    n = _channels_out(a, inits[a.input[1]])
    wb = inits[b.input[1]]
    if b.op_type == "Conv":
        return not flatten and (wb.shape[0] if _depthwise(b, wb) else wb.shape[1]) == n
    k = wb.shape[1] if _attr(b, "transB", 0) else wb.shape[0]
    return (sp * n == k) if flatten else k == n


def _out_view(node: onnx.NodeProto, w: np.ndarray) -> np.ndarray:
    """``w`` with output channels on axis 0."""
    return w.T if node.op_type == "Gemm" and not _attr(node, "transB", 0) else w


def _in_ranges(pair: _Pair, wb: np.ndarray, n: int) -> np.ndarray:
    b = pair.b
    if b.op_type == "Conv":
        v = wb if _depthwise(b, wb) else np.swapaxes(wb, 0, 1)
        return np.abs(v.reshape(n, -1)).max(axis=1)
    cols = wb if _attr(b, "transB", 0) else wb.T  # (out, in)
    per = max(pair.spatial, 1)
    return np.abs(cols.reshape(cols.shape[0], n, per)).max(axis=(0, 2))


def _scale_in(pair: _Pair, wb: np.ndarray, s: np.ndarray) -> np.ndarray:
    b, n = pair.b, len(s)
    if b.op_type == "Conv":
        shape = (n, 1) if _depthwise(b, wb) else (1, n)
        return wb * s.reshape(shape + (1,) * (wb.ndim - 2))
    per = max(pair.spatial, 1)
    cols = np.repeat(s, per)
    return wb * (cols[None, :] if _attr(b, "transB", 0) else cols[:, None])


def equalize(
    model: onnx.ModelProto, *, sweeps: int = 20, tol: float = 1e-3
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """A copy of ``model`` with every equalizable pair rescaled (see module docstring), and a
    record: the pairs and, per pair, the ratio of largest to smallest channel range of A before
    and after."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    pairs = find_pairs(m)
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    spread_before = [_spread(p, inits) for p in pairs]
    for _ in range(sweeps):
        change = 0.0
        for p in pairs:
            wa, wb = inits[p.a.input[1]], inits[p.b.input[1]]
            ua = _out_view(p.a, wa)
            n = ua.shape[0]
            ra = np.abs(ua.reshape(n, -1)).max(axis=1)
            rb = _in_ranges(p, wb, n)
            ok = (ra > 0) & (rb > 0)
            s = np.ones(n)
            s[ok] = np.sqrt(ra[ok] / rb[ok])
            change = max(change, float(np.abs(np.log(s)).max(initial=0.0)))
            ua = ua / s.reshape((-1,) + (1,) * (ua.ndim - 1))
            inits[p.a.input[1]] = _out_view(p.a, ua)
            if len(p.a.input) > 2:
                inits[p.a.input[2]] = inits[p.a.input[2]] / s
            inits[p.b.input[1]] = _scale_in(p, wb, s)
        if change < tol:
            break
    touched = {t for p in pairs for t in (*p.a.input[1:3], p.b.input[1])}
    for init in m.graph.initializer:
        if init.name in touched:
            dtype = numpy_helper.to_array(init).dtype
            init.CopyFrom(numpy_helper.from_array(inits[init.name].astype(dtype), init.name))
    record = {
        "pairs": [
            {"a": p.a.name or p.a.output[0], "b": p.b.name or p.b.output[0], "spread": [s0, s1]}
            for p, s0, s1 in zip(
                pairs, spread_before, [_spread(p, inits) for p in pairs], strict=True
            )
        ]
    }
    return m, record


def _spread(p: _Pair, inits: dict[str, np.ndarray]) -> float:
    ua = _out_view(p.a, inits[p.a.input[1]])
    r = np.abs(ua.reshape(ua.shape[0], -1)).max(axis=1)
    return float(r.max() / max(r.min(), 1e-12))
