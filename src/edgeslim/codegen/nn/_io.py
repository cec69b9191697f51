"""Integer model I/O (``io="int8"``): the graph's edge QuantizeLinear/DequantizeLinear removed.

TFLite Micro style: the caller passes int8 codes and gets int8 codes back. On a QDQ graph

    input (float) -> QuantizeLinear -> ...  ... -> DequantizeLinear [-> views] -> output

:func:`int8_io` makes the QuantizeLinear's output the graph input (int8) and the
DequantizeLinear's input (the codes) feed the views, so that the output is int8 too. The
rewritten graph is an ordinary graph: the C lowering gives its input and output int8 values
(no ``quantize`` / ``dequantize`` steps at the edges) and the reference runs it on codes.
The removed nodes' (scale, zero point) are returned; ``model.h`` prints them as
``<P>_INPUT_SCALE``, ``<P>_INPUT_ZERO_POINT``, ``<P>_OUTPUT_SCALE``, ``<P>_OUTPUT_ZERO_POINT``.
A float input is quantized with the model's own QuantizeLinear (:func:`quantize_inputs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.ir._verify import verify
from edgeslim.ir.graph import Graph, Node, TensorInfo

IO_MODES = ("float", "int8")
# ops that only reshape: a DequantizeLinear may sit before them at the graph output
_VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


@dataclass(frozen=True, slots=True)
class IOQuant:
    """Per-tensor int8 parameters of one graph edge: ``real = scale * (code - zero_point)``."""

    tensor: str  # the int8 tensor of the rewritten graph
    scale: float
    zero_point: int
    node: str  # the QuantizeLinear (input) or DequantizeLinear (output) that was removed


@dataclass(frozen=True, slots=True)
class IntIO:
    """A graph rewritten for int8 I/O and the parameters of its inputs and outputs."""

    graph: Graph
    inputs: tuple[IOQuant, ...]
    outputs: tuple[IOQuant, ...]


def check_io(io: str) -> str:
    if io not in IO_MODES:
        raise ExportError(f"io must be one of {', '.join(IO_MODES)}; got {io!r}")
    return io


def _params(graph: Graph, node: Node) -> tuple[float, int] | None:
    """(scale, zero point) of a Q/DQ node with a constant scalar scale and int8 zero point."""
    if len(node.inputs) < 3 or not node.inputs[2]:
        return None  # no zero point: uint8 codes
    s, z = (graph.initializers.get(t) for t in node.inputs[1:3])
    if s is None or z is None or s.size != 1 or z.size != 1 or z.dtype != np.int8:
        return None
    return float(np.asarray(s).reshape(())), int(np.asarray(z).reshape(()))


def _what(nodes: list[Node]) -> str:
    if not nodes:
        return "no node"
    return ", ".join(f"{n.op} {n.name!r}" for n in nodes)


def _no_q(graph: Graph) -> str:
    quantized = any(n.op == "QuantizeLinear" for n in graph.nodes)
    return "" if quantized else " (the model has no QuantizeLinear: it is not quantized)"


def int8_io(graph: Graph) -> IntIO:
    """``graph`` with int8 codes in and out; an :class:`ExportError` names the graph input or
    output (and the op next to it) that is not a single int8 QuantizeLinear / DequantizeLinear."""
    init = set(graph.initializers)
    tensors = dict(graph.tensors)
    drop: set[str] = set()
    retarget: dict[str, tuple[str, str]] = {}  # view node -> (DQ output, codes)
    new_inputs: list[TensorInfo] = []
    ins: list[IOQuant] = []
    for t in graph.inputs:
        if t.name in init:
            new_inputs.append(t)
            continue
        users = graph.consumers(t.name)
        q = users[0] if len(users) == 1 else None
        qp = _params(graph, q) if q is not None and q.op == "QuantizeLinear" else None
        if q is None or qp is None or t.dtype != "float32" or t.name in _names(graph.outputs):
            raise ExportError(
                f"--io int8: graph input {t.name!r} ({t.dtype}) feeds {_what(users)}, not a "
                f"single int8 QuantizeLinear with a per-tensor scale{_no_q(graph)}"
            )
        codes = q.outputs[0]
        info = tensors[codes]
        new_inputs.append(TensorInfo(codes, "int8", t.shape, info.quant))
        drop.add(q.name)
        ins.append(IOQuant(codes, qp[0], qp[1], q.name))
    new_outputs: list[TensorInfo] = []
    outs: list[IOQuant] = []
    for t in graph.outputs:
        views: list[Node] = []
        cur = graph.producer(t.name)
        while cur is not None and cur.op in _VIEWS and len(graph.consumers(cur.outputs[0])) <= 1:
            views.append(cur)
            cur = graph.producer(cur.inputs[0])
        src = cur.inputs[0] if cur is not None and cur.inputs else ""
        qp = _params(graph, cur) if cur is not None and cur.op == "DequantizeLinear" else None
        ok = qp is not None and tensors.get(src) is not None and tensors[src].dtype == "int8"
        if cur is None or not ok:
            what = f"{cur.op} {cur.name!r}" if cur is not None else "no node (a graph input)"
            raise ExportError(
                f"--io int8: graph output {t.name!r} comes from {what}, not from a "
                f"DequantizeLinear of int8 codes with a per-tensor scale{_no_q(graph)}"
            )
        assert cur is not None and qp is not None
        others = len(graph.consumers(cur.outputs[0])) - (1 if views else 0)
        if others == 0 and cur.outputs[0] not in _names(graph.outputs) - {t.name}:
            drop.add(cur.name)  # the DequantizeLinear only fed this output
        if views:  # the views reshape the codes instead
            retarget[views[-1].name] = (cur.outputs[0], src)
            for v in views:
                tensors[v.outputs[0]] = dataclasses.replace(tensors[v.outputs[0]], dtype="int8")
            new_outputs.append(dataclasses.replace(t, dtype="int8"))
            outs.append(IOQuant(t.name, qp[0], qp[1], cur.name))
        else:
            new_outputs.append(tensors[src])
            outs.append(IOQuant(src, qp[0], qp[1], cur.name))
    nodes = tuple(
        dataclasses.replace(n, inputs=_swap(n.inputs, *retarget[n.name]))
        if n.name in retarget
        else n
        for n in graph.nodes
        if n.name not in drop
    )
    for n in graph.nodes:
        if n.name in drop:
            for o in n.outputs:
                if o not in {i.tensor for i in ins}:
                    tensors.pop(o, None)
    for t in graph.inputs:
        if t.name not in init:
            tensors.pop(t.name, None)
    for t in new_inputs:
        tensors[t.name] = t
    out = dataclasses.replace(
        graph,
        inputs=tuple(new_inputs),
        outputs=tuple(new_outputs),
        nodes=nodes,
        tensors=MappingProxyType(tensors),
    )
    verify(out)
    return IntIO(out, tuple(ins), tuple(outs))


def _swap(names: tuple[str, ...], old: str, new: str) -> tuple[str, ...]:
    return tuple(new if t == old else t for t in names)


def _names(infos: tuple[TensorInfo, ...]) -> set[str]:
    return {t.name for t in infos}


def quantize_inputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float samples ``x`` (n, ...) of ``graph``'s first input as the int8 codes of its
    QuantizeLinear, computed by that node itself in the reference interpreter (round half to
    even, saturation); int8 ``x`` is returned unchanged."""
    from edgeslim.ir.interp import OPS

    x = np.asarray(x)
    if x.dtype == np.int8:
        return x
    io = int8_io(graph)
    q = next(n for n in graph.nodes if n.name == io.inputs[0].node)
    args = [np.asarray(x, np.float32), *(graph.initializers[t] for t in q.inputs[1:3])]
    return np.asarray(OPS.get("QuantizeLinear")(q, args, graph.opset)[0], np.int8)
