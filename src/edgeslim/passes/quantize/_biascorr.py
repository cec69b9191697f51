"""Empirical bias correction (Nagel et al. 2019; AIMET's "empirical" variant) for static PTQ.

Quantizing the weights of a layer shifts the mean of its output channels: ``E[W'x'] - E[Wx]``
is not zero, and the shift adds up layer after layer. For every quantized Conv/Gemm with a bias,
in graph order, the correction runs the float model and the current QDQ model (whose earlier
layers are corrected already) on the calibration inputs, takes the per-channel mean of the
layer's output (before its activation) in both, and subtracts the difference from the float
bias; the QDQ rewrite then requantizes that bias (int32, scale ``s_x * s_w``). Activation
quantization parameters stay as calibrated. The result is the QDQ model built from the
corrected biases, and per layer the largest correction applied.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from edgeslim.passes.quantize import _qdq


def _channel_means(values: list[np.ndarray]) -> np.ndarray:
    """Mean over every axis but 1 (channels) of a list of batches."""
    total, count = None, 0
    for v in values:
        v = np.asarray(v, np.float64)
        axes = tuple(i for i in range(v.ndim) if i != 1)
        s = v.sum(axis=axes)
        total = s if total is None else total + s
        count += int(np.prod([v.shape[i] for i in axes]))
    assert total is not None
    return np.asarray(total / max(count, 1))


def correct_biases(
    proto: onnx.ModelProto,
    plan: _qdq.Plan,
    build: Callable[[onnx.ModelProto], onnx.ModelProto],
    batches: list[np.ndarray],
) -> tuple[onnx.ModelProto, onnx.ModelProto, dict[str, float]]:
    """Correct the float biases of ``proto`` layer by layer; ``build`` makes the QDQ model from
    a float model (same plan, same activation qparams). Returns (corrected float model, its QDQ
    model, {node: max |correction|})."""
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    by_name = {n.name: n for n in m.graph.node}
    layers = [by_name[n] for n in plan.nodes if len(by_name[n].input) > 2 and by_name[n].input[2]]
    inits = {i.name: i for i in m.graph.initializer}
    layers = [n for n in layers if n.input[2] in inits]
    outs = [n.output[0] for n in layers]
    reference = {t: [] for t in outs}  # type: dict[str, list[np.ndarray]]
    for values in _qdq.run_tensors(proto, outs, batches):
        for t, v in values.items():
            reference[t].append(v)
    float_mean = {t: _channel_means(v) for t, v in reference.items()}
    corrections: dict[str, float] = {}
    for node in layers:
        q = build(m)
        name = _output_in(q, node.name)
        got = [v[name] for v in _qdq.run_tensors(q, [name], batches)]
        delta = _channel_means(got) - float_mean[node.output[0]]
        init = inits[node.input[2]]
        b = numpy_helper.to_array(init)
        new = (b.astype(np.float64) - delta.reshape(b.shape)).astype(b.dtype)
        init.CopyFrom(numpy_helper.from_array(new, init.name))
        corrections[node.name] = float(np.abs(delta).max(initial=0.0))
    return m, build(m), corrections


def _output_in(model: onnx.ModelProto, node_name: str) -> str:
    """The output tensor of node ``node_name`` in the QDQ model (renamed ``a{i}_f`` when the
    float output was a graph output)."""
    node = next(n for n in model.graph.node if n.name == node_name)
    return str(node.output[0])
