"""Read a ``.tflite`` flatbuffer (float or int8) into a :class:`~edgeslim.ir.Graph`.

The flatbuffer is parsed with the ``tflite`` package (pure Python, optional extra ``tflite``).
Choices, and why:

* **Arithmetic ops keep TFLite's semantics** as ops of a ``tflite`` domain (``tflite.Conv2D``,
  ``tflite.DepthwiseConv2D``, ``tflite.FullyConnected``, ``tflite.Logistic``,
  ``tflite.Quantize``, ``tflite.Dequantize``) in NHWC, with the quantization parameters as
  attributes. TFLite requantizes with gemmlowp double rounding and derives multipliers from
  float32 scales in op-specific ways; a rounding attribute on standard QDQ ops could not carry
  all of that (LOGISTIC's int8 kernel is a fixed-point polynomial, not a rounded sigmoid), and
  the QDQ ops keep their onnxruntime meaning elsewhere in the project. The interpreter runs
  these ops bit-exactly as TFLite Micro (:mod:`edgeslim.ir.interp._tflite_ops`).
* **Data movement becomes standard ONNX ops** (RESHAPE -> Reshape, STRIDED_SLICE -> Slice,
  CONCATENATION -> Concat, SPLIT_V -> Split): exact on codes, and lowered by every backend.
* **Resource variables become state buffers** (:mod:`edgeslim.ir._stream`): VAR_HANDLE /
  READ_VARIABLE / ASSIGN_VARIABLE turn into state inputs and outputs, CALL_ONCE's init subgraph
  into the init values.
* Every tensor keeps its quantization exactly (``TensorInfo.quant``: float32 scales, zero
  points, per-channel axis).

An op without a mapping raises one :class:`UnsupportedOpError` naming the op and its operator
index (every unsupported op of the model is listed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.ir._stream import INIT_SUFFIX, NEXT_SUFFIX, state_name
from edgeslim.ir.graph import Graph, Node, QuantParams, TensorInfo

__all__ = ["SUPPORTED_TFLITE_OPS", "from_tflite", "is_tflite", "load_tflite"]

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
           7: "int16", 9: "int8", 10: "float64", 13: "resource"}  # fmt: skip
_ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT", 6: "SIGN"}
_PAD = {0: "SAME", 1: "VALID"}
_STATE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")
SUPPORTED_TFLITE_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "LOGISTIC", "QUANTIZE", "DEQUANTIZE",
    "RESHAPE", "STRIDED_SLICE", "CONCATENATION", "SPLIT_V", *_STATE_OPS,
)  # fmt: skip


def _tflite() -> Any:
    try:
        import tflite
    except ImportError:  # pragma: no cover - depends on the environment
        raise ModelError(
            "reading .tflite files needs the 'tflite' package: pip install 'edgeslim[tflite]'"
        ) from None
    return tflite


def is_tflite(path: str | os.PathLike[str]) -> bool:
    """True when the file carries the TFLite flatbuffer identifier ``TFL3``."""
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] == b"TFL3"


@dataclass
class _Builder:
    """Builds the main subgraph's nodes, tensors and initializers."""

    tfl: Any
    model: Any
    sub: Any
    where: str
    names: dict[int, str] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    alias: dict[int, str] = field(default_factory=dict)  # READ_VARIABLE outputs
    handles: dict[int, str] = field(default_factory=dict)  # resource tensor -> variable
    assigned: dict[str, str] = field(default_factory=dict)  # variable -> tensor name
    read: dict[str, int] = field(default_factory=dict)  # variable -> first read tensor
    init_sub: int | None = None

    # -- tensors ------------------------------------------------------------------------
    def info(self, i: int) -> TensorInfo:
        name = self.name(i)
        if name not in self.tensors:
            t = self.sub.Tensors(i)
            dtype = _DTYPES.get(t.Type())
            if dtype is None:
                raise ModelError(f"{self.where}: tensor {name!r} has unsupported type {t.Type()}")
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            self.tensors[name] = TensorInfo(name, dtype, shape, _quant(t))
        return self.tensors[name]

    def name(self, i: int) -> str:
        if i in self.alias:
            return self.alias[i]
        if i not in self.names:
            raw = self.sub.Tensors(i).Name()
            base = raw.decode() if raw else f"t{i}"
            self.names[i] = base if base not in self.names.values() else f"{base}#{i}"
        return self.names[i]

    def const(self, i: int) -> np.ndarray | None:
        t = self.sub.Tensors(i)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        info = self.info(i)
        shape = tuple(1 if d is None else d for d in info.shape)
        arr = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=info.dtype).reshape(shape)
        return arr

    def use(self, i: int) -> str:
        """The IR name of tensor ``i`` as a node input (constants become initializers)."""
        if i < 0:
            return ""
        name, info = self.name(i), self.info(i)
        arr = self.const(i) if i not in self.alias else None
        if arr is not None and name not in self.inits:
            arr = arr.copy()
            arr.flags.writeable = False
            self.inits[name] = arr
        del info
        return name

    def add_const(self, name: str, value: np.ndarray) -> str:
        arr = np.array(value)
        arr.flags.writeable = False
        self.inits[name] = arr
        self.tensors[name] = TensorInfo(name, arr.dtype.name, tuple(arr.shape))
        return name

    def emit(self, index: int, opcode: str, op: str, ins: list[str], outs: list[int],
             attrs: dict[str, Any] | None = None) -> None:  # fmt: skip
        out_names = [self.name(o) for o in outs]
        for o in outs:
            self.info(o)
        node = Node(f"{opcode}_{index}", op, tuple(ins), tuple(out_names),
                    MappingProxyType(dict(attrs or {})))  # fmt: skip
        self.nodes.append(node)


