"""The deploy graph: typed tensors, nodes with ONNX op names, constant initializers.

Built from ONNX (``edgeslim.ir.from_onnx``); after export it is the single source of truth for
interpretation, code generation, memory planning and measurement. Nodes are kept in topological
order. Op names and attribute semantics are ONNX's (opset 17 and newer), so a graph round-trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class QuantParams:
    """Affine quantization ``real = scale * (q - zero_point)``; ``axis`` None = per tensor."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A typed tensor. ``dtype`` is a numpy dtype name (``"float32"``, ``"int8"``, ...).

    ``shape`` entries are ints, or None for a symbolic dimension (the batch).
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    quant: QuantParams | None = None

    @property
    def itemsize(self) -> int:
        return int(np.dtype(self.dtype).itemsize)

    def nbytes(self, batch: int = 1) -> int:
        """Bytes of this tensor with symbolic dimensions set to ``batch``."""
        n = 1
        for d in self.shape:
            n *= batch if d is None else d
        return n * self.itemsize


@dataclass(frozen=True, slots=True)
class Node:
    """One op. ``inputs`` may contain ``""`` for an omitted optional input (ONNX convention)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Graph:
    """A verified, topologically ordered graph.

    ``tensors`` holds the TensorInfo of every value (inputs, initializers, intermediates, outputs);
    ``initializers`` maps constant names to read-only numpy arrays.
    """

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    nodes: tuple[Node, ...]
    initializers: Mapping[str, np.ndarray]
    tensors: Mapping[str, TensorInfo]
    opset: int = 17

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    @property
    def parameter_count(self) -> int:
        return int(sum(a.size for a in self.initializers.values()))
