"""Exact structural counts of an exported graph: parameters, bytes, sparsity, MACs."""

from __future__ import annotations

import numpy as np

from edgeslim._core.records import Metric, Provenance
from edgeslim.ir.graph import Graph
from edgeslim.measure._costs import layer_costs
from edgeslim.measure._tensors import initializer_roles, weight_initializers


def _nonzero(arr: np.ndarray, zero_point: np.ndarray | None) -> int:
    if zero_point is None:
        return int(np.count_nonzero(arr))
    return int(np.count_nonzero(np.asarray(arr) != zero_point))


def structure_metrics(graph: Graph) -> tuple[Metric, ...]:
    """Counts over the graph's initializers and nodes (provenance ``computed``).

    * ``params`` (``param``): elements of the parameter initializers (weights, biases, folded
      norms; not shape data or quantization scales, see :mod:`edgeslim.measure._tensors`);
    * ``weight_bytes`` (``B``): raw bytes of parameters plus quantization scales/zero points,
      as stored in the initializers (their dtype decides: int8 weights count 1 B each);
    * ``nonzero_params`` (``param``): parameter elements that are not zero (for int weights
      behind ``DequantizeLinear``, not equal to their zero point);
    * ``sparsity`` (``1``): fraction of zero elements among the weight initializers of
      Conv/Gemm/MatMul/GRU/LSTM/RNN (biases and norms excluded); 0 if there are none;
    * ``macs`` (``MAC``): multiply-accumulates of one sample, the sum of :func:`layer_costs`.
    """
    roles = initializer_roles(graph)
    weights = weight_initializers(graph)
    params = nonzero = stored = 0
    for name, role in roles.items():
        arr = graph.initializers[name]
        if role == "shape":
            continue
        stored += int(arr.nbytes)
        if role == "param":
            params += int(arr.size)
            nonzero += _nonzero(arr, weights.get(name))
    w_total = sum(int(graph.initializers[n].size) for n in weights)
    w_zero = sum(
        int(graph.initializers[n].size) - _nonzero(graph.initializers[n], zp)
        for n, zp in weights.items()
    )
    sparsity = w_zero / w_total if w_total else 0.0
    macs = sum(c.macs for c in layer_costs(graph, batch=1))
    c = Provenance.COMPUTED
    return (
        Metric("params", params, "param", c),
        Metric("weight_bytes", stored, "B", c),
        Metric("nonzero_params", nonzero, "param", c),
        Metric("sparsity", sparsity, "1", c),
        Metric("macs", macs, "MAC", c),
    )
