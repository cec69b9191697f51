"""layer_costs / MACs on hand-built graphs, each expected value derived independently."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from measure_graphs import graph, node, weights

from edgeslim._core.errors import ModelError
from edgeslim.measure import layer_costs, node_macs, structure_metrics


def _conv_out(size: int, k: int, stride: int, dilation: int, pad: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


@given(
    cin_per_group=st.integers(1, 3),
    cout_per_group=st.integers(1, 3),
    groups=st.integers(1, 3),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    batch=st.integers(1, 4),
)
@settings(max_examples=30, deadline=None)
def test_conv2d_macs_follow_the_textbook_formula(
    cin_per_group: int,
    cout_per_group: int,
    groups: int,
    k: int,
    stride: int,
    dilation: int,
    batch: int,
) -> None:
    cin, cout, h, w, pad = cin_per_group * groups, cout_per_group * groups, 9, 11, 1
    ho, wo = _conv_out(h, k, stride, dilation, pad), _conv_out(w, k, stride, dilation, pad)
    g = graph(
        [
            node(
                "Conv",
                ["x", "W", "B"],
                ["y"],
                group=groups,
                strides=(stride, stride),
                dilations=(dilation, dilation),
                pads=(pad,) * 4,
            )
        ],
        {"x": (None, cin, h, w), "y": (None, cout, ho, wo)},
        ["x"],
        ["y"],
        {"W": weights(cout, cin // groups, k, k), "B": weights(cout)},
    )
    expected = batch * cout * ho * wo * (cin // groups) * k * k
    assert node_macs(g, g.nodes[0], batch) == expected


def test_depthwise_conv1d_macs_and_layer_record() -> None:
    # depthwise 1-D: 6 channels, groups 6, kernel 5, 100 steps (same padding)
    g = graph(
        [node("Conv", ["x", "W"], ["y"], group=6, pads=(2, 2))],
        {"x": (None, 6, 100), "y": (None, 6, 100)},
        ["x"],
        ["y"],
        {"W": weights(6, 1, 5)},
    )
    (cost,) = layer_costs(g)
    assert cost.macs == 6 * 100 * 1 * 5
    assert cost.params == 30
    assert cost.output_bytes == 6 * 100 * 4
    assert cost.op == "Conv"


def test_conv_transpose_macs_count_input_positions() -> None:
    g = graph(
        [node("ConvTranspose", ["x", "W"], ["y"], strides=(2, 2))],
        {"x": (None, 4, 5, 5), "y": (None, 3, 11, 11)},
        ["x"],
        ["y"],
        {"W": weights(4, 3, 3, 3)},
    )
    assert node_macs(g, g.nodes[0], 2) == 2 * 4 * 5 * 5 * 3 * 3 * 3


@pytest.mark.parametrize("trans_a", [0, 1])
def test_gemm_macs(trans_a: int) -> None:
    a_shape = (20, None) if trans_a else (None, 20)
    g = graph(
        [node("Gemm", ["a", "W", "b"], ["y"], transA=trans_a, transB=1)],
        {"a": a_shape, "y": (None, 7)},
        ["a"],
        ["y"],
        {"W": weights(7, 20), "b": weights(7)},
    )
    assert node_macs(g, g.nodes[0], 3) == 3 * 20 * 7


def test_batched_matmul_macs() -> None:
    g = graph(
        [node("MatMul", ["a", "W"], ["y"])],
        {"a": (None, 5, 16), "y": (None, 5, 8)},
        ["a"],
        ["y"],
        {"W": weights(16, 8)},
    )
    assert node_macs(g, g.nodes[0], 4) == 4 * 5 * 16 * 8


@pytest.mark.parametrize(
    ("op", "gates", "directions", "layout"),
    [("GRU", 3, 1, 0), ("GRU", 3, 2, 0), ("LSTM", 4, 1, 0), ("LSTM", 4, 2, 1), ("RNN", 1, 2, 0)],
)
def test_recurrent_macs(op: str, gates: int, directions: int, layout: int) -> None:
    steps, batch, features, hidden = 100, 3, 6, 32
    x_shape = (None, steps, features) if layout else (steps, None, features)
    y_shape = (None, steps, directions, hidden) if layout else (steps, directions, None, hidden)
    g = graph(
        [node(op, ["x", "W", "R", "B"], ["y"], hidden_size=hidden, layout=layout)],
        {"x": x_shape, "y": y_shape},
        ["x"],
        ["y"],
        {
            "W": weights(directions, gates * hidden, features),
            "R": weights(directions, gates * hidden, hidden),
            "B": weights(directions, 2 * gates * hidden),
        },
    )
    # per step, row and direction: one (gates*H x features) and one (gates*H x H) mat-vec
    per_step = gates * hidden * features + gates * hidden * hidden
    assert node_macs(g, g.nodes[0], batch) == steps * batch * directions * per_step


def test_lstm_peepholes_add_three_products_per_hidden_unit() -> None:
    h, f = 4, 3
    inits = {"W": weights(1, 4 * h, f), "R": weights(1, 4 * h, h), "P": weights(1, 3 * h)}
    g = graph(
        [node("LSTM", ["x", "W", "R", "", "", "", "", "P"], ["y"], hidden_size=h)],
        {"x": (10, None, f), "y": (10, 1, None, h)},
        ["x"],
        ["y"],
        inits,
    )
    assert node_macs(g, g.nodes[0], 1) == 10 * (4 * h * f + 4 * h * h + 3 * h)


def test_stacked_layers_sum_and_other_ops_cost_nothing() -> None:
    g = graph(
        [
            node("Conv", ["x", "W1"], ["c1"], pads=(1, 1, 1, 1)),
            node("Relu", ["c1"], ["r1"]),
            node("MaxPool", ["r1"], ["p1"], kernel_shape=(2, 2), strides=(2, 2)),
            node("Add", ["p1", "p1"], ["a1"]),
            node("GlobalAveragePool", ["a1"], ["gp"]),
            node("Flatten", ["gp"], ["f"]),
            node("Gemm", ["f", "W2"], ["y"], transB=1),
        ],
        {
            "x": (None, 1, 8, 8),
            "c1": (None, 4, 8, 8),
            "r1": (None, 4, 8, 8),
            "p1": (None, 4, 4, 4),
            "a1": (None, 4, 4, 4),
            "gp": (None, 4, 1, 1),
            "f": (None, 4),
            "y": (None, 10),
        },
        ["x"],
        ["y"],
        {"W1": weights(4, 1, 3, 3), "W2": weights(10, 4)},
    )
    costs = layer_costs(g)
    by_op = {c.op: c.macs for c in costs}
    assert by_op["Relu"] == by_op["MaxPool"] == by_op["Add"] == by_op["GlobalAveragePool"] == 0
    assert by_op["Conv"] == 4 * 8 * 8 * 1 * 9
    assert by_op["Gemm"] == 4 * 10
    metrics = {m.name: m.value for m in structure_metrics(g)}
    assert metrics["macs"] == sum(c.macs for c in costs) == 4 * 64 * 9 + 40
    assert sum(c.params for c in costs) == metrics["params"] == 36 + 40
    assert [c.output_bytes for c in costs][:3] == [4 * 64 * 4, 4 * 64 * 4, 4 * 16 * 4]


def test_macs_scale_linearly_with_batch() -> None:
    g = graph(
        [node("Gemm", ["a", "W"], ["y"], transB=1)],
        {"a": (None, 8), "y": (None, 2)},
        ["a"],
        ["y"],
        {"W": weights(2, 8)},
    )
    one, many = layer_costs(g, batch=1)[0], layer_costs(g, batch=5)[0]
    assert many.macs == 5 * one.macs
    assert many.output_bytes == 5 * one.output_bytes
    assert many.params == one.params


def test_unknown_shape_raises_naming_the_tensor() -> None:
    g = graph(
        [node("Conv", ["x", "W"], ["y"])],
        {"x": (None, 1, 4, 4)},  # no shape for y
        ["x"],
        ["x"],
        {"W": weights(2, 1, 3, 3)},
    )
    with pytest.raises(ModelError, match="'y'"):
        layer_costs(g)
    with pytest.raises(ModelError, match="batch"):
        layer_costs(g, batch=0)


def test_shared_initializer_counted_once() -> None:
    w = np.ones((3, 3), dtype=np.float32)
    g = graph(
        [node("MatMul", ["x", "W"], ["h"]), node("MatMul", ["h", "W"], ["y"])],
        {"x": (None, 3), "h": (None, 3), "y": (None, 3)},
        ["x"],
        ["y"],
        {"W": w},
    )
    assert [c.params for c in layer_costs(g)] == [9, 0]
