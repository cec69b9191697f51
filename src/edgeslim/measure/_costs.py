"""Per-layer cost of a graph: multiply-accumulates, parameters, output bytes.

MACs count the multiply-accumulates of the products that dominate the op, exactly, from the
shapes ONNX shape inference gave the graph (symbolic dimensions are the batch):

* ``Conv`` (and ``ConvInteger``, ``QLinearConv``): output elements x ``Cin/groups`` x kernel
  elements. Strides, padding and dilation act through the output shape only.
* ``ConvTranspose``: input elements x ``Cout/groups`` x kernel elements.
* ``Gemm``: ``M x K x N``; ``MatMul`` (and integer forms): output elements x ``K``.
* ``GRU`` / ``LSTM`` / ``RNN``: per time step, batch row and direction, the input products
  ``gates*H x input`` plus the recurrent products ``gates*H x H`` (gates: 3, 4, 1); LSTM
  peepholes add ``3H``. One ONNX node is one layer; stacked layers are separate nodes.
* every other op (pooling, activations, elementwise, normalization, reshapes): 0. Bias adds and
  gate nonlinearities are not MACs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from edgeslim._core.errors import ModelError
from edgeslim.ir.graph import Graph, Node
from edgeslim.measure._tensors import initializer_roles, nbytes, shape_of


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Cost of one node. ``params`` counts the parameter initializers the node reads first
    (a shared initializer is counted at its first reader), so the column sums to the graph's
    parameter count; ``output_bytes`` is the size of its outputs at the given batch."""

    node: str
    op: str
    macs: int
    params: int
    output_bytes: int

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.node,
            "op": self.op,
            "macs": self.macs,
            "params": self.params,
            "output_bytes": self.output_bytes,
        }


def _rank_check(node: Node, what: str, shape: tuple[int, ...], least: int) -> None:
    if len(shape) < least:
        raise ModelError(
            f"node {node.name!r} ({node.op}): {what} has shape {shape}, expected rank >= {least}"
        )


def _conv_macs(graph: Graph, node: Node, batch: int, w_index: int) -> int:
    w = shape_of(graph, node.inputs[w_index], batch)
    out = shape_of(graph, node.outputs[0], batch)
    _rank_check(node, "weight", w, 3)
    _rank_check(node, "output", out, 3)
    return math.prod(out) * math.prod(w[1:])


def _conv_transpose_macs(graph: Graph, node: Node, batch: int) -> int:
    x = shape_of(graph, node.inputs[0], batch)
    w = shape_of(graph, node.inputs[1], batch)
    _rank_check(node, "weight", w, 3)
    _rank_check(node, "input", x, 3)
    return math.prod(x) * math.prod(w[1:])


def _gemm_macs(graph: Graph, node: Node, batch: int) -> int:
    a = shape_of(graph, node.inputs[0], batch)
    out = shape_of(graph, node.outputs[0], batch)
    _rank_check(node, "input A", a, 2)
    k = a[0] if node.attrs.get("transA", 0) else a[1]
    return math.prod(out) * k


def _matmul_macs(graph: Graph, node: Node, batch: int, a_index: int = 0) -> int:
    a = shape_of(graph, node.inputs[a_index], batch)
    out = shape_of(graph, node.outputs[0], batch)
    _rank_check(node, "input A", a, 1)
    return math.prod(out) * a[-1]


def _recurrent_macs(graph: Graph, node: Node, batch: int) -> int:
    x = shape_of(graph, node.inputs[0], batch)
    w = shape_of(graph, node.inputs[1], batch)
    r = shape_of(graph, node.inputs[2], batch)
    _rank_check(node, "input X", x, 3)
    _rank_check(node, "weight W", w, 3)
    _rank_check(node, "weight R", r, 3)
    steps, rows = (x[1], x[0]) if node.attrs.get("layout", 0) else (x[0], x[1])
    directions = w[0]
    per_step = w[1] * w[2] + r[1] * r[2]
    if node.op == "LSTM" and len(node.inputs) > 7 and node.inputs[7]:
        per_step += 3 * r[2]  # peephole products p * c for the i, o and f gates
    return steps * rows * directions * per_step


_MACS: dict[str, Callable[[Graph, Node, int], int]] = {
    "Conv": lambda g, n, b: _conv_macs(g, n, b, 1),
    "ConvInteger": lambda g, n, b: _conv_macs(g, n, b, 1),
    "QLinearConv": lambda g, n, b: _conv_macs(g, n, b, 3),
    "ConvTranspose": _conv_transpose_macs,
    "Gemm": _gemm_macs,
    "MatMul": _matmul_macs,
    "MatMulInteger": _matmul_macs,
    "QLinearMatMul": _matmul_macs,
    "GRU": _recurrent_macs,
    "LSTM": _recurrent_macs,
    "RNN": _recurrent_macs,
    # TFLite ops (NHWC, edgeslim.ir._tflite): weights [O, KH, KW, I], depthwise [1, KH, KW, O]
    "tflite.Conv2D": lambda g, n, b: _conv_macs(g, n, b, 1),
    "tflite.DepthwiseConv2D": lambda g, n, b: (
        math.prod(shape_of(g, n.outputs[0], b)) * math.prod(shape_of(g, n.inputs[1], b)[1:3])
    ),
    "tflite.FullyConnected": lambda g, n, b: (
        math.prod(shape_of(g, n.outputs[0], b)) * shape_of(g, n.inputs[1], b)[1]
    ),
}
MAC_OPS = frozenset(_MACS)


def node_macs(graph: Graph, node: Node, batch: int = 1) -> int:
    """Multiply-accumulates of one node at ``batch`` (0 for ops without products)."""
    fn = _MACS.get(node.op)
    return int(fn(graph, node, batch)) if fn is not None else 0


def layer_costs(graph: Graph, batch: int = 1) -> tuple[LayerCost, ...]:
    """One :class:`LayerCost` per node, in execution order, at ``batch``."""
    if batch < 1:
        raise ModelError(f"parameter batch of layer_costs must be >= 1; got {batch}")
    roles = initializer_roles(graph)
    seen: set[str] = set()
    costs = []
    for node in graph.nodes:
        params = 0
        for name in node.inputs:
            if roles.get(name) == "param" and name not in seen:
                seen.add(name)
                params += int(graph.initializers[name].size)
        out_bytes = sum(nbytes(graph, o, batch) for o in node.outputs if o)
        costs.append(
            LayerCost(node.name, node.op, node_macs(graph, node, batch), params, out_bytes)
        )
    return tuple(costs)
