"""Each op the interpreter registers, on fixed random inputs, against onnxruntime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgeslim.ir import interp

CheckOp = Callable[..., list[np.ndarray]]
RNG = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# (id, op, feeds, consts, attrs, opset, n_outputs)
CASES: list[tuple[str, str, dict[str, np.ndarray], dict[str, Any], dict[str, Any], int, int]] = [
    ("add-broadcast", "Add", {"a": f32(2, 3), "b": f32(3)}, {}, {}, 17, 1),
    ("sub", "Sub", {"a": f32(2, 3), "b": f32(2, 1)}, {}, {}, 17, 1),
    ("mul", "Mul", {"a": f32(4), "b": f32(1)}, {}, {}, 17, 1),
    ("div", "Div", {"a": f32(3, 2), "b": f32(2) + 3}, {}, {}, 17, 1),
    ("div-int", "Div", {"a": i64(7, -7, 6, -5), "b": i64(2, 2, -4, -3)}, {}, {}, 17, 1),
    ("pow", "Pow", {"a": np.abs(f32(5)) + 0.1, "b": f32(5)}, {}, {}, 17, 1),
    ("max", "Max", {"a": f32(3), "b": f32(3), "c": f32(3)}, {}, {}, 17, 1),
    ("relu", "Relu", {"x": f32(2, 5)}, {}, {}, 17, 1),
    ("sigmoid", "Sigmoid", {"x": f32(2, 5) * 8}, {}, {}, 17, 1),
    ("tanh", "Tanh", {"x": f32(2, 5) * 3}, {}, {}, 17, 1),
    ("exp", "Exp", {"x": f32(6)}, {}, {}, 17, 1),
    ("sqrt", "Sqrt", {"x": np.abs(f32(6))}, {}, {}, 17, 1),
    ("erf", "Erf", {"x": f32(6)}, {}, {}, 17, 1),
    (
        "round-half-even",
        "Round",
        {"x": np.float32([0.5, 1.5, 2.5, -0.5, -1.5, 0.4])},
        {},
        {},
        17,
        1,
    ),
    ("leaky-relu", "LeakyRelu", {"x": f32(8)}, {}, {"alpha": 0.2}, 17, 1),
    ("hard-sigmoid", "HardSigmoid", {"x": f32(8) * 4}, {}, {}, 17, 1),
    ("hard-swish", "HardSwish", {"x": f32(8) * 4}, {}, {}, 17, 1),
    ("elu", "Elu", {"x": f32(8)}, {}, {"alpha": 0.7}, 17, 1),
    ("gelu", "Gelu", {"x": f32(8)}, {}, {}, 20, 1),
    (
        "clip-11",
        "Clip",
        {"x": f32(9)},
        {"lo": np.asarray(-0.3, np.float32), "hi": None},
        {},
        11,
        1,
    ),
    ("clip-6", "Clip", {"x": f32(9)}, {}, {"min": -0.5, "max": 0.25}, 6, 1),
    ("cast-int", "Cast", {"x": f32(7) * 5}, {}, {"to": TensorProto.INT32}, 17, 1),
    ("cast-bool", "Cast", {"x": f32(7)}, {}, {"to": TensorProto.BOOL}, 17, 1),
    ("softmax-11", "Softmax", {"x": f32(2, 3, 4)}, {}, {"axis": 1}, 11, 1),
    ("log-softmax", "LogSoftmax", {"x": f32(2, 3, 4)}, {}, {"axis": 1}, 17, 1),
    ("reduce-mean-17", "ReduceMean", {"x": f32(2, 3, 4)}, {}, {"axes": [1, -1]}, 17, 1),
    (
        "reduce-mean-18",
        "ReduceMean",
        {"x": f32(2, 3, 4)},
        {"axes": i64(2)},
        {"keepdims": 0},
        18,
        1,
    ),
    ("reduce-sum-13", "ReduceSum", {"x": f32(2, 3, 4)}, {"axes": i64(0)}, {}, 13, 1),
    ("reduce-max-all", "ReduceMax", {"x": f32(2, 3)}, {}, {"keepdims": 0}, 17, 1),
    ("argmax", "ArgMax", {"x": f32(3, 4)}, {}, {"axis": 1, "keepdims": 0}, 17, 1),
    ("where", "Where", {"c": f32(4) > 0, "a": f32(4), "b": f32(4)}, {}, {}, 17, 1),
    ("equal", "Equal", {"a": i64(1, 2, 3), "b": i64(1, 0, 3)}, {}, {}, 17, 1),
    ("matmul-batched", "MatMul", {"a": f32(2, 3, 4), "b": f32(4, 5)}, {}, {}, 17, 1),
    ("matmul-vec", "MatMul", {"a": f32(4), "b": f32(2, 4, 3)}, {}, {}, 17, 1),
    (
        "conv-same-upper",
        "Conv",
        {"x": f32(1, 2, 5, 6)},
        {"w": f32(3, 2, 3, 2)},
        {"auto_pad": "SAME_UPPER", "strides": [2, 1]},
        17,
        1,
    ),
    (
        "conv-same-lower",
        "Conv",
        {"x": f32(1, 2, 6)},
        {"w": f32(2, 2, 4)},
        {"auto_pad": "SAME_LOWER"},
        17,
        1,
    ),
    (
        "conv-depthwise",
        "Conv",
        {"x": f32(2, 4, 7)},
        {"w": f32(4, 1, 3), "b": f32(4)},
        {"group": 4, "pads": [1, 1]},
        17,
        1,
    ),
    ("global-avg-1d", "GlobalAveragePool", {"x": f32(2, 3, 7)}, {}, {}, 17, 1),
    ("global-max", "GlobalMaxPool", {"x": f32(2, 3, 4, 4)}, {}, {}, 17, 1),
    (
        "max-pool-dilated",
        "MaxPool",
        {"x": f32(1, 2, 9, 9)},
        {},
        {"kernel_shape": [2, 2], "dilations": [2, 2]},
        17,
        1,
    ),
    (
        "batchnorm",
        "BatchNormalization",
        {"x": f32(2, 3, 4)},
        {"s": f32(3), "b": f32(3), "m": f32(3), "v": np.abs(f32(3)) + 0.5},
        {"epsilon": 1e-3},
        17,
        1,
    ),
    (
        "layernorm",
        "LayerNormalization",
        {"x": f32(2, 3, 4)},
        {"s": f32(4), "b": f32(4)},
        {},
        17,
        1,
    ),
    ("flatten-0", "Flatten", {"x": f32(2, 3, 4)}, {}, {"axis": 0}, 17, 1),
    ("flatten-2", "Flatten", {"x": f32(2, 3, 4)}, {}, {"axis": -1}, 17, 1),
    ("reshape-zero", "Reshape", {"x": f32(2, 3, 4)}, {"s": i64(0, -1)}, {}, 17, 1),
    ("transpose", "Transpose", {"x": f32(2, 3, 4)}, {}, {"perm": [2, 0, 1]}, 17, 1),
    ("transpose-default", "Transpose", {"x": f32(2, 3, 4)}, {}, {}, 17, 1),
    ("squeeze-11", "Squeeze", {"x": f32(1, 3, 1)}, {}, {"axes": [0]}, 11, 1),
    ("squeeze-13", "Squeeze", {"x": f32(1, 3, 1)}, {"a": i64(-1)}, {}, 13, 1),
    ("squeeze-all", "Squeeze", {"x": f32(1, 3, 1)}, {}, {}, 13, 1),
    ("unsqueeze-11", "Unsqueeze", {"x": f32(3, 2)}, {}, {"axes": [0, 3]}, 11, 1),
    ("unsqueeze-13", "Unsqueeze", {"x": f32(3, 2)}, {"a": i64(-1, 1)}, {}, 13, 1),
    ("concat", "Concat", {"a": f32(2, 3), "b": f32(2, 1)}, {}, {"axis": -1}, 17, 1),
    (
        "slice-neg-step",
        "Slice",
        {"x": f32(5, 6)},
        {"s": i64(-1, 4), "e": i64(-100, 0), "a": i64(0, 1), "t": i64(-2, -1)},
        {},
        17,
        1,
    ),
    (
        "slice-clamp",
        "Slice",
        {"x": f32(5, 6)},
        {"s": i64(1), "e": i64(2**62), "a": i64(-1)},
        {},
        17,
        1,
    ),
    ("slice-9", "Slice", {"x": f32(5, 6)}, {}, {"starts": [1, 0], "ends": [3, -1]}, 9, 1),
    ("gather-neg", "Gather", {"x": f32(4, 3)}, {"i": i64(-1, 0, 2)}, {"axis": 0}, 17, 1),
    (
        "gather-scalar",
        "Gather",
        {"x": f32(4, 3)},
        {"i": np.asarray(1, np.int64)},
        {"axis": 1},
        17,
        1,
    ),
    ("shape", "Shape", {"x": f32(2, 3, 4)}, {}, {}, 17, 1),
    ("shape-slice", "Shape", {"x": f32(2, 3, 4)}, {}, {"start": 1, "end": -1}, 17, 1),
    ("size", "Size", {"x": f32(2, 3, 4)}, {}, {}, 17, 1),
    (
        "pad-constant",
        "Pad",
        {"x": f32(2, 3)},
        {"p": i64(1, 0, 2, 1), "v": np.asarray(1.5, np.float32)},
        {},
        17,
        1,
    ),
    ("pad-negative", "Pad", {"x": f32(4, 5)}, {"p": i64(-1, 2, 0, -2)}, {}, 17, 1),
    (
        "pad-reflect",
        "Pad",
        {"x": f32(1, 2, 5)},
        {"p": i64(0, 0, 2, 0, 0, 3)},
        {"mode": "reflect"},
        17,
        1,
    ),
    (
        "pad-edge",
        "Pad",
        {"x": f32(1, 2, 5)},
        {"p": i64(0, 0, 1, 0, 0, 2)},
        {"mode": "edge"},
        17,
        1,
    ),
    ("pad-axes", "Pad", {"x": f32(2, 3)}, {"p": i64(1, 2), "v": None, "a": i64(-1)}, {}, 18, 1),
    ("identity", "Identity", {"x": f32(3)}, {}, {}, 17, 1),
    (
        "constant-of-shape",
        "ConstantOfShape",
        {"s": i64(2, 3)},
        {},
        {"value": helper.make_tensor("v", TensorProto.INT64, [1], [7])},
        17,
        1,
    ),
    ("constant-of-shape-default", "ConstantOfShape", {"s": i64(3)}, {}, {}, 17, 1),
    ("expand", "Expand", {"x": f32(3, 1)}, {"s": i64(2, 1, 4)}, {}, 17, 1),
    ("tile", "Tile", {"x": f32(2, 3)}, {"r": i64(2, 1)}, {}, 17, 1),
    (
        "range",
        "Range",
        {"a": np.asarray(1.0, np.float32)},
        {"l": np.asarray(4.0, np.float32), "d": np.asarray(0.5, np.float32)},
        {},
        17,
        1,
    ),
    ("split-even", "Split", {"x": f32(6, 2)}, {}, {"axis": 0}, 17, 3),
    ("split-sizes", "Split", {"x": f32(2, 7)}, {"s": i64(2, 5)}, {"axis": 1}, 17, 2),
    ("split-11", "Split", {"x": f32(2, 7)}, {}, {"axis": 1, "split": [3, 4]}, 11, 2),
    ("split-num-outputs", "Split", {"x": f32(7)}, {}, {"num_outputs": 3}, 18, 3),
    ("dropout", "Dropout", {"x": f32(4)}, {}, {}, 17, 1),
]


@pytest.mark.parametrize(
    ("op", "feeds", "consts", "attrs", "opset", "n_out"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_op_matches_ort(
    check_op: CheckOp,
    op: str,
    feeds: dict[str, np.ndarray],
    consts: dict[str, Any],
    attrs: dict[str, Any],
    opset: int,
    n_out: int,
) -> None:
    outs = check_op(op, feeds, consts, attrs, n_outputs=n_out, opset=opset)
    assert len(outs) == n_out


SIMPLE_UNARY = [
    "Neg",
    "Abs",
    "Log",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Sign",
    "Softsign",
    "Softplus",
    "Selu",
]


@pytest.mark.parametrize("op", SIMPLE_UNARY)
def test_simple_unary_matches_ort(check_op: CheckOp, op: str) -> None:
    x = f32(3, 4) * 3
    if op == "Log":
        x = np.abs(x) + 0.1
    (y,) = check_op(op, {"x": x})
    assert y.shape == (3, 4)


SIMPLE_BINARY = ["Min", "Sum", "Mean", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]
LOGICAL = ["And", "Or", "Xor"]
REDUCTIONS = ["ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare"]


@pytest.mark.parametrize("op", SIMPLE_BINARY)
def test_simple_binary_matches_ort(check_op: CheckOp, op: str) -> None:
    (y,) = check_op(op, {"a": f32(2, 3), "b": f32(3)})
    assert y.shape == (2, 3)


@pytest.mark.parametrize("op", LOGICAL)
def test_logical_matches_ort(check_op: CheckOp, op: str) -> None:
    (y,) = check_op(op, {"a": f32(5) > 0, "b": f32(5) > 0})
    assert y.dtype == np.bool_


@pytest.mark.parametrize("op", REDUCTIONS)
def test_other_reductions_match_ort(check_op: CheckOp, op: str) -> None:
    (y,) = check_op(op, {"x": f32(2, 3, 4)}, {"a": i64(1)}, {}, opset=18)
    assert y.shape == (2, 1, 4)


def test_not_and_argmin_match_ort(check_op: CheckOp) -> None:
    (y,) = check_op("Not", {"x": f32(5) > 0})
    assert y.dtype == np.bool_
    (i,) = check_op("ArgMin", {"x": f32(3, 4)}, None, {"axis": -1, "select_last_index": 1})
    assert i.shape == (3, 1)


def test_every_registered_op_is_tested_against_ort() -> None:
    elsewhere = {"Conv", "MaxPool", "AveragePool", "Gemm", "Softmax"}  # property tests
    elsewhere |= {"QuantizeLinear", "DequantizeLinear", "GRU", "LSTM", "RNN"}
    elsewhere |= {"Not", "ArgMin", "Constant"}  # Constant: folded by from_onnx (test_ir_onnx)
    # integer ops of onnxruntime's quantizers: tests/quantize/test_quant_interp_ops.py
    elsewhere |= {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
    elsewhere |= {"QLinearMatMul", "QLinearConv"}
    # no onnxruntime kernel: scalar reference in tests/quantize/test_quant_intrnn.py
    elsewhere |= {"edgeslim.IntGRU", "edgeslim.IntLSTM"}
    # TFLite semantics, checked against TFLite Micro: tests/ir/test_ir_tflite_ops.py
    elsewhere |= {op for op in interp.supported_ops() if op.startswith("tflite.")}
    covered = {c[1] for c in CASES} | elsewhere
    covered |= {*SIMPLE_UNARY, *SIMPLE_BINARY, *LOGICAL, *REDUCTIONS, *BITWISE, "BitShift"}
    assert set(interp.supported_ops()) - covered == set()


BITWISE = ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]


@pytest.mark.parametrize("op", BITWISE)
def test_bitwise_matches_ort(check_op: CheckOp, op: str) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, 16).astype(np.uint8), rng.integers(0, 256, 16).astype(np.uint8)
    (y,) = check_op(op, {"a": a, "b": b}, opset=18, exact=True)
    assert y.dtype == np.uint8


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_bitshift_matches_ort(check_op: CheckOp, direction: str, dtype: type) -> None:
    bits = np.dtype(dtype).itemsize * 8
    a = np.array([1, 255, 7, 128, 3, 9, 1, 5], dtype)
    b = np.array([0, 1, 3, 7, 2, 5, bits - 1, 0], dtype)
    (y,) = check_op("BitShift", {"a": a, "b": b}, {}, {"direction": direction}, exact=True)
    assert y.dtype == dtype
