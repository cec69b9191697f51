"""Hand-built :class:`Graph` records for the measure tests (no ONNX involved)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim.ir.graph import Graph, Node, TensorInfo

Shape = tuple[int | None, ...]


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any) -> Node:
    return Node(
        name=f"{op}_{outputs[0]}",
        op=op,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        attrs=MappingProxyType(dict(attrs)),
    )


def graph(
    nodes: Sequence[Node],
    shapes: Mapping[str, Shape],
    inputs: Sequence[str],
    outputs: Sequence[str],
    inits: Mapping[str, np.ndarray] | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> Graph:
    """A graph whose activations have the given shapes (float32 unless ``dtypes`` says)."""
    inits = {k: np.asarray(v) for k, v in (inits or {}).items()}
    dtypes = dict(dtypes or {})
    tensors: dict[str, TensorInfo] = {}
    for name, shape in shapes.items():
        tensors[name] = TensorInfo(name, dtypes.get(name, "float32"), tuple(shape))
    for name, arr in inits.items():
        tensors[name] = TensorInfo(name, str(arr.dtype), tuple(arr.shape))
    return Graph(
        name="hand",
        inputs=tuple(tensors[n] for n in inputs),
        outputs=tuple(tensors[n] for n in outputs),
        nodes=tuple(nodes),
        initializers=MappingProxyType(inits),
        tensors=MappingProxyType(tensors),
    )


def weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
