"""Peak activation memory from lifetimes: chains, branches, outputs, batch, random DAGs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from measure_graphs import graph, node, weights

from edgeslim._core.errors import ModelError
from edgeslim._core.records import Provenance
from edgeslim.ir.graph import Graph
from edgeslim.measure import peak_activation_memory, tensor_lifetimes


def _chain() -> Graph:
    # x(100 floats) -> a(50) -> b(200) -> y(10); one producer after the other
    return graph(
        [
            node("Relu", ["x"], ["a"]),
            node("Relu", ["a"], ["b"]),
            node("Relu", ["b"], ["y"]),
        ],
        {"x": (None, 100), "a": (None, 50), "b": (None, 200), "y": (None, 10)},
        ["x"],
        ["y"],
    )


def test_chain_peak_is_largest_neighbouring_pair() -> None:
    p = peak_activation_memory(_chain())
    # step0: x+a, step1: a+b, step2: b+y (x dead after step 0)
    assert p.curve == (4 * 150, 4 * 250, 4 * 210)
    assert p.peak_bytes == 1000
    assert p.peak_step == 1
    assert set(p.live_at_peak) == {"a", "b"}
    (metric,) = p.metrics()
    assert (metric.name, metric.unit, metric.value) == ("peak_activation_bytes", "B", 1000)
    assert metric.provenance is Provenance.COMPUTED


def test_branch_keeps_the_fork_input_alive() -> None:
    # x -> a ; x -> b ; a + b -> y : x stays live until b is computed
    g = graph(
        [
            node("Relu", ["x"], ["a"]),
            node("Sigmoid", ["x"], ["b"]),
            node("Add", ["a", "b"], ["y"]),
        ],
        {"x": (None, 10), "a": (None, 10), "b": (None, 10), "y": (None, 10)},
        ["x"],
        ["y"],
    )
    p = peak_activation_memory(g, batch=2)
    assert p.curve == (2 * 4 * 20, 2 * 4 * 30, 2 * 4 * 30)
    assert p.peak_bytes == 240
    assert tensor_lifetimes(g) == {"x": (0, 1), "a": (0, 2), "b": (1, 2), "y": (2, 2)}
    assert p.metrics()[0].context == "b2"


def test_outputs_live_to_the_end_and_initializers_are_excluded() -> None:
    # an early output (a) stays live to the end; the 1000-float weight never counts
    g = graph(
        [
            node("MatMul", ["x", "W"], ["a"]),
            node("Relu", ["a"], ["b"]),
            node("Relu", ["b"], ["c"]),
        ],
        {"x": (None, 1000), "a": (None, 1), "b": (None, 1), "c": (None, 1)},
        ["x"],
        ["a", "c"],
        {"W": weights(1000, 1)},
    )
    p = peak_activation_memory(g)
    assert p.curve == (4 * 1001, 4 * 2, 4 * 3)
    assert tensor_lifetimes(g)["a"] == (0, 2)
    assert "W" not in tensor_lifetimes(g)


def test_dtype_sizes_are_respected() -> None:
    g = graph(
        [node("QuantizeLinear", ["x", "s", "z"], ["q"])],
        {"x": (None, 64), "q": (None, 64)},
        ["x"],
        ["q"],
        {"s": weights(1), "z": weights(1).astype("int8")},
        dtypes={"q": "int8"},
    )
    assert peak_activation_memory(g).peak_bytes == 64 * 4 + 64


def test_unknown_dtype_raises_naming_the_tensor() -> None:
    g = graph(
        [node("Relu", ["x"], ["y"])],
        {"x": (None, 4), "y": (None, 4)},
        ["x"],
        ["y"],
        dtypes={"y": ""},
    )
    with pytest.raises(ModelError, match="'y'"):
        peak_activation_memory(g)


@st.composite
def _random_dag(draw: st.DrawFn) -> tuple[Graph, list[int], list[list[int]]]:
    """Random topologically ordered DAG of unary/binary elementwise nodes."""
    n = draw(st.integers(1, 8))
    sizes = [draw(st.integers(1, 50)) for _ in range(n + 1)]  # tensor i: 0 = input
    edges: list[list[int]] = []
    nodes = []
    for i in range(1, n + 1):
        k = draw(st.integers(1, min(2, i)))
        srcs = draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k, unique=True))
        edges.append(srcs)
        nodes.append(node("Add" if k == 2 else "Relu", [f"t{s}" for s in srcs], [f"t{i}"]))
    shapes = {f"t{i}": (None, s) for i, s in enumerate(sizes)}
    return graph(nodes, shapes, ["t0"], [f"t{n}"]), sizes, edges


@given(_random_dag())
@settings(max_examples=60, deadline=None)
def test_curve_matches_brute_force_lifetimes(
    dag: tuple[Graph, list[int], list[list[int]]],
) -> None:
    g, sizes, edges = dag
    n = len(edges)
    curve = []
    for step in range(n):  # step s runs node s, which produces tensor s + 1
        live = 0
        for t, size in enumerate(sizes):
            first = 0 if t == 0 else t - 1
            users = [j for j, srcs in enumerate(edges) if t in srcs]
            last = n - 1 if t == n else max(users, default=first)
            if first <= step <= last:
                live += 4 * size
        curve.append(live)
    p = peak_activation_memory(g)
    assert p.curve == tuple(curve)
    assert p.peak_bytes == max(curve)
    # bounds: at least one node's inputs and outputs, at most everything at once
    assert p.peak_bytes <= 4 * sum(sizes)
    assert p.peak_bytes >= 4 * (sizes[0] + sizes[1])
