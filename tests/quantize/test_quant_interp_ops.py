"""The interpreter's integer ops (DynamicQuantizeLinear, MatMulInteger, ConvInteger,
QLinearMatMul, QLinearConv) and int4 Q/DQ agree with onnxruntime bit for bit, op by op and on
whole models quantized by onnxruntime's own tools."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeslim import ir
from edgeslim.ir import interp


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts)
    return list(sess.run(None, feeds))


def _model(
    node: onnx.NodeProto,
    inputs: dict[str, np.ndarray],
    consts: dict[str, np.ndarray],
    outputs: list[tuple[str, int]],
    opset: int = 21,
) -> onnx.ModelProto:
    def info(name: str, a: np.ndarray) -> Any:
        dt = helper.np_dtype_to_tensor_dtype(a.dtype)
        return helper.make_tensor_value_info(name, dt, list(a.shape))

    g = helper.make_graph(
        [node],
        "g",
        [info(k, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(n, t, None) for n, t in outputs],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _ours(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    g = ir.from_onnx(model)
    out = interp.run(g, feeds)
    return [out[o.name] for o in g.outputs]


def _same(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    for a, b in zip(_ours(model, feeds), _ort(model, feeds), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_dynamic_quantize_linear(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(4, 33)) * rng.uniform(0.1, 10)).astype(np.float32)
    if seed == 2:
        x = np.abs(x)  # all positive: zero point 0
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    outs = [("y", TensorProto.UINT8), ("s", TensorProto.FLOAT), ("z", TensorProto.UINT8)]
    _same(_model(node, {"x": x}, {}, outs), {"x": x})


@pytest.mark.parametrize("dtypes", [(np.uint8, np.int8), (np.int8, np.int8), (np.uint8, np.uint8)])
@pytest.mark.parametrize("per_column", [False, True])
def test_matmul_integer(dtypes: tuple[Any, Any], per_column: bool) -> None:
    rng = np.random.default_rng(0)
    ta, tb = dtypes
    a = rng.integers(np.iinfo(ta).min, np.iinfo(ta).max, size=(5, 16)).astype(ta)
    b = rng.integers(np.iinfo(tb).min, np.iinfo(tb).max, size=(16, 7)).astype(tb)
    az = np.asarray(3, ta)
    bz = rng.integers(-3, 4, size=7).astype(tb) if per_column else np.asarray(1, tb)
    if tb == np.uint8:
        bz = np.abs(bz.astype(np.int64)).astype(tb)
    node = helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
    m = _model(node, {"a": a}, {"b": b, "az": az, "bz": bz}, [("y", TensorProto.INT32)])
    _same(m, {"a": a})


@pytest.mark.parametrize("group", [1, 4])
def test_conv_integer(group: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(2, 4, 7, 7)).astype(np.uint8)
    w = rng.integers(-128, 128, size=(8, 4 // group, 3, 3)).astype(np.int8)
    node = helper.make_node(
        "ConvInteger", ["x", "w", "xz"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1], group=group
    )
    m = _model(node, {"x": x}, {"w": w, "xz": np.asarray(7, np.uint8)}, [("y", TensorProto.INT32)])
    _same(m, {"x": x})


def test_qlinear_matmul() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, size=(6, 20)).astype(np.int8)
    b = rng.integers(-128, 128, size=(20, 5)).astype(np.int8)
    consts = {
        "as": np.asarray(0.02, np.float32),
        "az": np.asarray(-3, np.int8),
        "b": b,
        "bs": np.asarray(0.011, np.float32),
        "bz": np.asarray(0, np.int8),
        "ys": np.asarray(0.9, np.float32),
        "yz": np.asarray(5, np.int8),
    }
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    _same(_model(node, {"a": a}, consts, [("y", TensorProto.INT8)]), {"a": a})


@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv(per_channel: bool) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(2, 3, 9, 9)).astype(np.uint8)
    w = rng.integers(-127, 128, size=(6, 3, 3, 3)).astype(np.int8)
    ws = rng.uniform(0.001, 0.01, size=6 if per_channel else ()).astype(np.float32)
    consts = {
        "xs": np.asarray(0.05, np.float32),
        "xz": np.asarray(128, np.uint8),
        "w": w,
        "ws": ws,
        "wz": np.zeros(6 if per_channel else (), np.int8),
        "ys": np.asarray(0.2, np.float32),
        "yz": np.asarray(100, np.uint8),
        "bias": rng.integers(-5000, 5000, size=6).astype(np.int32),
    }
    node = helper.make_node(
        "QLinearConv",
        ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"],
        ["y"],
        pads=[1, 1, 1, 1],
    )
    _same(_model(node, {"x": x}, consts, [("y", TensorProto.UINT8)]), {"x": x})


@pytest.mark.parametrize("dtype", [TensorProto.INT4, TensorProto.UINT4])
def test_int4_quantize_dequantize(dtype: int) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 10)).astype(np.float32) * 3
    zp = helper.make_tensor("z", dtype, [], [1 if dtype == TensorProto.INT4 else 8])
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"])
    dq = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])
    g = helper.make_graph(
        [q, dq],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(0.5, np.float32), "s"), zp],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    _same(m, {"x": x})  # onnxruntime cannot hand int4 codes to numpy: compare DQ(Q(x))
    codes = interp.run(ir.from_onnx(m), {"x": x}, outputs=["q"])["q"]
    assert codes.dtype.name == ("int4" if dtype == TensorProto.INT4 else "uint4")
    assert len(np.unique(codes.astype(np.int64))) > 8  # the range is used, and saturates


def _float_mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(5)
    w1 = rng.normal(size=(12, 16)).astype(np.float32) * 0.3
    w2 = rng.normal(size=(16, 4)).astype(np.float32) * 0.3
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_dynamic_quantization_runs_bit_exactly(per_channel: bool) -> None:
    from edgeslim.passes.quantize._simple import dynamic_quantize

    q = dynamic_quantize(_float_mlp(), per_channel, False)
    ops = {n.op_type for n in q.graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    x = np.random.default_rng(6).normal(size=(9, 12)).astype(np.float32)
    _same(q, {"x": x})


def test_onnxruntime_qoperator_model_runs_bit_exactly(tmp_path: Any) -> None:
    """onnxruntime's quantize_static in QOperator format (QLinearMatMul and friends)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    rng = np.random.default_rng(7)
    calib = [rng.normal(size=(4, 12)).astype(np.float32) for _ in range(4)]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {"x": x}

    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_float_mlp(), str(src))
    quantize_static(
        src,
        dst,
        Reader(),
        quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )
    q = onnx.load(str(dst))
    assert "QLinearMatMul" in {n.op_type for n in q.graph.node}
    _same(q, {"x": rng.normal(size=(9, 12)).astype(np.float32)})
