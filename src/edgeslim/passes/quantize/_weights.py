"""Weight-only compression of a float ONNX graph: int8/int4/int2 codes with real bit packing,
and float16.

A weight ``w`` (input 1 of Conv/Gemm/MatMul, inputs 1 and 2 of GRU/LSTM/RNN) becomes packed
codes ``w_q`` plus scale ``w_s`` (per output channel, or per block of ``block`` input values)
and a ``DequantizeLinear`` whose output keeps the name ``w`` (int4 needs opset 21, int2 opset
25; the opset is raised). The codes are stored in ``raw_data`` two (int4) or four (int2) to a
byte, low bits first, as ONNX specifies, so the file is really that small. Float16 stores the
weight as ``w_h`` (float16) followed by ``Cast`` to float32 named ``w``. Compute stays float32;
only storage (and memory traffic) shrinks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeslim.passes.quantize._observers import qparams

_BITS = {"int8": 8, "int4": 4, "int2": 2}
_TYPE = {"int8": TensorProto.INT8, "int4": TensorProto.INT4, "int2": TensorProto.INT2}
_OPSET = {"int8": 13, "int4": 21, "int2": 25}
_IR = {"int8": 7, "int4": 10, "int2": 11}
_WEIGHT_INPUTS = {"Conv": (1,), "Gemm": (1,), "MatMul": (1,), "GRU": (1, 2), "LSTM": (1, 2)}
_WEIGHT_INPUTS |= {"RNN": (1, 2)}


def weight_names(model: onnx.ModelProto) -> dict[str, tuple[str, int]]:
    """Constant weights by name -> (op, output-channel axis)."""
    inits = {i.name for i in model.graph.initializer}
    out: dict[str, tuple[str, int]] = {}
    for node in model.graph.node:
        for k in _WEIGHT_INPUTS.get(node.op_type, ()):
            if k < len(node.input) and node.input[k] in inits:
                out[node.input[k]] = (node.op_type, _axis(node))
    return out


def _axis(node: onnx.NodeProto) -> int:
    if node.op_type in ("GRU", "LSTM", "RNN"):
        return 1  # (directions, gates * hidden, inputs): one scale per gate row
    if node.op_type == "Gemm":
        return 0 if next((a.i for a in node.attribute if a.name == "transB"), 0) else 1
    return 0 if node.op_type == "Conv" else 1


def pack(codes: np.ndarray, bits: int) -> bytes:
    """Two's-complement ``codes`` packed ``8 // bits`` to a byte, low bits first."""
    flat = codes.astype(np.int64).ravel() & ((1 << bits) - 1)
    per = 8 // bits
    pad = (-len(flat)) % per
    flat = np.concatenate([flat, np.zeros(pad, np.int64)]).reshape(-1, per)
    shifts = np.arange(per, dtype=np.int64) * bits
    return bytes((flat << shifts).sum(axis=1).astype(np.uint8).tobytes())


def unpack(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` signed codes."""
    raw = np.frombuffer(data, np.uint8).astype(np.int64)
    per = 8 // bits
    vals = (raw[:, None] >> (np.arange(per) * bits)) & ((1 << bits) - 1)
    vals = vals.ravel()[:count]
    return np.where(vals >= 1 << (bits - 1), vals - (1 << bits), vals)


def _codes(w: np.ndarray, dtype: str, axis: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric codes and scales per channel (``block`` 0) or per block along the other
    axis of a 2-D weight."""
    if block and w.ndim == 2:
        other = 1 - axis
        n = w.shape[other]
        blocks = -(-n // block)
        padded = np.pad(np.moveaxis(w, other, -1), ((0, 0), (0, blocks * block - n)))
        amax = np.abs(padded.reshape(padded.shape[0], blocks, block)).max(axis=2)
        qp = qparams(-amax, amax, dtype, symmetric=True)
        s = np.repeat(qp.scale, block, axis=1)[:, :n]
        s = np.moveaxis(s, -1, other)
        q = np.clip(np.rint(w / s), qp.qmin, qp.qmax)
        return q.astype(np.int64), np.moveaxis(qp.scale, -1, other).astype(np.float32)
    red = tuple(i for i in range(w.ndim) if i != axis)
    qp = qparams(w.min(axis=red), w.max(axis=red), dtype, symmetric=True)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / qp.scale.reshape(shape)), qp.qmin, qp.qmax)
    return q.astype(np.int64), qp.scale


def packed_tensor(name: str, q: np.ndarray, dtype: str) -> onnx.TensorProto:
    t = onnx.TensorProto()
    t.name, t.data_type = name, _TYPE[dtype]
    t.dims.extend(q.shape)
    t.raw_data = q.astype(np.int8).tobytes() if _BITS[dtype] == 8 else pack(q, _BITS[dtype])
    return t


def quantize_weights(
    model: onnx.ModelProto, dtype: str, *, block: int = 0, only: set[str] | None = None
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Replace every constant weight (or those named in ``only``) with packed ``dtype`` codes
    behind DequantizeLinear."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    weights = weight_names(m)
    if only is not None:
        weights = {k: v for k, v in weights.items() if k in only}
    kept, nodes, record = [], [], {}
    for init in m.graph.initializer:
        if init.name not in weights:
            kept.append(init)
            continue
        w = numpy_helper.to_array(init).astype(np.float32)
        axis = weights[init.name][1]
        q, scale = _codes(w, dtype, axis, block)
        kept += [  # symmetric: the zero point input is left out (it defaults to 0)
            packed_tensor(f"{init.name}_q", q, dtype),
            numpy_helper.from_array(scale, f"{init.name}_s"),
        ]
        attrs: dict[str, Any] = {"axis": axis}
        if block and w.ndim == 2:
            attrs = {"axis": 1 - axis, "block_size": block}
        inputs = [f"{init.name}_q", f"{init.name}_s"]
        nodes.append(
            helper.make_node(
                "DequantizeLinear", inputs, [init.name], name=f"{init.name}_DQ", **attrs
            )
        )
        record[init.name] = {"shape": list(w.shape), "dtype": dtype, "scales": int(scale.size)}
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    _prepend(m, nodes)
    _raise_opset(m, _OPSET[dtype] if block == 0 else max(_OPSET[dtype], 21), _IR[dtype])
    return m, record


def to_float16(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Store every float32 parameter initializer as float16 followed by a Cast to float32."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    kept, nodes, record = [], [], {}
    for init in m.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims, dtype=np.int64)) < 2:
            kept.append(init)
            continue
        w = numpy_helper.to_array(init)
        kept.append(numpy_helper.from_array(w.astype(np.float16), f"{init.name}_h"))
        nodes.append(
            helper.make_node(
                "Cast",
                [f"{init.name}_h"],
                [init.name],
                name=f"{init.name}_Cast",
                to=TensorProto.FLOAT,
            )
        )
        record[init.name] = {"shape": list(w.shape)}
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    _prepend(m, nodes)
    return m, record


def _prepend(m: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    rest = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes + rest)


def _raise_opset(m: onnx.ModelProto, opset: int, ir_version: int) -> None:
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = max(o.version, opset)
    m.ir_version = max(m.ir_version, ir_version)
