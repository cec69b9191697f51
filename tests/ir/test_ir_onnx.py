"""from_onnx / to_onnx: conventions of the graph, Constant folding, ordering, errors."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeslim._core.errors import ModelError
from edgeslim.ir import (
    QuantParams,
    from_onnx,
    interp,
    load_graph,
    to_onnx,
    untyped_tensors,
    verify,
)


def _model(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto] | None = None,
    in_shape: list[int | str] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape or ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits or [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _small_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
    return _model(
        [
            helper.make_node(
                "Constant", [], ["c"], value=numpy_helper.from_array(np.ones(3, np.float32), "c")
            ),
            helper.make_node("MatMul", ["x", "w"], ["t"], name="mm"),
            helper.make_node("Add", ["t", "c"], ["u"]),
            helper.make_node("Relu", ["u"], ["y"], name="act"),
        ],
        [w],
    )


def test_constants_become_read_only_initializers() -> None:
    graph = from_onnx(_small_model())
    assert "c" in graph.initializers and "w" in graph.initializers
    assert all(n.op != "Constant" for n in graph.nodes)
    assert all(not a.flags.writeable for a in graph.initializers.values())
    with pytest.raises(ValueError):
        graph.initializers["w"][0, 0] = 5.0
    assert graph.parameter_count == 15


def test_types_shapes_and_names() -> None:
    graph = from_onnx(_small_model())
    assert graph.inputs[0].shape == (None, 4) and graph.inputs[0].dtype == "float32"
    assert graph.tensors["t"].shape == (None, 3)
    assert graph.tensors["y"].dtype == "float32"
    assert [n.name for n in graph.nodes] == ["mm", "Add_2", "act"]
    assert graph.opset == 17
    assert untyped_tensors(graph) == []


def test_unsorted_nodes_are_sorted_stably() -> None:
    model = _small_model()
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend([nodes[3], nodes[2], nodes[0], nodes[1]])
    graph = from_onnx(model)
    assert [n.op for n in graph.nodes] == ["MatMul", "Add", "Relu"]
    verify(graph)


def test_cycle_is_a_model_error() -> None:
    model = _model(
        [
            helper.make_node("Relu", ["z"], ["w"], name="a"),
            helper.make_node("Add", ["x", "w"], ["z"], name="b"),
            helper.make_node("Relu", ["z"], ["y"], name="c"),
        ]
    )
    with pytest.raises(ModelError, match="cycle"):
        from_onnx(model)


def test_attributes_are_plain_read_only_values() -> None:
    t = numpy_helper.from_array(np.asarray([3], np.int64), "v")
    model = _model(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0], name="tr"),
            helper.make_node("LeakyRelu", ["t"], ["u"], alpha=0.5, name="lr"),
            helper.make_node("Pad", ["u", "p"], ["y"], mode="reflect", name="pad"),
            helper.make_node("ConstantOfShape", ["s"], ["z"], value=t, name="cs"),
        ],
        [
            numpy_helper.from_array(np.asarray([0, 0, 0, 0], np.int64), "p"),
            numpy_helper.from_array(np.asarray([2], np.int64), "s"),
        ],
    )
    nodes = {n.name: n for n in from_onnx(model).nodes}
    assert isinstance(nodes["tr"].attrs, MappingProxyType)
    assert nodes["tr"].attrs["perm"] == (1, 0)
    assert nodes["lr"].attrs["alpha"] == pytest.approx(0.5)
    assert nodes["pad"].attrs["mode"] == "reflect"
    value = nodes["cs"].attrs["value"]
    assert isinstance(value, np.ndarray) and value.tolist() == [3] and not value.flags.writeable


def test_dtypes_map_to_numpy_names() -> None:
    model = _model(
        [
            helper.make_node("Cast", ["x"], ["a"], to=TensorProto.INT8),
            helper.make_node("Cast", ["a"], ["b"], to=TensorProto.FLOAT16),
            helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT),
        ]
    )
    graph = from_onnx(model)
    assert graph.tensors["a"].dtype == "int8"
    assert graph.tensors["b"].dtype == "float16"
    x = np.asarray([[1.6, -2.2, 3.0, 0.0]], np.float32)
    np.testing.assert_array_equal(interp.run(graph, {"x": x})["y"], [[1, -2, 3, 0]])


def test_custom_domain_op_keeps_domain_and_unknown_type() -> None:
    node = helper.make_node("Gelu", ["x"], ["g"], name="g", domain="com.example")
    model = _model([node, helper.make_node("Relu", ["g"], ["y"])])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    graph = from_onnx(model)
    assert graph.nodes[0].op == "com.example.Gelu"
    assert graph.tensors["g"].dtype == ""
    assert "g" in untyped_tensors(graph)
    back = to_onnx(graph)
    assert back.graph.node[0].domain == "com.example"
    assert back.graph.node[0].op_type == "Gelu"


def test_quant_params_are_attached_to_quantized_tensors() -> None:
    inits = [
        numpy_helper.from_array(np.asarray(0.5, np.float32), "s"),
        numpy_helper.from_array(np.asarray(3, np.int8), "z"),
        numpy_helper.from_array(np.asarray([0.1, 0.2, 0.3, 0.4], np.float32), "sc"),
        numpy_helper.from_array(np.zeros(4, np.int8), "zc"),
    ]
    model = _model(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
            helper.make_node("QuantizeLinear", ["d", "sc", "zc"], ["q2"], axis=1),
            helper.make_node("DequantizeLinear", ["q2", "sc", "zc"], ["y"], axis=1),
        ],
        inits,
    )
    graph = from_onnx(model)
    assert graph.tensors["q"].quant == QuantParams((0.5,), (3,), None)
    q2 = graph.tensors["q2"].quant
    assert q2 is not None and q2.axis == 1 and q2.zero_point == (0, 0, 0, 0)
    assert q2.scale == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert graph.tensors["q"].dtype == "int8" and graph.tensors["d"].quant is None


def test_round_trip_preserves_the_graph(tmp_path: Path) -> None:
    graph = from_onnx(_small_model())
    again = from_onnx(to_onnx(graph))
    assert again.nodes == graph.nodes
    assert again.tensors == graph.tensors
    assert again.inputs == graph.inputs and again.outputs == graph.outputs
    assert set(again.initializers) == set(graph.initializers)
    for k, v in graph.initializers.items():
        np.testing.assert_array_equal(again.initializers[k], v)
    path = tmp_path / "rt.onnx"
    onnx.save(to_onnx(graph), str(path))
    onnx.checker.check_model(str(path))
    assert load_graph(path).nodes == graph.nodes


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.onnx"
    with pytest.raises(ModelError, match=r"absent\.onnx"):
        from_onnx(path)
    with pytest.raises(ModelError, match=r"absent\.onnx"):
        load_graph(path)


@pytest.mark.parametrize("payload", [b"\x00\x01garbage\xff\xff", b"hello world", b""])
def test_corrupt_bytes_name_the_file(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(payload)
    with pytest.raises(ModelError, match=r"corrupt\.onnx"):
        from_onnx(path)


def test_truncated_model_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.onnx"
    data = _small_model().SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        from_onnx(path)


def test_open_dimensions_are_filled_by_running_the_graph() -> None:
    """A shape computed through Cast/Mul defeats ONNX data propagation; two runs fill it."""
    model = _model(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["sf", "one_f"], ["sh"]),
            helper.make_node("Cast", ["sh"], ["si"], to=TensorProto.INT64),
            helper.make_node("Slice", ["si", "one", "two"], ["k"]),
            helper.make_node("Concat", ["minus_one", "k"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ],
        [
            numpy_helper.from_array(np.asarray([1.0], np.float32), "one_f"),
            numpy_helper.from_array(np.asarray([1], np.int64), "one"),
            numpy_helper.from_array(np.asarray([2], np.int64), "two"),
            numpy_helper.from_array(np.asarray([-1], np.int64), "minus_one"),
        ],
    )
    assert from_onnx(model, refine_shapes=False).tensors["y"].shape == (None, None)
    graph = from_onnx(model)
    assert graph.tensors["y"].shape == (None, 4)
    assert graph.tensors["shape"].shape == (2,)
