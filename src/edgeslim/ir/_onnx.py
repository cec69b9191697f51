"""ONNX <-> :class:`~edgeslim.ir.Graph`.

``from_onnx`` loads a file (or takes a ``ModelProto``), runs ONNX shape inference (strict mode
off, data propagation on), turns ``Constant`` nodes into initializers, sorts the nodes
topologically (stable: an already sorted graph keeps its order) and fills ``Graph.tensors`` for
every value. Conventions of the resulting graph:

* dtypes are numpy dtype names (``"float32"``, ``"int8"``); ``""`` where ONNX could not infer
  the type (outputs of custom-domain ops, listed by :func:`untyped_tensors`); symbolic or
  unknown dimensions are ``None``; a tensor of unknown rank has shape ``()``. Dimensions that
  inference leaves open are filled by running the graph where possible (``refine_shapes``).
* initializers are read-only numpy arrays.
* node attributes are plain values in a read-only mapping: ``int``, ``float``, ``str``, tuples of
  those, read-only numpy arrays for tensor attributes; subgraph attributes stay ``GraphProto``.
* an op of a non-default domain is named ``"<domain>.<op_type>"`` (``"com.microsoft.Gelu"``).
* ``QuantizeLinear`` outputs and ``DequantizeLinear`` inputs get :class:`QuantParams` when their
  scale and zero point are initializers.

``to_onnx`` writes a graph back to a ``ModelProto`` that onnxruntime runs.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from edgeslim._core.errors import ModelError
from edgeslim.ir._dtypes import UNKNOWN_DTYPE, dtype_name, elem_type
from edgeslim.ir._shapes import needs_refinement
from edgeslim.ir._shapes import refine_shapes as _refine
from edgeslim.ir.graph import Graph, Node, QuantParams, TensorInfo

__all__ = ["from_onnx", "load_onnx_model", "to_onnx"]

_DEFAULT_DOMAINS = ("", "ai.onnx")


def load_onnx_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read an ONNX file; :class:`ModelError` naming the file if it is missing or corrupt."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"ONNX file {p} does not exist")
    try:
        model = onnx.load(str(p))
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"{p} is not a readable ONNX model: {exc}") from None
    if not model.graph.output or not model.opset_import:
        raise ModelError(f"{p} is not a readable ONNX model: it has no graph outputs or opset")
    return model


def from_onnx(
    source: str | os.PathLike[str] | onnx.ModelProto, *, refine_shapes: bool = True
) -> Graph:
    """Build a :class:`Graph` from an ONNX file path or a ``ModelProto`` (not verified).

    With ``refine_shapes`` (the default), dimensions ONNX inference leaves open past the batch
    dimension are filled by running the interpreter at batch 1 and 2 (see ``ir._shapes``).
    """
    where = "<ModelProto>"
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        model = load_onnx_model(source)
        where = str(source)
    # on failure keep whatever types the file declares; verify() reports what is missing
    with contextlib.suppress(onnx.shape_inference.InferenceError, RuntimeError, ValueError):
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    graph = _build_graph(model, where)
    if refine_shapes and needs_refinement(graph):
        graph = _refine(graph)
    return graph


def _build_graph(model: onnx.ModelProto, where: str) -> Graph:
    g = model.graph
    if g.sparse_initializer:
        raise ModelError(f"{where}: sparse initializers are not supported")
    inits: dict[str, np.ndarray] = {
        t.name: _readonly(numpy_helper.to_array(t)) for t in g.initializer
    }
    nodes: list[Node] = []
    used_names: set[str] = set()
    for i, proto in enumerate(g.node):
        if proto.op_type == "Constant" and proto.domain in _DEFAULT_DOMAINS:
            inits[proto.output[0]] = _constant_value(proto, where)
            continue
        nodes.append(_convert_node(proto, i, used_names))
    tensors = _collect_tensors(model, inits)
    inputs = tuple(tensors[v.name] for v in g.input if v.name not in inits)
    outputs = tuple(tensors[v.name] for v in g.output)
    sorted_nodes = _toposort(nodes, {t.name for t in inputs} | set(inits), where)
    tensors = _attach_quant(sorted_nodes, inits, tensors)
    return Graph(
        name=g.name or "graph",
        inputs=inputs,
        outputs=outputs,
        nodes=tuple(sorted_nodes),
        initializers=MappingProxyType(inits),
        tensors=MappingProxyType(tensors),
        opset=_default_opset(model),
    )


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in _DEFAULT_DOMAINS:
            return int(imp.version)
    return 17


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _constant_value(proto: onnx.NodeProto, where: str) -> np.ndarray:
    if len(proto.attribute) != 1:
        raise ModelError(
            f"{where}: Constant node {proto.name!r} needs exactly one value attribute"
        )
    attr = proto.attribute[0]
    value = helper.get_attribute_value(attr)
    if attr.name == "value":
        return _readonly(numpy_helper.to_array(value))
    if attr.name in ("value_float", "value_floats"):
        return _readonly(np.asarray(value, dtype=np.float32))
    if attr.name in ("value_int", "value_ints"):
        return _readonly(np.asarray(value, dtype=np.int64))
    if attr.name in ("value_string", "value_strings"):
        return _readonly(np.asarray(_decode(value), dtype=object))
    raise ModelError(
        f"{where}: Constant node {proto.name!r} has unsupported attribute {attr.name}"
    )


def _decode(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, list):
        return tuple(_decode(x) for x in v)
    return v


def _attr_value(attr: onnx.AttributeProto) -> Any:
    value = helper.get_attribute_value(attr)
    if attr.type == onnx.AttributeProto.TENSOR:
        return _readonly(numpy_helper.to_array(value))
    if attr.type == onnx.AttributeProto.TENSORS:
        return tuple(_readonly(numpy_helper.to_array(t)) for t in value)
    return _decode(value)


def _convert_node(proto: onnx.NodeProto, index: int, used: set[str]) -> Node:
    op = proto.op_type
    if proto.domain not in _DEFAULT_DOMAINS:
        op = f"{proto.domain}.{op}"
    name = proto.name or f"{proto.op_type}_{index}"
    base, k = name, 1
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    attrs = {a.name: _attr_value(a) for a in proto.attribute}
    return Node(
        name=name,
        op=op,
        inputs=tuple(proto.input),
        outputs=tuple(proto.output),
        attrs=MappingProxyType(attrs),
    )


def _type_info(name: str, tp: onnx.TypeProto) -> TensorInfo:
    if not tp.HasField("tensor_type"):
        return TensorInfo(name, UNKNOWN_DTYPE, ())
    tt = tp.tensor_type
    shape: tuple[int | None, ...] = ()
    if tt.HasField("shape"):
        shape = tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in tt.shape.dim)
    return TensorInfo(name, dtype_name(tt.elem_type), shape)


def _collect_tensors(
    model: onnx.ModelProto, inits: Mapping[str, np.ndarray]
) -> dict[str, TensorInfo]:
    g = model.graph
    out: dict[str, TensorInfo] = {}
    for vi in (*g.value_info, *g.input, *g.output):
        info = _type_info(vi.name, vi.type)
        known = out.get(vi.name)
        if known is None or known.dtype == UNKNOWN_DTYPE:
            out[vi.name] = info
    for name, arr in inits.items():
        out[name] = TensorInfo(name, arr.dtype.name, tuple(int(d) for d in arr.shape))
    for n in g.node:
        for t in n.output:
            if t and t not in out:
                out[t] = TensorInfo(t, UNKNOWN_DTYPE, ())
    return out


def untyped_tensors(graph: Graph) -> list[str]:
    """Names of tensors whose dtype neither the file nor shape inference tells (dtype ``""``)."""
    return [t.name for t in graph.tensors.values() if t.dtype == UNKNOWN_DTYPE]


def _toposort(nodes: list[Node], available: set[str], where: str) -> list[Node]:
    """Stable topological sort (Kahn's algorithm, lowest original index first).

    Inputs nobody produces count as available; :func:`verify` reports them.
    """
    producer = {t: i for i, n in enumerate(nodes) for t in n.outputs if t}
    deps = [
        {producer[t] for t in n.inputs if t and t not in available and t in producer}
        for n in nodes
    ]
    if all(all(d < i for d in ds) for i, ds in enumerate(deps)):
        return nodes
    users: dict[int, list[int]] = {}
    for i, ds in enumerate(deps):
        for d in ds:
            users.setdefault(d, []).append(i)
    waiting = [len(ds) for ds in deps]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for u in users.get(i, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = [n.name for i, n in enumerate(nodes) if waiting[i] > 0]
        raise ModelError(f"{where}: graph has a cycle through nodes {', '.join(stuck[:5])}")
    return order


def _attach_quant(
    nodes: Iterable[Node], inits: Mapping[str, np.ndarray], tensors: dict[str, TensorInfo]
) -> dict[str, TensorInfo]:
    for n in nodes:
        if n.op not in ("QuantizeLinear", "DequantizeLinear") or len(n.inputs) < 2:
            continue
        scale = inits.get(n.inputs[1])
        zp_name = n.inputs[2] if len(n.inputs) > 2 else ""
        zp = inits.get(zp_name) if zp_name else None
        if scale is None or (zp_name and zp is None):
            continue
        zero = zp if zp is not None else np.zeros(scale.shape, dtype=np.int64)
        axis = int(n.attrs.get("axis", 1)) if scale.ndim == 1 and scale.size > 1 else None
        qp = QuantParams(
            scale=tuple(float(s) for s in scale.reshape(-1)),
            zero_point=tuple(int(z) for z in zero.reshape(-1)),
            axis=axis,
        )
        qname = n.outputs[0] if n.op == "QuantizeLinear" else n.inputs[0]
        info = tensors.get(qname)
        if info is not None:
            tensors[qname] = TensorInfo(info.name, info.dtype, info.shape, qp)
    return tensors


# --------------------------------------------------------------------------- writing


def _to_attr(key: str, value: Any) -> onnx.AttributeProto:
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(np.asarray(value)))
    if isinstance(value, tuple | list):
        if not value:
            return helper.make_attribute(key, [], attr_type=onnx.AttributeProto.INTS)
        if isinstance(value[0], np.ndarray):
            return helper.make_attribute(key, [numpy_helper.from_array(v) for v in value])
        return helper.make_attribute(key, list(value))
    return helper.make_attribute(key, value)


def _to_node(n: Node) -> onnx.NodeProto:
    domain, _, op_type = n.op.rpartition(".")
    proto = helper.make_node(op_type, list(n.inputs), list(n.outputs), name=n.name, domain=domain)
    proto.attribute.extend(_to_attr(k, v) for k, v in sorted(n.attrs.items()))
    return proto


def _value_info(t: TensorInfo) -> onnx.ValueInfoProto:
    if t.dtype == UNKNOWN_DTYPE:
        return helper.make_empty_tensor_value_info(t.name)
    return helper.make_tensor_value_info(t.name, elem_type(t.dtype), list(t.shape))


def to_onnx(graph: Graph) -> onnx.ModelProto:
    """Write ``graph`` as an ONNX model (IR version the lowest its opset needs)."""
    io_names = {t.name for t in (*graph.inputs, *graph.outputs)}
    value_info = [
        _value_info(t)
        for name, t in graph.tensors.items()
        if name not in io_names and name not in graph.initializers and t.dtype != UNKNOWN_DTYPE
    ]
    g = helper.make_graph(
        [_to_node(n) for n in graph.nodes],
        graph.name,
        [_value_info(t) for t in graph.inputs],
        [_value_info(t) for t in graph.outputs],
        initializer=[
            numpy_helper.from_array(np.asarray(a), k) for k, a in graph.initializers.items()
        ],
        value_info=value_info,
    )
    opsets = [helper.make_opsetid("", graph.opset)]
    domains = sorted({n.op.rpartition(".")[0] for n in graph.nodes} - {""})
    opsets += [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(g, opset_imports=opsets, producer_name="edgeslim")
    model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    return model