def _quant(t: Any) -> QuantParams | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scale = tuple(float(s) for s in q.ScaleAsNumpy())
    zp = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scale)
    return QuantParams(scale, zp, int(q.QuantizedDimension()) if len(scale) > 1 else None)


def _opcode_names(tfl: Any, model: Any) -> list[str]:
    names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == int(tfl.BuiltinOperator.CUSTOM):
            custom = oc.CustomCode()
            out.append(f"CUSTOM:{custom.decode() if custom else '?'}")
        else:
            out.append(names.get(code, f"BUILTIN_{code}"))
    return out


def _options(tfl: Any, op: Any, cls: str) -> Any:
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = getattr(tfl, cls)()
    opts.Init(table.Bytes, table.Pos)
    return opts


def _qattrs(b: _Builder, x: int, w: int | None, y: int) -> dict[str, Any]:
    """Quantization attributes of an int8 arithmetic op (empty for float)."""
    xi, yi = b.info(x), b.info(y)
    if xi.quant is None or xi.dtype == "float32":
        return {}
    if yi.quant is None:
        raise ModelError(f"{b.where}: tensor {yi.name!r} is {yi.dtype} without quantization")
    attrs: dict[str, Any] = {
        "x_scale": xi.quant.scale[0], "x_zero_point": xi.quant.zero_point[0],
        "y_scale": yi.quant.scale[0], "y_zero_point": yi.quant.zero_point[0],
    }  # fmt: skip
    if w is not None:
        wq = b.info(w).quant
        if wq is None or any(z != 0 for z in wq.zero_point):
            raise ModelError(f"{b.where}: weights {b.name(w)!r} need zero points 0")
        attrs["w_scale"] = wq.scale
    return attrs


def _conv_attrs(o: Any, depthwise: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "strides": (int(o.StrideH()), int(o.StrideW())),
        "dilations": (int(o.DilationHFactor()), int(o.DilationWFactor())),
        "padding": _PAD[int(o.Padding())],
        "activation": _ACT[int(o.FusedActivationFunction())],
    }
    if depthwise:
        attrs["depth_multiplier"] = int(o.DepthMultiplier())
    return attrs


