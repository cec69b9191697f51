"""interp.run: feeds, requested tensors, unsupported ops, the frozen registry."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeslim._core.errors import DataError, EdgeslimError, UnsupportedOpError
from edgeslim.ir import from_onnx, interp


def _model(custom: bool = False) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Mul", ["a", "k"], ["y"], name="scale"),
    ]
    if custom:
        nodes[0] = helper.make_node("Swish", ["x"], ["a"], name="swish0", domain="com.example")
        nodes.append(helper.make_node("Fancy", ["y"], ["z"], name="fancy", domain="com.example"))
        nodes.append(helper.make_node("Swish", ["z"], ["w"], name="swish1", domain="com.example"))
    graph = helper.make_graph(
        nodes,
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(2.0, np.float32), "k")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_run_returns_outputs_and_requested_tensors() -> None:
    graph = from_onnx(_model())
    x = np.asarray([[-1.0, 0.5, 2.0]], np.float32)
    assert interp.run(graph, {"x": x})["y"].tolist() == [[0.0, 1.0, 4.0]]
    got = interp.run(graph, {"x": x}, outputs=["a", "k", "x"])
    assert sorted(got) == ["a", "k", "x"]
    assert got["a"].tolist() == [[0.0, 0.5, 2.0]]


def test_feed_errors_name_the_input() -> None:
    graph = from_onnx(_model())
    with pytest.raises(DataError, match="missing input 'x'"):
        interp.run(graph, {})
    with pytest.raises(DataError, match=r"'x'.*shape \('\?', 3\)"):
        interp.run(graph, {"x": np.zeros((2, 4), np.float32)})
    with pytest.raises(DataError, match=r"'x'.*float32.*float64"):
        interp.run(graph, {"x": np.zeros((2, 3))})
    with pytest.raises(DataError, match="no tensor named 'nope'"):
        interp.run(graph, {"x": np.zeros((2, 3), np.float32)}, outputs=["nope"])


def test_unsupported_op_names_op_and_node() -> None:
    graph = from_onnx(_model(custom=True))
    with pytest.raises(UnsupportedOpError) as info:
        interp.run(graph, {"x": np.zeros((1, 3), np.float32)})
    assert info.value.op == "com.example.Swish" and info.value.node == "swish0"
    message = str(info.value)
    assert "'com.example.Swish' (node 'swish0')" in message
    assert "'com.example.Fancy' (node 'fancy')" in message
    assert message.count("Swish") == 1  # each missing op once


def test_single_unsupported_op_message() -> None:
    model = _model()
    model.graph.node[1].op_type = "Mystery"
    with pytest.raises(UnsupportedOpError, match="unsupported op 'Mystery' \\(node 'scale'\\)"):
        interp.check_supported(from_onnx(model))


def test_uncomputed_optional_output_is_unsupported() -> None:
    node = helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2], name="pool")
    graph = helper.make_graph(
        [node],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError, match=r"'MaxPool' \(node 'pool'\).*output 1"):
        interp.run(from_onnx(model), {"x": np.zeros((1, 1, 4), np.float32)})


def test_registry_is_frozen_and_lists_ops() -> None:
    assert {"Conv", "GRU", "LSTM", "QuantizeLinear"} <= set(interp.supported_ops())
    with pytest.raises(RuntimeError, match="frozen"):
        interp.OPS.add("Swish", lambda node, xs, opset: ())
    with pytest.raises(EdgeslimError, match="unknown interpreter op 'Swish'"):
        interp.OPS.get("Swish")


def test_input_of_unknown_rank_takes_any_shape() -> None:
    model = _model()
    model.graph.input[0].type.tensor_type.ClearField("shape")
    graph = from_onnx(model)
    assert graph.inputs[0].shape == ()
    x = np.ones((2, 2, 3), np.float32)
    assert interp.run(graph, {"x": x})["y"].shape == (2, 2, 3)


def test_constant_node_in_a_hand_built_graph() -> None:
    from types import MappingProxyType

    from edgeslim.ir import Graph, Node, TensorInfo

    node = Node("c", "Constant", (), ("y",), MappingProxyType({"value_ints": (1, 2)}))
    y = TensorInfo("y", "int64", (2,))
    graph = Graph("g", (), (y,), (node,), MappingProxyType({}), MappingProxyType({"y": y}))
    out = interp.run(graph, {})["y"]
    assert out.dtype == np.int64 and out.tolist() == [1, 2]
