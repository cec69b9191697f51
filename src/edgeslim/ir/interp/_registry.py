"""The op registry of the numpy interpreter and helpers shared by op implementations.

An op implementation is ``fn(node, inputs, opset) -> tuple of arrays``: ``inputs`` holds one
array per node input (``None`` for an omitted optional input, ONNX's ``""``), ``opset`` is the
graph's default-domain opset (semantics of some attributes changed between opsets). It returns
the node's outputs in ONNX order; trailing optional outputs it does not compute may be left off,
and :func:`edgeslim.ir.interp.run` raises :class:`UnsupportedOpError` if the graph uses one.
Implementations are pure: they never modify their inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim._core.registry import Registry
from edgeslim.ir.graph import Node

Inputs = Sequence[np.ndarray | None]
Outputs = tuple[np.ndarray, ...]
OpFn = Callable[[Node, Inputs, int], Outputs]

WHERE = "the numpy interpreter"

OPS: Registry[OpFn] = Registry("interpreter op")


def register(*names: str) -> Callable[[OpFn], OpFn]:
    """Register ``fn`` under each ONNX op name in ``names``."""

    def deco(fn: OpFn) -> OpFn:
        for name in names:
            OPS.add(name, fn)
        return fn

    return deco


def need(node: Node, xs: Inputs, i: int) -> np.ndarray:
    """Input ``i`` of ``node``; an :class:`UnsupportedOpError` if it is missing."""
    x = xs[i] if i < len(xs) else None
    if x is None:
        raise UnsupportedOpError(node.op, node.name, f"{WHERE} (required input {i} is missing)")
    return x


def opt(xs: Inputs, i: int) -> np.ndarray | None:
    """Optional input ``i`` (None when omitted)."""
    return xs[i] if i < len(xs) else None


def ints(node: Node, key: str, default: Sequence[int] | None = None) -> list[int] | None:
    v = node.attrs.get(key)
    if v is None:
        return None if default is None else list(default)
    return [int(a) for a in v]


def attr(node: Node, key: str, default: Any) -> Any:
    return node.attrs.get(key, default)


def unsupported(node: Node, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.op, node.name, f"{WHERE} ({why})")


def int_list(a: np.ndarray | None) -> list[int] | None:
    return None if a is None else [int(v) for v in np.asarray(a).reshape(-1)]


def axes_from(node: Node, xs: Inputs, index: int) -> list[int] | None:
    """Axes given as input ``index`` (newer opsets) or as the ``axes`` attribute."""
    from_input = int_list(opt(xs, index))
    return from_input if from_input is not None else ints(node, "axes")