def _strided_slice(b: _Builder, idx: int, op: Any, ins: list[int], outs: list[int]) -> None:
    o = _options(b.tfl, op, "StridedSliceOptions")
    begin, end = b.const(ins[1]), b.const(ins[2])
    strides = b.const(ins[3]) if len(ins) > 3 else None
    node = f"STRIDED_SLICE_{idx}"
    if begin is None or end is None:
        raise UnsupportedOpError("STRIDED_SLICE", node, "the TFLite importer (dynamic bounds)")
    if o is not None and (o.EllipsisMask() or o.NewAxisMask() or o.Offset()):
        raise UnsupportedOpError("STRIDED_SLICE", node, "the TFLite importer (ellipsis/new axis)")
    bm, em, sm = (0, 0, 0) if o is None else (o.BeginMask(), o.EndMask(), o.ShrinkAxisMask())
    shape = b.info(ins[0]).shape
    steps = np.ones(len(begin), np.int64) if strides is None else strides.astype(np.int64)
    starts, ends = begin.astype(np.int64).copy(), end.astype(np.int64).copy()
    for a in range(len(begin)):
        big = np.iinfo(np.int64).max
        if bm >> a & 1:
            starts[a] = 0 if steps[a] > 0 else big
        if sm >> a & 1:
            ends[a] = starts[a] + 1 if starts[a] != -1 else big
        elif em >> a & 1:
            ends[a] = big if steps[a] > 0 else -big
    del shape
    p = f"{node}."
    args = [b.use(ins[0]), b.add_const(p + "starts", starts), b.add_const(p + "ends", ends),
            b.add_const(p + "axes", np.arange(len(begin), dtype=np.int64)),
            b.add_const(p + "steps", steps)]  # fmt: skip
    if sm:
        mid = b.name(outs[0]) + ".unshrunk"
        b.tensors[mid] = TensorInfo(mid, b.info(outs[0]).dtype, (), b.info(outs[0]).quant)
        b.nodes.append(Node(node + ".slice", "Slice", tuple(args), (mid,)))
        out_shape = np.array(b.info(outs[0]).shape, dtype=np.int64)
        b.emit(idx, "STRIDED_SLICE", "Reshape", [mid, b.add_const(p + "shape", out_shape)], outs)
        return
    b.emit(idx, "STRIDED_SLICE", "Slice", args, outs)


def _state_op(b: _Builder, idx: int, name: str, op: Any, ins: list[int], outs: list[int]) -> None:
    if name == "CALL_ONCE":
        b.init_sub = int(_options(b.tfl, op, "CallOnceOptions").InitSubgraphIndex())
    elif name == "VAR_HANDLE":
        b.handles[outs[0]] = _var_name(b.tfl, op, b.sub, outs[0])
    elif name == "READ_VARIABLE":
        var = b.handles[ins[0]]
        if var in b.assigned:  # read after an assignment in the same call
            b.alias[outs[0]] = b.assigned[var]
        else:
            b.read.setdefault(var, outs[0])
            b.alias[outs[0]] = state_name(var)
            info = b.sub.Tensors(outs[0])
            shape = tuple(int(d) for d in info.ShapeAsNumpy())
            b.tensors[state_name(var)] = TensorInfo(
                state_name(var), _DTYPES[info.Type()], shape, _quant(info)
            )
    else:  # ASSIGN_VARIABLE
        b.assigned[b.handles[ins[0]]] = b.use(ins[1])


def _var_name(tfl: Any, op: Any, sub: Any, out: int) -> str:
    o = _options(tfl, op, "VarHandleOptions")
    shared = o.SharedName() if o is not None else None
    if shared:
        return "".join(c if c.isalnum() or c in "_-" else "_" for c in shared.decode())
    return f"var{out}"


