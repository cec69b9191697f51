"""Static int8 quantization of a float ONNX graph into QDQ form, with edgeslim's observers.

The rewrite follows the common integer convention (ARCHITECTURE decision 2): weights of
``Conv``/``Gemm``/``MatMul`` per output channel (or per tensor), symmetric, int8 by default;
activations asymmetric int8 (or symmetric); bias int32 with ``scale = s_x * s_w`` and zero point
0. The ``i``-th quantized activation ``t`` becomes ``t -> QuantizeLinear -> a{i}_q ->
DequantizeLinear -> a{i}_dq`` and its consumers read ``a{i}_dq``; a quantized weight ``w``
becomes the initializer ``w_q`` (scale ``w_s``, zero point ``w_z``) and a ``DequantizeLinear``
whose *output keeps the name* ``w`` (so
:func:`edgeslim.measure.quantization_error_bound` can pair it with the float weight). A
``Relu`` that is the only consumer of a quantized op's output is absorbed (the output is
quantized after it); pass-through ops (MaxPool, Flatten, Reshape, ...) share their input's
quantization parameters, so integer kernels can run them on codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeslim._core.errors import ModelError
from edgeslim.passes.quantize._observers import QParams, qparams

QUANT_OPS = ("Conv", "Gemm", "MatMul")
PASSTHROUGH = ("MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity")
_NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16}
_ONNX = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int4": TensorProto.INT4}
_ONNX |= {"uint4": TensorProto.UINT4, "int16": TensorProto.INT16}


@dataclass(frozen=True, slots=True)
class StaticConfig:
    """What static quantization does; checked by the pass that builds it."""

    per_channel: bool = True
    symmetric_activations: bool = False
    calibrator: str = "minmax"
    percentile: float = 99.99
    weight_dtype: str = "int8"
    activation_dtype: str = "int8"
    quantize_output: bool = True
    equalize: bool = False  # cross-layer equalization before calibration (see ._equalize)
    bias_correction: bool = False  # empirical per-channel bias correction (see ._biascorr)


@dataclass(frozen=True, slots=True)
class Plan:
    """Where quantization goes: the nodes with quantized weights and the activation points."""

    nodes: tuple[str, ...]  # node names (made unique) of Conv/Gemm/MatMul with a constant weight
    points: tuple[str, ...]  # activation tensors that get Q/DQ, in graph order
    shared: tuple[tuple[str, str], ...]  # (tensor, tensor whose qparams it reuses)


def _name_nodes(model: onnx.ModelProto) -> None:
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for t in node.input:
            out.setdefault(t, []).append(node)
    return out


def weight_axis(node: onnx.NodeProto) -> int:
    """Output-channel axis of the weight (input 1) of a Conv, Gemm or MatMul node."""
    if node.op_type == "Gemm":
        trans = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans else 1
    return 0 if node.op_type == "Conv" else 1


def plan(model: onnx.ModelProto, *, quantize_output: bool = True) -> Plan:
    """Choose the quantized nodes and activation points of ``model`` (node names are fixed)."""
    _name_nodes(model)
    inits = {i.name for i in model.graph.initializer}
    cons = _consumers(model)
    outputs = {o.name for o in model.graph.output}
    nodes, points = [], []
    for node in model.graph.node:
        if node.op_type not in QUANT_OPS or len(node.input) < 2 or node.input[1] not in inits:
            continue
        nodes.append(node.name)
        points.append(node.input[0])
        out = node.output[0]
        after = cons.get(out, [])
        if len(after) == 1 and after[0].op_type == "Relu" and out not in outputs:
            out = after[0].output[0]
        if out not in outputs or quantize_output:
            points.append(out)
    producer = {o: n for n in model.graph.node for o in n.output}
    chosen = _close_passthrough(list(dict.fromkeys(points)), producer)
    shared = []
    for t in chosen:
        src = producer.get(t)
        if src is not None and src.op_type in PASSTHROUGH and src.input[0] in chosen:
            shared.append((t, src.input[0]))
    return Plan(tuple(nodes), tuple(chosen), tuple(shared))


def _close_passthrough(points: list[str], producer: dict[str, onnx.NodeProto]) -> list[str]:
    """Add the tensors of pass-through chains between two points (Relu -> MaxPool -> Flatten ->
    Gemm quantizes the MaxPool output too), so every pass-through op runs between a DQ and a Q.
    onnxruntime (1.32, opset >= 21) otherwise inserts such a Q itself with mismatched types."""
    chosen = set(points)
    order: dict[str, float] = {t: float(i) for i, t in enumerate(points)}
    for t in list(points):
        chain, src = [], producer.get(t)
        while src is not None and src.op_type in PASSTHROUGH and src.input[0] not in chosen:
            chain.append(src.input[0])
            src = producer.get(src.input[0])
        if src is not None and src.op_type in PASSTHROUGH and chain:
            for depth, c in enumerate(chain):  # walking backwards: deeper comes first
                chosen.add(c)
                order[c] = order[t] - 0.5 - depth / (2 * len(chain) + 2)
    return sorted(chosen, key=lambda c: order[c])


def _with_outputs(model: onnx.ModelProto, names: Iterable[str]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    return m


def run_tensors(
    model: onnx.ModelProto, names: Sequence[str], batches: Iterable[np.ndarray]
) -> Iterable[dict[str, np.ndarray]]:
    """Yield the float values of tensors ``names`` for each input batch (onnxruntime)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    m = _with_outputs(model, names)
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    for x in batches:
        vals = sess.run(list(names), {inp: np.asarray(x, np.float32)})
        yield dict(zip(names, vals, strict=True))


