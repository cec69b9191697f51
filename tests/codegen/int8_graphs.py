"""QDQ test graphs of the int8 code generator: zoo models quantized by ``quantize.ptq`` and a
hand-built graph that exercises every int8 pattern (LUTs, requantized add, concat, pools)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeslim import ir
from edgeslim.ir import Graph


def quantized_zoo(kind: str, shape: tuple[int, ...], folder: Path) -> Graph:
    """A seeded zoo model, exported and statically quantized (per-channel int8) on random data."""
    import torch

    from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config, with_normalization
    from edgeslim.passes.quantize import _qdq
    from edgeslim.passes.quantize._static import static_quantize

    layout = {3: Layout.IMAGE, 2: Layout.SERIES, 1: Layout.TABULAR}[len(shape)]
    torch.manual_seed(0)
    spec = DataSpec("t", Task.CLASSIFICATION, layout, shape, num_classes=4, output_dim=4)
    model = build_model(default_config(kind), spec)
    norm = Normalization((0.0,) * shape[0], (1.0,) * shape[0], 0)
    path = folder / f"{kind}.onnx"
    export_torch(with_normalization(model, norm, shape), shape, path)
    x = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
    proto, _ = static_quantize(onnx.load(path), x, _qdq.StaticConfig())
    return ir.from_onnx(proto)


def _qdq(nodes: list, inits: list, src: str, name: str, scale: float, zp: int) -> str:
    inits += [
        numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
        numpy_helper.from_array(np.array(zp, np.int8), f"{name}_z"),
    ]
    nodes += [
        helper.make_node("QuantizeLinear", [src, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
        helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [name]),
    ]
    return name


def _weights(inits: list, name: str, w: np.ndarray, sx: float) -> tuple[str, str]:
    scale = (np.abs(w).reshape(len(w), -1).max(1) / 127).astype(np.float32)
    q = np.clip(np.rint(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
    b = np.random.default_rng(len(name)).integers(-500, 500, len(w)).astype(np.int32)
    inits += [
        numpy_helper.from_array(q, f"{name}_wq"),
        numpy_helper.from_array(scale, f"{name}_ws"),
        numpy_helper.from_array(np.zeros(len(w), np.int8), f"{name}_wz"),
        numpy_helper.from_array(b, f"{name}_bq"),
        numpy_helper.from_array((scale * np.float32(sx)).astype(np.float32), f"{name}_bs"),
        numpy_helper.from_array(np.zeros(len(w), np.int32), f"{name}_bz"),
    ]
    return f"{name}_wq", f"{name}_bq"


def qlinear(
    nodes: list, inits: list, op: str, x: str, sx: float, w: np.ndarray, out: str, **attrs: object
) -> str:
    """``op`` (Conv/Gemm) of ``x`` with int8 per-channel weights and int32 bias behind
    DequantizeLinear nodes; returns the float output's name."""
    wq, bq = _weights(inits, out, w, sx)
    for src, t in ((wq, "w"), (bq, "b")):
        nodes.append(
            helper.make_node(
                "DequantizeLinear", [src, f"{out}_{t}s", f"{out}_{t}z"], [f"{out}_{t}"], axis=0
            )
        )
    nodes.append(helper.make_node(op, [x, f"{out}_w", f"{out}_b"], [f"{out}_f"], **attrs))
    return f"{out}_f"


