"""ONNX element types <-> numpy dtype names (the strings ``TensorInfo.dtype`` holds).

``UNKNOWN_DTYPE`` (the empty string) marks a tensor whose type ONNX shape inference could not
tell, such as the output of a custom-domain op; :func:`edgeslim.ir.verify` rejects it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

UNKNOWN_DTYPE = ""

_ONNX_TO_NAME: dict[int, str] = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
    TensorProto.INT16: "int16",
    TensorProto.UINT16: "uint16",
    TensorProto.INT32: "int32",
    TensorProto.UINT32: "uint32",
    TensorProto.INT64: "int64",
    TensorProto.UINT64: "uint64",
    TensorProto.BOOL: "bool",
    TensorProto.STRING: "object",
}
_NAME_TO_ONNX: dict[str, int] = {v: k for k, v in _ONNX_TO_NAME.items()}


def dtype_name(elem_type: int) -> str:
    """numpy dtype name for an ONNX ``TensorProto.DataType``; ``""`` when undefined."""
    if elem_type == TensorProto.UNDEFINED:
        return UNKNOWN_DTYPE
    if elem_type in _ONNX_TO_NAME:
        return _ONNX_TO_NAME[elem_type]
    # exotic types (float8, int4, ...) keep ONNX's own lower-case name
    return str(TensorProto.DataType.Name(elem_type)).lower()


def elem_type(name: str) -> int:
    """ONNX ``TensorProto.DataType`` for a dtype name from :func:`dtype_name`."""
    if name == UNKNOWN_DTYPE:
        return int(TensorProto.UNDEFINED)
    if name in _NAME_TO_ONNX:
        return _NAME_TO_ONNX[name]
    try:
        return int(TensorProto.DataType.Value(name.upper()))
    except ValueError:
        return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(name)))