def calibrate(
    model: onnx.ModelProto,
    points: Sequence[str],
    batches: Iterable[np.ndarray],
    make: Callable[[], Any],
) -> dict[str, tuple[float, float]]:
    """Observe every point over ``batches``, then compute its range (observe, then compute)."""
    observers = {p: make() for p in points}
    for values in run_tensors(model, points, batches):
        for p, v in values.items():
            observers[p].observe(v)
    return {p: observers[p].compute_range() for p in points}


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _qdq_nodes(
    base: str, src: str, qp: QParams, out: str
) -> tuple[list[onnx.NodeProto], list[Any]]:
    """``src -> Q -> base_q -> DQ -> out`` with scale ``base_s`` and zero point ``base_z``."""
    scale = _init(f"{base}_s", qp.scale.reshape(()).astype(np.float32))
    zp = helper.make_tensor(f"{base}_z", _ONNX[qp.dtype], [], [int(qp.zero_point.reshape(()))])
    q = helper.make_node(
        "QuantizeLinear", [src, scale.name, zp.name], [f"{base}_q"], name=f"{base}_Q"
    )
    dq = helper.make_node(
        "DequantizeLinear", [f"{base}_q", scale.name, zp.name], [out], name=f"{base}_DQ"
    )
    return [q, dq], [scale, zp]


def quantize_weight(
    w: np.ndarray, dtype: str, axis: int | None, scale: np.ndarray | None = None
) -> tuple[np.ndarray, QParams]:
    """Symmetric quantization of ``w`` per channel along ``axis`` (or per tensor if None);
    ``scale`` (learned by QAT) replaces the min/max scale."""
    if scale is not None:
        qp0 = qparams(np.asarray(-1.0), np.asarray(1.0), dtype, symmetric=True)
        qp = QParams(np.asarray(scale, np.float32), np.zeros(np.shape(scale), np.int64), dtype)
        shape = [1] * w.ndim
        if axis is not None and qp.scale.ndim == 1:
            shape[axis] = -1
        half = (qp0.qmax - qp0.qmin) // 2
        q = np.clip(np.rint(w.astype(np.float32) / qp.scale.reshape(shape)), -half, half)
        return q.astype(np.int64), qp
    if axis is None:
        lo, hi = np.asarray(w.min()), np.asarray(w.max())
    else:
        red = tuple(i for i in range(w.ndim) if i != axis)
        lo, hi = w.min(axis=red), w.max(axis=red)
    qp = qparams(lo, hi, dtype, symmetric=True)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    s = qp.scale.reshape(shape)
    q = np.clip(np.rint(w.astype(np.float32) / s), qp.qmin, qp.qmax)
    return q.astype(np.int64), qp


