"""Structural checks of a :class:`~edgeslim.ir.Graph`; every error names node and tensor."""

from __future__ import annotations

from edgeslim._core.errors import ModelError
from edgeslim.ir._dtypes import UNKNOWN_DTYPE
from edgeslim.ir.graph import Graph

__all__ = ["verify"]


def verify(graph: Graph) -> None:
    """Raise :class:`ModelError` unless ``graph`` is well formed.

    Checks: every node input is ``""``, a graph input, an initializer or an output of an earlier
    node; node names and produced tensor names are unique and never shadow an input or
    initializer; every graph output is produced (or is an input/initializer); every tensor a node
    touches has a known dtype; initializers are read-only.
    """
    available: set[str] = {t.name for t in graph.inputs} | set(graph.initializers)
    _check_constants(graph)
    names: set[str] = set()
    for node in graph.nodes:
        if node.name in names:
            raise ModelError(f"graph {graph.name!r}: node name {node.name!r} is used twice")
        names.add(node.name)
        for t in node.inputs:
            if t and t not in available:
                raise ModelError(
                    f"graph {graph.name!r}: input {t!r} of node {node.name!r} ({node.op}) is "
                    "not a graph input, an initializer or an output of an earlier node"
                )
        for t in node.outputs:
            if not t:
                continue
            if t in available:
                raise ModelError(
                    f"graph {graph.name!r}: output {t!r} of node {node.name!r} ({node.op}) is "
                    "produced twice"
                )
            available.add(t)
        _check_dtypes(graph, node.name, (*node.inputs, *node.outputs))
    for out in graph.outputs:
        if out.name not in available:
            raise ModelError(
                f"graph {graph.name!r}: graph output {out.name!r} is produced by no node"
            )
    _check_dtypes(graph, "<graph outputs>", tuple(o.name for o in graph.outputs))


def _check_constants(graph: Graph) -> None:
    inputs = {t.name for t in graph.inputs}
    for name, arr in graph.initializers.items():
        if name in inputs:
            raise ModelError(f"graph {graph.name!r}: {name!r} is both an input and an initializer")
        if arr.flags.writeable:
            raise ModelError(f"graph {graph.name!r}: initializer {name!r} is writeable")


def _check_dtypes(graph: Graph, node: str, names: tuple[str, ...]) -> None:
    for t in names:
        if not t:
            continue
        info = graph.tensors.get(t)
        if info is None or info.dtype == UNKNOWN_DTYPE:
            raise ModelError(
                f"graph {graph.name!r}: tensor {t!r} of node {node!r} has no known dtype"
            )
