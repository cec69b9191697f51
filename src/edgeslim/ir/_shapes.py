"""Fill shapes ONNX shape inference left open by running the interpreter at two batch sizes.

A dimension that is the same at batch 1 and batch 2 (with different random float inputs) is
taken as static and becomes an int; one that changes stays ``None``. A shape that depends on
input values in a way two random inputs do not reveal would be filled wrongly; deploy graphs
compute shapes from ``Shape`` ops, not from data.

Used by :func:`edgeslim.ir.from_onnx` only where inference left a non-batch dimension (or a
rank or dtype) unknown; it is best effort and leaves the graph as it was when the interpreter
cannot run it (an unsupported op, an input of unknown shape).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np

from edgeslim._core.errors import EdgeslimError
from edgeslim.ir._dtypes import UNKNOWN_DTYPE
from edgeslim.ir.graph import Graph, TensorInfo

__all__ = ["needs_refinement", "refine_shapes"]


def needs_refinement(graph: Graph) -> bool:
    """True if some tensor has an unknown dtype or rank, or a ``None`` past its first dim."""
    for t in graph.tensors.values():
        if t.dtype == UNKNOWN_DTYPE or any(d is None for d in t.shape[1:]):
            return True
    return False


def _feeds(graph: Graph, batch: int) -> dict[str, np.ndarray] | None:
    """Random floats (so a value-dependent shape shows as open), zeros for other types."""
    rng = np.random.default_rng(batch)
    feeds = {}
    for t in graph.inputs:
        if t.dtype == UNKNOWN_DTYPE or (t.shape and any(d is None for d in t.shape[1:])):
            return None
        shape = tuple(batch if d is None else d for d in t.shape)
        dtype = np.dtype(t.dtype)
        if np.issubdtype(dtype, np.floating):
            feeds[t.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[t.name] = np.zeros(shape, dtype=dtype)
    return feeds


def _run_all(graph: Graph, batch: int) -> dict[str, np.ndarray] | None:
    from edgeslim.ir import interp

    feeds = _feeds(graph, batch)
    if feeds is None:
        return None
    names = [n for node in graph.nodes for n in node.outputs if n]
    try:
        with np.errstate(all="ignore"):
            return interp.run(graph, feeds, outputs=names)
    except (EdgeslimError, ValueError, IndexError, TypeError):
        return None


def _merge(old: TensorInfo, a: np.ndarray, b: np.ndarray) -> TensorInfo:
    if a.ndim != b.ndim:
        return old
    shape = tuple(int(x) if x == y else None for x, y in zip(a.shape, b.shape, strict=True))
    if old.dtype != UNKNOWN_DTYPE and len(old.shape) == len(shape):
        # keep what inference knew; it wins over a random-input run
        shape = tuple(o if o is not None else s for o, s in zip(old.shape, shape, strict=True))
    dtype = old.dtype or a.dtype.name
    return TensorInfo(old.name, dtype, shape, old.quant)


def refine_shapes(graph: Graph) -> Graph:
    """Return ``graph`` with open dimensions filled where two interpreter runs agree."""
    one, two = _run_all(graph, 1), _run_all(graph, 2)
    if one is None or two is None:
        return graph
    tensors = dict(graph.tensors)
    for name, a in one.items():
        old = tensors.get(name)
        if old is not None and name in two:
            tensors[name] = _merge(old, a, two[name])
    return dataclasses.replace(graph, tensors=MappingProxyType(tensors))