def _weight_tensors(
    name: str, q: np.ndarray, qp: QParams, axis: int | None
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """Initializers and the DequantizeLinear (output ``name``) of a quantized constant."""
    from edgeslim.passes.quantize._weights import packed_tensor

    if qp.dtype == "int32":
        qt = _init(f"{name}_q", q.astype(np.int32))
        zp_dt = TensorProto.INT32
    else:  # raw bytes (int4 two to a byte): a list would be stored as varints
        qt = packed_tensor(f"{name}_q", q, qp.dtype)
        zp_dt = _ONNX[qp.dtype]
    per_axis = axis is not None and qp.scale.ndim == 1
    scale = _init(f"{name}_s", qp.scale.astype(np.float32))
    zp_vals = np.zeros(qp.scale.shape, np.int64)
    zp = helper.make_tensor(f"{name}_z", zp_dt, list(zp_vals.shape), zp_vals.ravel().tolist())
    attrs: dict[str, Any] = {"axis": axis} if per_axis else {}
    dq = helper.make_node(
        "DequantizeLinear", [qt.name, scale.name, zp.name], [name], name=f"{name}_DQ", **attrs
    )
    return dq, [qt, scale, zp]


def act_qparams(
    ranges: dict[str, tuple[float, float]],
    p: Plan,
    config: StaticConfig,
    overrides: dict[str, tuple[float, float]] | None = None,
) -> dict[str, QParams]:
    """Quantization parameters of every activation point (shared ones copied). ``overrides``
    (learned ranges from QAT) replace calibrated ones, and also the ranges of the tensors a
    shared point copies from (pass-through ops commute with quantization)."""
    ranges = dict(ranges)
    source = dict(p.shared)
    for t, rng in (overrides or {}).items():
        cur: str | None = t
        while cur is not None:
            ranges[cur] = rng
            cur = source.get(cur)
    out = {}
    for t in p.points:
        lo, hi = ranges[t]
        out[t] = qparams(
            np.asarray(lo),
            np.asarray(hi),
            config.activation_dtype,
            symmetric=config.symmetric_activations,
        )
    for t, src in p.shared:
        out[t] = out[src]
    return out


def rewrite(
    model: onnx.ModelProto,
    p: Plan,
    acts: dict[str, QParams],
    weight_dtypes: dict[str, str],
    per_channel: bool,
    weight_scales: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """The QDQ model: Q/DQ at every activation point, quantized weights and int32 biases."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    new_inits: list[onnx.TensorProto] = []
    weight_dq: list[onnx.NodeProto] = []
    drop: set[str] = set()
    for node in g.node:
        if node.name not in p.nodes:
            continue
        axis = weight_axis(node) if per_channel else None
        w = inits[node.input[1]].astype(np.float32)
        learned = (weight_scales or {}).get(node.name)
        q, wqp = quantize_weight(w, weight_dtypes.get(node.name, "int8"), axis, learned)
        dq, ts = _weight_tensors(node.input[1], q, wqp, axis)
        weight_dq.append(dq)
        new_inits += ts
        drop.add(node.input[1])
        if len(node.input) > 2 and node.input[2] in inits and node.input[2] not in drop:
            bscale = (acts[node.input[0]].scale.reshape(()) * wqp.scale).astype(np.float32)
            b = inits[node.input[2]].astype(np.float32)
            bq = np.rint(b / np.broadcast_to(bscale, b.shape)).astype(np.int64)
            bqp = QParams(np.broadcast_to(bscale, b.shape).copy(), np.zeros(1, np.int64), "int32")
            dq, ts = _weight_tensors(node.input[2], bq, bqp, 0)
            weight_dq.append(dq)
            new_inits += ts
            drop.add(node.input[2])
    _insert_activation_qdq(g, acts, p)
    kept = [i for i in g.initializer if i.name not in drop]
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(weight_dq + nodes)
    _sort_topologically(g)
    return m


def _insert_activation_qdq(g: onnx.GraphProto, acts: dict[str, QParams], p: Plan) -> None:
    """Activation point ``i`` gets tensors ``a{i}_q`` (codes) and ``a{i}_dq`` (dequantized)."""
    outputs = {o.name for o in g.output}
    extra_nodes: list[onnx.NodeProto] = []
    for i, t in enumerate(p.points):
        base = f"a{i}"
        if t in outputs:  # keep the graph output's name: the float value is renamed
            src = f"{base}_f"
            for node in g.node:
                node.output[:] = [src if o == t else o for o in node.output]
            nodes, inits = _qdq_nodes(base, src, acts[t], t)
        else:
            for node in g.node:
                node.input[:] = [f"{base}_dq" if x == t else x for x in node.input]
            nodes, inits = _qdq_nodes(base, t, acts[t], f"{base}_dq")
        extra_nodes += nodes
        g.initializer.extend(inits)
    g.node.extend(extra_nodes)


def _sort_topologically(g: onnx.GraphProto) -> None:
    ready = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    pending = list(g.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        progressed = False
        for node in list(pending):
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
                pending.remove(node)
                progressed = True
        if not progressed:
            raise ModelError(f"QDQ rewrite left a cycle or missing tensor at {pending[0].name}")
    del g.node[:]
    g.node.extend(ordered)