def to_graph(
    nodes: list,
    inits: list,
    name: str,
    shape: tuple[int, ...],
    out_shape: list[int] | None = None,
    check: bool = False,
) -> Graph:
    """The IR of a one-input ("input", batch 1) one-output ("output") opset-17 ONNX graph."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, *shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    return ir.from_onnx(model)


def pattern_graph(softmax: bool = False) -> Graph:
    """Input (1, 4, 6, 6): depthwise and dilated convs, Tanh/Sigmoid LUTs, requantized Add,
    Concat, MaxPool, GlobalAveragePool, Gemm; a float Softmax at the end if ``softmax``."""
    rng = np.random.default_rng(5)
    nodes: list = []
    inits: list = []

    def linear(op: str, x: str, sx: float, w: np.ndarray, out: str, **attrs: object) -> str:
        return qlinear(nodes, inits, op, x, sx, w, out, **attrs)

    x = _qdq(nodes, inits, "input", "a0", 0.03, 3)
    dw = linear(
        "Conv", x, 0.03, rng.standard_normal((4, 1, 3, 3)), "dw", group=4, pads=[1, 1, 1, 1]
    )
    nodes.append(helper.make_node("Relu", [dw], ["dw_r"]))
    a1 = _qdq(nodes, inits, "dw_r", "a1", 0.05, -128)
    dil = linear(
        "Conv",
        a1,
        0.05,
        rng.standard_normal((4, 4, 3, 3)) * 0.3,
        "dil",
        pads=[2, 2, 2, 2],
        dilations=[2, 2],
    )
    a2 = _qdq(nodes, inits, dil, "a2", 0.04, 5)
    nodes.append(helper.make_node("Tanh", [a2], ["t"]))
    a3 = _qdq(nodes, inits, "t", "a3", 1 / 128, 0)
    nodes.append(helper.make_node("Sigmoid", [x], ["sg"]))
    a4 = _qdq(nodes, inits, "sg", "a4", 1 / 256, -128)
    nodes.append(helper.make_node("Add", [a3, a4], ["sum"]))
    nodes.append(helper.make_node("Relu", ["sum"], ["sum_r"]))
    a5 = _qdq(nodes, inits, "sum_r", "a5", 0.01, -100)
    nodes.append(helper.make_node("Concat", [a5, a1], ["cat"], axis=1))
    a6 = _qdq(nodes, inits, "cat", "a6", 0.01, -100)  # same as a5 but not a1: float concat
    nodes.append(helper.make_node("MaxPool", [a6], ["mp"], kernel_shape=[2, 2], strides=[2, 2]))
    a7 = _qdq(nodes, inits, "mp", "a7", 0.01, -100)
    pw = linear("Conv", a7, 0.01, rng.standard_normal((6, 8, 1, 1)), "pw")
    a8 = _qdq(nodes, inits, pw, "a8", 0.02, 0)
    nodes.append(helper.make_node("GlobalAveragePool", [a8], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["fl"], axis=1))
    a9 = _qdq(nodes, inits, "fl", "a9", 0.01, 0)
    fc = linear("Gemm", a9, 0.01, rng.standard_normal((3, 6)), "fc", transB=1)
    a10 = _qdq(nodes, inits, fc, "a10", 0.05, 1)
    if softmax:
        nodes.append(helper.make_node("Softmax", [a10], ["output"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", [a10], ["output"]))
    return to_graph(nodes, inits, "patterns", (4, 6, 6), [1, 3], check=True)


def integer_rnn_zoo(
    kind: str, shape: tuple[int, ...], folder: Path, state_bits: int = 16
) -> Graph:
    """A seeded zoo GRU/LSTM with its cell made integer (``edgeslim.IntGRU`` / ``IntLSTM``) and
    the head quantized to int8 QDQ."""
    import torch

    from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config, with_normalization
    from edgeslim.passes.quantize._intrnn import integer_recurrent

    torch.manual_seed(0)
    spec = DataSpec("t", Task.CLASSIFICATION, Layout.SERIES, shape, num_classes=4, output_dim=4)
    model = build_model(default_config(kind), spec)
    norm = Normalization((0.0,) * shape[0], (1.0,) * shape[0], 0)
    path = folder / f"{kind}-float.onnx"
    export_torch(with_normalization(model, norm, shape), shape, path)
    x = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
    proto, _ = integer_recurrent(onnx.load(path), x, state_bits=state_bits, int8_rest=True)
    return ir.from_onnx(proto)
