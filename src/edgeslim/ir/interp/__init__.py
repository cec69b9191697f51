"""The numpy reference interpreter of :class:`~edgeslim.ir.Graph`.

``run(graph, feeds)`` executes the nodes in order with one numpy function per ONNX op (see
``OPS``, frozen after import). Float ops accumulate in float64 and round to the tensor's dtype,
so results agree with onnxruntime to about 1e-6; QuantizeLinear/DequantizeLinear are bit-exact.
An op without an implementation raises :class:`UnsupportedOpError` naming op and node;
``check_supported(graph)`` reports every missing op at once, before running.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from edgeslim._core.errors import DataError, UnsupportedOpError
from edgeslim.ir.graph import Graph, Node, TensorInfo
from edgeslim.ir.interp import (  # noqa: F401  (registration)
    _intrnn,
    _math,
    _nn,
    _qlinear,
    _quant,
    _rnn,
    _shape,
    _tflite_ops,
)
from edgeslim.ir.interp._registry import OPS, WHERE, Inputs, OpFn, Outputs

OPS.freeze()

__all__ = ["OPS", "Inputs", "OpFn", "Outputs", "check_supported", "run", "supported_ops"]


def supported_ops() -> list[str]:
    """ONNX op names (default domain) the interpreter implements, sorted."""
    return OPS.names()


def check_supported(graph: Graph) -> None:
    """Raise :class:`UnsupportedOpError` naming every op of ``graph`` the interpreter lacks.

    The error's ``op`` and ``node`` are the first missing op and its first node; the message lists
    each missing op once with the first node using it.
    """
    missing: dict[str, str] = {}
    for node in graph.nodes:
        if node.op not in OPS and node.op not in missing:
            missing[node.op] = node.name
    if missing:
        op, name = next(iter(missing.items()))
        err = UnsupportedOpError(op, name, WHERE)
        if len(missing) > 1:
            listed = ", ".join(f"{o!r} (node {n!r})" for o, n in missing.items())
            err.args = (f"unsupported ops in {WHERE}: {listed}",)
        raise err


def _check_feed(info: TensorInfo, value: np.ndarray) -> None:
    if info.dtype and value.dtype.name != info.dtype:
        raise DataError(
            f"input {info.name!r} must have dtype {info.dtype}; got {value.dtype.name}"
        )
    if not info.shape and value.ndim:
        return  # shape () may stand for an unknown rank (see edgeslim.ir.from_onnx)
    if len(value.shape) != len(info.shape) or any(
        d is not None and d != v for d, v in zip(info.shape, value.shape, strict=True)
    ):
        want = tuple("?" if d is None else d for d in info.shape)
        raise DataError(f"input {info.name!r} must have shape {want}; got {value.shape}")


def _last_uses(graph: Graph, keep: set[str]) -> dict[int, list[str]]:
    """For each node index, the tensors no later node reads (so they can be freed)."""
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            last[t] = i
    frees: dict[int, list[str]] = {}
    for t, i in last.items():
        if t and t not in keep and t not in graph.initializers:
            frees.setdefault(i, []).append(t)
    return frees


def _execute(node: Node, fn: OpFn, env: Mapping[str, np.ndarray], opset: int) -> Outputs:
    args: Inputs = [env[t] if t else None for t in node.inputs]
    while args and args[-1] is None:
        args = args[:-1]
    results = fn(node, args, opset)
    wanted = [i for i, t in enumerate(node.outputs) if t]
    if wanted and wanted[-1] >= len(results):
        raise UnsupportedOpError(
            node.op, node.name, f"{WHERE} (output {wanted[-1]} is not computed)"
        )
    return results


def run(
    graph: Graph,
    feeds: Mapping[str, np.ndarray],
    *,
    outputs: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``feeds`` (one array per graph input, checked against dtype and shape).

    Returns the graph outputs by name, or the tensors named in ``outputs`` (any intermediate,
    input or initializer). Raises :class:`DataError` for a missing or ill-shaped feed and
    :class:`UnsupportedOpError` for an op without an implementation.
    """
    check_supported(graph)
    wanted = [t.name for t in graph.outputs] if outputs is None else list(outputs)
    env: dict[str, np.ndarray] = dict(graph.initializers)
    for info in graph.inputs:
        if info.name not in feeds:
            raise DataError(f"missing input {info.name!r} for graph {graph.name!r}")
        value = np.asarray(feeds[info.name])
        _check_feed(info, value)
        env[info.name] = value
    frees = _last_uses(graph, set(wanted))
    for i, node in enumerate(graph.nodes):
        results = _execute(node, OPS.get(node.op), env, graph.opset)
        for name, value in zip(node.outputs, results, strict=False):
            if name:
                env[name] = np.asarray(value)
        for t in frees.get(i, ()):
            env.pop(t, None)
    missing = [t for t in wanted if t not in env]
    if missing:
        raise DataError(f"graph {graph.name!r} has no tensor named {missing[0]!r}")
    return {t: env[t] for t in wanted}