def _convert(b: _Builder, idx: int, name: str, op: Any) -> None:
    tfl = b.tfl
    ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
    outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
    if name in _STATE_OPS:
        _state_op(b, idx, name, op, ins, outs)
    elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        dw = name == "DEPTHWISE_CONV_2D"
        cls = "DepthwiseConv2DOptions" if dw else "Conv2DOptions"
        attrs = {**_conv_attrs(_options(tfl, op, cls), dw), **_qattrs(b, ins[0], ins[1], outs[0])}
        ir_op = "tflite.DepthwiseConv2D" if dw else "tflite.Conv2D"
        b.emit(idx, name, ir_op, [b.use(i) for i in ins], outs, attrs)
    elif name == "FULLY_CONNECTED":
        o = _options(tfl, op, "FullyConnectedOptions")
        attrs = {"activation": _ACT[int(o.FusedActivationFunction())] if o else "NONE",
                 "keep_num_dims": int(bool(o.KeepNumDims())) if o else 0,
                 **_qattrs(b, ins[0], ins[1], outs[0])}  # fmt: skip
        b.emit(idx, name, "tflite.FullyConnected", [b.use(i) for i in ins], outs, attrs)
    elif name in ("LOGISTIC", "QUANTIZE", "DEQUANTIZE"):
        xi, yi = b.info(ins[0]), b.info(outs[0])
        attrs = {"to": yi.dtype}
        for key, info in (("x", xi), ("y", yi)):
            if info.quant is not None:
                attrs[f"{key}_scale"] = info.quant.scale[0]
                attrs[f"{key}_zero_point"] = info.quant.zero_point[0]
        ir_op = "tflite." + name.title()
        b.emit(idx, name, ir_op, [b.use(ins[0])], outs, attrs)
    elif name == "RESHAPE":
        shape = np.array(b.info(outs[0]).shape, dtype=np.int64)
        const = b.add_const(f"RESHAPE_{idx}.shape", shape)
        b.emit(idx, name, "Reshape", [b.use(ins[0]), const], outs)
    elif name == "STRIDED_SLICE":
        _strided_slice(b, idx, op, ins, outs)
    elif name == "CONCATENATION":
        o = _options(tfl, op, "ConcatenationOptions")
        _same_quant(b, idx, name, [*ins, *outs])
        if o is not None and int(o.FusedActivationFunction()) != 0:
            raise UnsupportedOpError(name, f"{name}_{idx}", "the TFLite importer (activation)")
        axis = int(o.Axis()) if o is not None else 0
        b.emit(idx, name, "Concat", [b.use(i) for i in ins], outs, {"axis": axis})
    elif name == "SPLIT_V":
        axis_arr = b.const(ins[2])
        if b.const(ins[1]) is None or axis_arr is None:
            raise UnsupportedOpError(name, f"{name}_{idx}", "the TFLite importer (dynamic)")
        ax = int(axis_arr.reshape(-1)[0])
        split = np.array([b.info(o).shape[ax] or 1 for o in outs], dtype=np.int64)
        const = b.add_const(f"{name}_{idx}.split", split)
        b.emit(idx, name, "Split", [b.use(ins[0]), const], outs, {"axis": ax})
    else:  # pragma: no cover - filtered by _check_ops
        raise UnsupportedOpError(name, f"{name}_{idx}", "the TFLite importer")


def _same_quant(b: _Builder, idx: int, name: str, tensors: list[int]) -> None:
    qs = {b.info(t).quant for t in tensors}
    if len(qs) > 1:
        raise UnsupportedOpError(
            name, f"{name}_{idx}", "the TFLite importer (inputs and output quantized differently)"
        )


def _check_ops(names: list[str], model: Any, sub: Any, where: str) -> None:
    bad: dict[str, int] = {}
    for i in range(sub.OperatorsLength()):
        n = names[sub.Operators(i).OpcodeIndex()]
        if n not in SUPPORTED_TFLITE_OPS and n not in bad:
            bad[n] = i
    if bad:
        op, index = next(iter(bad.items()))
        err = UnsupportedOpError(op, f"{op}_{index}", "the TFLite importer")
        listed = ", ".join(f"{o} (operator {i})" for o, i in bad.items())
        err.args = (f"{where}: unsupported TFLite ops: {listed}; supported: "
                    f"{', '.join(SUPPORTED_TFLITE_OPS)}",)  # fmt: skip
        raise err


