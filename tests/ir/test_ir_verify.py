"""verify(): well-formed graphs pass; each defect raises ModelError naming node and tensor."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from edgeslim._core.errors import ModelError
from edgeslim.ir import Graph, Node, TensorInfo, verify


def _graph(
    nodes: list[Node],
    *,
    tensors: dict[str, TensorInfo] | None = None,
    outputs: tuple[str, ...] = ("y",),
    inits: dict[str, np.ndarray] | None = None,
) -> Graph:
    all_tensors = {
        name: TensorInfo(name, "float32", (None, 4)) for name in ("x", "a", "b", "y", "w", "ghost")
    }
    all_tensors.update(tensors or {})
    arrays = {}
    for k, v in (inits or {}).items():
        v.setflags(write=k == "writeable")
        arrays[k] = v
    return Graph(
        name="g",
        inputs=(all_tensors["x"],),
        outputs=tuple(all_tensors[o] for o in outputs),
        nodes=tuple(nodes),
        initializers=MappingProxyType(arrays),
        tensors=MappingProxyType(all_tensors),
    )


def _node(name: str, op: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Node:
    return Node(name, op, inputs, outputs)


def test_well_formed_graph_passes() -> None:
    g = _graph(
        [
            _node("n1", "Relu", ("x",), ("a",)),
            _node("n2", "Add", ("a", "w"), ("y",)),
            _node("n3", "Clip", ("y", "", ""), ("b",)),
        ],
        inits={"w": np.ones(4, np.float32)},
    )
    verify(g)  # raises on failure
    assert g.producer("y") is g.nodes[1]
    assert [n.name for n in g.consumers("y")] == ["n3"]


def test_dangling_input_names_node_and_tensor() -> None:
    g = _graph([_node("n1", "Add", ("x", "ghost"), ("y",))])
    with pytest.raises(ModelError, match=r"'ghost'.*'n1'"):
        verify(g)


def test_input_produced_later_is_dangling() -> None:
    g = _graph([_node("n1", "Relu", ("a",), ("y",)), _node("n2", "Relu", ("x",), ("a",))])
    with pytest.raises(ModelError, match=r"'a'.*'n1'"):
        verify(g)


def test_tensor_produced_twice() -> None:
    g = _graph([_node("n1", "Relu", ("x",), ("y",)), _node("n2", "Relu", ("x",), ("y",))])
    with pytest.raises(ModelError, match=r"'y'.*'n2'.*twice"):
        verify(g)


def test_output_shadowing_an_input() -> None:
    g = _graph([_node("n1", "Relu", ("x",), ("x",))], outputs=("x",))
    with pytest.raises(ModelError, match=r"'x'.*'n1'"):
        verify(g)


def test_duplicate_node_names() -> None:
    g = _graph([_node("n1", "Relu", ("x",), ("a",)), _node("n1", "Relu", ("a",), ("y",))])
    with pytest.raises(ModelError, match="'n1' is used twice"):
        verify(g)


def test_graph_output_not_produced() -> None:
    g = _graph([_node("n1", "Relu", ("x",), ("a",))], outputs=("y",))
    with pytest.raises(ModelError, match="graph output 'y'"):
        verify(g)


def test_unknown_dtype() -> None:
    g = _graph(
        [_node("n1", "Relu", ("x",), ("a",)), _node("n2", "Relu", ("a",), ("y",))],
        tensors={"a": TensorInfo("a", "", ())},
    )
    with pytest.raises(ModelError, match=r"'a'.*'n1'.*dtype"):
        verify(g)


def test_missing_tensor_info() -> None:
    g = _graph([_node("n1", "Relu", ("x",), ("y",))])
    g = dataclasses.replace(g, tensors=MappingProxyType({"x": g.tensors["x"]}))
    with pytest.raises(ModelError, match=r"'y'.*'n1'"):
        verify(g)


def test_writeable_initializer() -> None:
    g = _graph(
        [_node("n1", "Add", ("x", "writeable"), ("y",))],
        tensors={"writeable": TensorInfo("writeable", "float32", (4,))},
        inits={"writeable": np.ones(4, np.float32)},
    )
    with pytest.raises(ModelError, match="'writeable' is writeable"):
        verify(g)
