"""Build small TFLite flatbuffers in tests (the ``tflite`` package's flatbuffer builders).

``build(tensors, ops, inputs, outputs)``: each tensor is ``T(name, dtype, shape, data, scale,
zero_point, axis)``, each op ``Op(code, inputs, outputs, options)`` where ``options`` is
``(BuiltinOptions enum name, {field: value})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
import tflite

_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}


@dataclass
class T:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: np.ndarray | None = None
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    axis: int = 0


@dataclass
class Op:
    code: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: tuple[str, dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _vec(b: flatbuffers.Builder, start: Any, values: list[int], kind: str = "int32") -> int:
    start(b, len(values))
    for v in reversed(values):
        {"int32": b.PrependInt32, "float32": b.PrependFloat32, "int64": b.PrependInt64,
         "uoffset": b.PrependUOffsetTRelative}[kind](v)  # fmt: skip
    return b.EndVector()


def _options(b: flatbuffers.Builder, kind: str, fields: dict[str, Any]) -> int:
    getattr(tflite, f"{kind}Start")(b)
    for key, value in fields.items():
        getattr(tflite, f"{kind}Add{key}")(b, value)
    return int(getattr(tflite, f"{kind}End")(b))


def build(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    b = flatbuffers.Builder(1024)
    codes = sorted({op.code for op in ops})
    # buffers: 0 is the empty sentinel
    buf_offsets = []
    tflite.BufferStart(b)
    buf_offsets.append(tflite.BufferEnd(b))
    tensor_buf = []
    for t in tensors:
        if t.data is None:
            tensor_buf.append(0)
            continue
        raw = np.ascontiguousarray(t.data.astype(t.dtype)).tobytes()
        data = b.CreateByteVector(raw)
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buf_offsets.append(tflite.BufferEnd(b))
        tensor_buf.append(len(buf_offsets) - 1)
    t_offsets = []
    for t, buf in zip(tensors, tensor_buf, strict=True):
        name = b.CreateString(t.name)
        shape = _vec(b, tflite.TensorStartShapeVector, list(t.shape))
        quant = None
        if t.scale:
            sc = _vec(b, tflite.QuantizationParametersStartScaleVector, list(t.scale), "float32")
            zp = _vec(b, tflite.QuantizationParametersStartZeroPointVector,
                      list(t.zero_point or (0,) * len(t.scale)), "int64")  # fmt: skip
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sc)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[t.dtype])
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        t_offsets.append(tflite.TensorEnd(b))
    op_offsets = []
    for op in ops:
        opts = None
        if op.options is not None:
            opts = _options(b, op.options[0], op.options[1])
        ins = _vec(b, tflite.OperatorStartInputsVector, list(op.inputs))
        outs = _vec(b, tflite.OperatorStartOutputsVector, list(op.outputs))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opts is not None:
            kind = getattr(tflite.BuiltinOptions, op.options[0])  # type: ignore[index]
            tflite.OperatorAddBuiltinOptionsType(b, kind)
            tflite.OperatorAddBuiltinOptions(b, opts)
        op_offsets.append(tflite.OperatorEnd(b))
    t_vec = _vec(b, tflite.SubGraphStartTensorsVector, t_offsets, "uoffset")
    o_vec = _vec(b, tflite.SubGraphStartOperatorsVector, op_offsets, "uoffset")
    i_vec = _vec(b, tflite.SubGraphStartInputsVector, inputs)
    out_vec = _vec(b, tflite.SubGraphStartOutputsVector, outputs)
    sg_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddOperators(b, o_vec)
    tflite.SubGraphAddInputs(b, i_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    tflite.SubGraphAddName(b, sg_name)
    sg = tflite.SubGraphEnd(b)
    code_offsets = []
    for c in codes:
        value = getattr(tflite.BuiltinOperator, c)
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(value, 127))
        tflite.OperatorCodeAddBuiltinCode(b, value)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))
    c_vec = _vec(b, tflite.ModelStartOperatorCodesVector, code_offsets, "uoffset")
    s_vec = _vec(b, tflite.ModelStartSubgraphsVector, [sg], "uoffset")
    b_vec = _vec(b, tflite.ModelStartBuffersVector, buf_offsets, "uoffset")
    desc = b.CreateString("edgeslim test fixture")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, c_vec)
    tflite.ModelAddSubgraphs(b, s_vec)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, b_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflm_run(model: bytes, xs: list[np.ndarray]) -> list[np.ndarray] | None:
    """Outputs of TFLite Micro's interpreter for each input in turn (None without tflite-micro)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    it = runtime.Interpreter.from_bytes(model, arena_size=256 * 1024)
    out = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        out.append(np.array(it.get_output(0)))
    return out