def _init_values(b: _Builder, names: list[str]) -> dict[str, np.ndarray]:
    """Values CALL_ONCE's init subgraph assigns (VAR_HANDLE + ASSIGN_VARIABLE of constants)."""
    if b.init_sub is None:
        return {}
    sub = b.model.Subgraphs(b.init_sub)
    inner = _Builder(b.tfl, b.model, sub, f"{b.where} (init subgraph {b.init_sub})")
    values: dict[str, np.ndarray] = {}
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        name = names[op.OpcodeIndex()]
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if name == "VAR_HANDLE":
            inner.handles[outs[0]] = _var_name(b.tfl, op, sub, outs[0])
        elif name == "ASSIGN_VARIABLE" and inner.const(ins[1]) is not None:
            values[inner.handles[ins[0]]] = np.array(inner.const(ins[1]))
        else:
            raise UnsupportedOpError(name, f"{name}_{i}", f"{inner.where}: only constants")
    return values


def from_tflite(source: str | os.PathLike[str] | bytes) -> Graph:
    """Read a TFLite flatbuffer (path or bytes) as a :class:`Graph` (not yet verified)."""
    tfl = _tflite()
    if isinstance(source, bytes):
        data, where = source, "the TFLite model"
    else:
        data, where = Path(source).read_bytes(), str(source)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{where} is not a TFLite flatbuffer (no TFL3 identifier)")
    model = tfl.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() == 0:
        raise ModelError(f"{where} has no subgraph")
    names = _opcode_names(tfl, model)
    sub = model.Subgraphs(0)
    _check_ops(names, model, sub, where)
    b = _Builder(tfl, model, sub, where)
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        _convert(b, i, names[op.OpcodeIndex()], op)
    return _assemble(b, names)


def _assemble(b: _Builder, names: list[str]) -> Graph:
    inits = _init_values(b, names)
    data_in = [b.info(int(i)) for i in b.sub.InputsAsNumpy()]
    data_out = [b.info(int(i)) for i in b.sub.OutputsAsNumpy()]
    states_in, states_out = [], []
    for var in sorted(set(b.read) | set(b.assigned)):
        sname = state_name(var)
        if sname not in b.tensors:  # assigned, never read: the read shape is the assigned one
            src = b.tensors[b.assigned[var]]
            b.tensors[sname] = TensorInfo(sname, src.dtype, src.shape, src.quant)
        info = b.tensors[sname]
        nxt = sname + NEXT_SUFFIX
        b.nodes.append(Node(f"{sname}.assign", "Identity", (b.assigned.get(var, sname),), (nxt,)))
        b.tensors[nxt] = TensorInfo(nxt, info.dtype, info.shape, info.quant)
        init = inits.get(var)
        if init is None:
            init = np.zeros(tuple(d or 1 for d in info.shape), dtype=info.dtype)
        if init.dtype.name != info.dtype or tuple(init.shape) != info.shape:
            raise ModelError(f"{b.where}: init value of variable {var!r} does not match its reads")
        b.add_const(sname + INIT_SUFFIX, init)
        states_in.append(info)
        states_out.append(b.tensors[nxt])
    raw = b.sub.Name()
    return Graph(
        name=raw.decode() if raw else "tflite",
        inputs=tuple(data_in + states_in),
        outputs=tuple(data_out + states_out),
        nodes=tuple(b.nodes),
        initializers=MappingProxyType(dict(b.inits)),
        tensors=MappingProxyType(dict(b.tensors)),
    )


def load_tflite(source: str | os.PathLike[str] | bytes) -> Graph:
    """:func:`from_tflite`, then every op checked against the interpreter, then verified."""
    from edgeslim.ir import interp
    from edgeslim.ir._verify import verify

    graph = from_tflite(source)
    interp.check_supported(graph)
    verify(graph)
    return graph
