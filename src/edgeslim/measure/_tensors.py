"""Shared helpers: sizes of graph tensors with the batch filled in, and what initializers are.

Initializer classes (used by the structure metrics and layer costs):

* **shape-like**: integer index/shape/axes data (``Reshape`` shape, ``Slice`` starts, ``Pad``
  pads, ...) and every ``int64``/``bool`` initializer. Not parameters, not weight bytes.
* **quantization parameters**: scales and zero points of ``QuantizeLinear`` /
  ``DequantizeLinear`` (and the ``QLinear*`` ops). Counted in weight bytes, not in parameters.
* **parameters**: every other initializer (weights, biases, folded norms, constants the
  model computes with).
* **weights** (a subset of the parameters): initializers that reach a weight input of
  Conv/ConvTranspose/Gemm/MatMul/GRU/LSTM/RNN (or their integer forms), possibly through
  ``DequantizeLinear``, ``Transpose``, ``Reshape``, ``Identity``, ``Cast``, ``Squeeze``,
  ``Unsqueeze`` or ``Flatten``. Sparsity is measured over weights only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.ir.graph import Graph, TensorInfo

_REDUCE = (
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
)
SHAPE_INPUTS: Mapping[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Unsqueeze": (1,),
    "Squeeze": (1,),
    "Pad": (1, 2, 3),
    "Split": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "ConstantOfShape": (0,),
    "TopK": (1,),
    "Range": (0, 1, 2),
    "OneHot": (1, 2),
    "CumSum": (1,),
    "Gather": (1,),
    "GatherElements": (1,),
    "GatherND": (1,),
    "ScatterND": (1,),
    "ScatterElements": (1,),
    "Clip": (1, 2),
    "Dropout": (1, 2),
    "Trilu": (1,),
    **{op: (1,) for op in _REDUCE},
}
QPARAM_INPUTS: Mapping[str, tuple[int, ...]] = {
    "QuantizeLinear": (1, 2),
    "DequantizeLinear": (1, 2),
    "QLinearConv": (1, 2, 4, 5, 6, 7),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "ConvInteger": (2, 3),
    "MatMulInteger": (2, 3),
}
WEIGHT_INPUTS: Mapping[str, tuple[int, ...]] = {
    "Conv": (1,),
    "ConvTranspose": (1,),
    "ConvInteger": (1,),
    "QLinearConv": (3,),
    "Gemm": (0, 1),
    "MatMul": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearMatMul": (0, 3),
    "GRU": (1, 2),
    "LSTM": (1, 2),
    "RNN": (1, 2),
}
_PASS_THROUGH = frozenset(
    {
        "DequantizeLinear",
        "Transpose",
        "Reshape",
        "Identity",
        "Cast",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
    }
)
_ITEMSIZE_FALLBACK = {"bfloat16": 2, "float8e4m3fn": 1, "float8e5m2": 1}


def itemsize(info: TensorInfo) -> int:
    if not info.dtype:
        raise ModelError(f"tensor {info.name!r} has an unknown dtype; its size cannot be counted")
    if info.dtype in _ITEMSIZE_FALLBACK:
        return _ITEMSIZE_FALLBACK[info.dtype]
    try:
        return int(np.dtype(info.dtype).itemsize)
    except TypeError:
        raise ModelError(
            f"tensor {info.name!r} has dtype {info.dtype!r} of unknown size"
        ) from None


def shape_of(graph: Graph, name: str, batch: int) -> tuple[int, ...]:
    """Shape of a tensor (an initializer's real shape), symbolic dimensions set to ``batch``."""
    if name in graph.initializers:
        return tuple(int(d) for d in graph.initializers[name].shape)
    info = graph.tensors.get(name)
    if info is None:
        raise ModelError(f"tensor {name!r} has no shape information in graph {graph.name!r}")
    return tuple(batch if d is None else int(d) for d in info.shape)


def nbytes(graph: Graph, name: str, batch: int) -> int:
    info = graph.tensors.get(name)
    if info is None:
        raise ModelError(f"tensor {name!r} has no type information in graph {graph.name!r}")
    return int(np.prod(shape_of(graph, name, batch), dtype=np.int64)) * itemsize(info)


def initializer_roles(graph: Graph) -> dict[str, str]:
    """Every initializer's class: ``"shape"``, ``"qparam"`` or ``"param"`` (see module doc).

    An initializer used at a parameter position by any node is a parameter.
    """
    roles: dict[str, str] = {}
    rank = {"shape": 0, "qparam": 1, "param": 2}
    for node in graph.nodes:
        for i, name in enumerate(node.inputs):
            if name not in graph.initializers:
                continue
            arr = graph.initializers[name]
            if arr.dtype in (np.int64, np.bool_) or i in SHAPE_INPUTS.get(node.op, ()):
                role = "shape"
            elif i in QPARAM_INPUTS.get(node.op, ()):
                role = "qparam"
            else:
                role = "param"
            if name not in roles or rank[role] > rank[roles[name]]:
                roles[name] = role
    return roles


def weight_initializers(graph: Graph) -> dict[str, np.ndarray | None]:
    """Weight initializers (see module doc) mapped to the zero point that means "zero" for them
    (an array broadcastable to the weight, for int weights behind ``DequantizeLinear``) or None.
    """
    found: dict[str, np.ndarray | None] = {}
    for node in graph.nodes:
        for i in WEIGHT_INPUTS.get(node.op, ()):
            if i < len(node.inputs) and node.inputs[i]:
                hit = _trace_to_initializer(graph, node.inputs[i])
                if hit is not None:
                    found.setdefault(hit[0], hit[1])
    return found


def _trace_to_initializer(graph: Graph, name: str) -> tuple[str, np.ndarray | None] | None:
    for _ in range(16):  # short chains only; a weight is a few ops from its initializer
        if name in graph.initializers:
            return name, None
        producer = graph.producer(name)
        if producer is None or producer.op not in _PASS_THROUGH or not producer.inputs:
            return None
        if producer.op == "DequantizeLinear" and producer.inputs[0] in graph.initializers:
            q = producer.inputs[0]
            return q, _zero_point(graph, producer.inputs, producer.attrs.get("axis", 1), q)
        name = producer.inputs[0]
    return None


def _zero_point(
    graph: Graph, inputs: tuple[str, ...], axis: int, weight: str
) -> np.ndarray | None:
    if len(inputs) < 3 or inputs[2] not in graph.initializers:
        return None
    zp = np.asarray(graph.initializers[inputs[2]])
    w = graph.initializers[weight]
    if zp.ndim == 0 or zp.size == 1:
        return zp.reshape(())
    shape = [1] * w.ndim
    shape[int(axis) % w.ndim] = zp.size
    return zp.reshape(shape)
