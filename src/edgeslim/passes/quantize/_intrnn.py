"""Integer GRU/LSTM export: replace a float recurrent cell of an ONNX model with
``edgeslim.IntGRU`` / ``edgeslim.IntLSTM`` (int8 weights, int8 input codes, int16 or int8
hidden state, fixed-point gates; the arithmetic is defined in :mod:`edgeslim.ir.interp._intrnn`).

The cell's input gets a calibrated int8 ``QuantizeLinear`` (asymmetric, min/max over the
calibration inputs); ``W`` and ``R`` are quantized symmetric per row (``max|row| / 127``); the
biases become int32 in the units of their accumulators; the multipliers that bring the two
accumulators to Q3.12 are TFLite's ``QuantizeMultiplier`` of ``s_x s_w 2^12`` and
``s_h s_r 2^12``; the LSTM cell format is the finest power of two covering the largest cell
value of the float model on the calibration inputs. The cell's outputs are dequantized (scale
``2^-15`` or ``2^-7``; cell state ``2^-cell_frac``) under their original names, so the rest
of the graph (the classifier head) is unchanged and stays float. onnxruntime has no integer
GRU/LSTM (and does not run the custom domain): the exported model runs on
``edgeslim.ir.interp`` and is compared with the float model on onnxruntime.

Supported: what the zoo exports -- one layer, forward, layout 0, no ``sequence_lens``, zero
initial state, default activations, no clip, GRU ``linear_before_reset=1``, LSTM without
peepholes or ``input_forget``. Anything else is a :class:`ModelError` naming the node.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeslim._core.errors import ModelError
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize import _qdq
from edgeslim.passes.quantize._common import QuantPass, boolean, int_in, one_of
from edgeslim.passes.quantize._integer import quantize_multiplier
from edgeslim.passes.quantize._model import batches
from edgeslim.passes.quantize._observers import make_observer, qparams

_GATES = {"GRU": 3, "LSTM": 4}
_DOMAIN = "edgeslim"


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _check(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> None:
    def fail(why: str) -> ModelError:
        return ModelError(f"node {node.name or node.output[0]} ({node.op_type}): {why}")

    if _direction(node) not in ("forward", "reverse", "bidirectional"):
        raise fail(f"direction {_direction(node)!r}")
    if _attr(node, "layout", 0) or _attr(node, "clip", None) is not None:
        raise fail("layout 1 and clip are not supported")
    if _attr(node, "activations", None):
        raise fail("only the default activations are supported")
    if node.op_type == "GRU" and not _attr(node, "linear_before_reset", 0):
        raise fail("the integer GRU needs linear_before_reset=1 (torch's GRU)")
    if node.op_type == "LSTM" and (
        (len(node.input) > 7 and node.input[7]) or _attr(node, "input_forget", 0)
    ):
        raise fail("peepholes and input_forget are not supported")
    if len(node.input) > 4 and node.input[4]:
        raise fail("sequence_lens is not supported")
    for k in (5, 6):
        if len(node.input) > k and node.input[k] and not _zero(node.input[k], producers):
            raise fail("the initial state must be zero")


_VIEWS = ("Slice", "Gather", "Reshape", "Squeeze", "Unsqueeze", "Expand", "Identity")


def _zero(tensor: str, producers: dict[str, onnx.NodeProto]) -> bool:
    """Whether ``tensor`` is zeros by construction: ConstantOfShape of 0 (torch's initial
    state), seen through views (stacked layers slice it)."""
    src = producers.get(tensor)
    if src is None:
        return False
    if src.op_type == "ConstantOfShape":
        value = _attr(src, "value", None)
        return value is None or not np.any(numpy_helper.to_array(value))
    return src.op_type in _VIEWS and _zero(src.input[0], producers)


def _rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 codes and scales of a (rows, cols) matrix."""
    s = np.abs(w).max(axis=1) / 127.0
    s = np.where(s > 0, s, 1.0)
    return np.clip(np.rint(w / s[:, None]), -127, 127).astype(np.int8), s


def _direction(node: onnx.NodeProto) -> str:
    d = _attr(node, "direction", b"forward")
    return d.decode() if isinstance(d, bytes) else str(d)


def consts_bias(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> np.ndarray:
    """The cell's float bias ``(directions, 2 * G*H)``: input side then recurrent side."""
    nd, gh = inits[node.input[1]].shape[:2]
    if len(node.input) > 3 and node.input[3]:
        return np.asarray(inits[node.input[3]], np.float64).reshape(nd, -1)
    return np.zeros((nd, 2 * gh))


def _cell_constants(
    node: onnx.NodeProto, inits: dict[str, np.ndarray], s_x: float, state_bits: int
) -> dict[str, np.ndarray]:
    """Integer weights, biases and multipliers, one row per direction."""
    per: dict[str, list[np.ndarray]] = {k: [] for k in ("W", "R", "B", "MX", "SX", "MH", "SH")}
    bias_all = consts_bias(node, inits)
    s_h = 2.0 ** -(state_bits - 1)
    for d in range(inits[node.input[1]].shape[0]):
        w = inits[node.input[1]][d].astype(np.float64)
        r = inits[node.input[2]][d].astype(np.float64)
        b, gh = bias_all[d], w.shape[0]
        wq, sw = _rows(w)
        rq, sr = _rows(r)
        acc_x, acc_h = s_x * sw, s_h * sr
        bias = np.concatenate([np.rint(b[:gh] / acc_x), np.rint(b[gh:] / acc_h)])
        mx, sx = quantize_multiplier(acc_x * 4096.0)
        mh, sh = quantize_multiplier(acc_h * 4096.0)
        per["W"].append(wq)
        per["R"].append(rq)
        per["B"].append(np.clip(bias, -(2**31), 2**31 - 1).astype(np.int32))
        for k, v in (("MX", mx), ("SX", sx), ("MH", mh), ("SH", sh)):
            per[k].append(v.astype(np.int32))
    return {k: np.stack(v) for k, v in per.items()}


def _max_cell(x: np.ndarray, w: np.ndarray, r: np.ndarray, b: np.ndarray) -> float:
    """Largest |c_t| of a float LSTM (ONNX gate order i, o, f, c) over every step of ``x``
    (seq, batch, input); the integer cell's format is chosen from it."""
    h4 = r.shape[0]
    hid = h4 // 4
    h = np.zeros((x.shape[1], hid))
    c = np.zeros_like(h)
    top = 0.0
    for t in range(x.shape[0]):
        pre = x[t] @ w.T + h @ r.T + b[:h4] + b[h4:]
        i, o, f = (1.0 / (1.0 + np.exp(-pre[:, k * hid : (k + 1) * hid])) for k in range(3))
        c = f * c + i * np.tanh(pre[:, 3 * hid :])
        h = o * np.tanh(c)
        top = max(top, float(np.abs(c).max(initial=0.0)))
    return top


def cell_frac(max_cell: float) -> int:
    """Fraction bits of the int16 cell state: the finest Q(15-k).k whose range covers
    ``max_cell`` with a margin of 1/8 (at most Q3.12: tanh's input format)."""
    k = 12
    while k > 1 and max_cell * 1.125 >= 2.0 ** (15 - k):
        k -= 1
    return k


def integer_recurrent(
    proto: onnx.ModelProto,
    x_calib: np.ndarray,
    *,
    state_bits: int = 16,
    calibrator: str = "percentile",
    percentile: float = 99.99,
    int8_rest: bool = False,
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """``proto`` with every GRU/LSTM replaced by its integer cell; and a record per cell (input
    range, scales, cell format). The cell input's int8 range comes from ``calibrator``
    (``"minmax"`` or ``"percentile"``: recurrent inputs have rare outliers that min/max would
    spend the int8 range on). With ``int8_rest`` the other layers (the classifier head) are
    quantized by static PTQ first (int8 QDQ, per channel), so the whole model is integer."""
    if state_bits not in (8, 16):
        raise ModelError(f"state_bits must be 8 or 16; got {state_bits}")
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    record: dict[str, Any] = {"state_bits": state_bits, "cells": {}}
    if int8_rest:
        from edgeslim.passes.quantize._qdq import StaticConfig
        from edgeslim.passes.quantize._static import static_quantize

        _qdq.plan(proto)  # names the nodes of proto as the QDQ copy names them
        m, record["rest"] = static_quantize(proto, x_calib, StaticConfig())
    g = m.graph
    cells = [n for n in g.node if n.op_type in _GATES]
    if not cells:
        raise ModelError("the model has no GRU or LSTM to make integer")
    producers = {o: n for n in g.node for o in n.output}
    for node in cells:
        _check(node, producers)
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}  # float
    x_names = [n.input[0] for n in cells]
    options = {"percentile": percentile} if calibrator == "percentile" else {}
    obs = {t: make_observer(calibrator, **options) for t in x_names}
    seen: dict[str, list[np.ndarray]] = {t: [] for t in x_names}
    for values in _qdq.run_tensors(proto, x_names, batches(x_calib)):
        for t, v in values.items():
            obs[t].observe(v)
            seen[t].append(np.asarray(v, np.float64))
    nodes: list[onnx.NodeProto] = []
    for node in g.node:
        if node.op_type not in _GATES:
            nodes.append(node)
            continue
        lo, hi = obs[node.input[0]].compute_range()
        qp = qparams(np.asarray(lo), np.asarray(hi), "int8", symmetric=False)
        s_x, z_x = float(qp.scale.reshape(())), int(qp.zero_point.reshape(()))
        consts = _cell_constants(node, inits, s_x, state_bits)
        frac = 12
        if node.op_type == "LSTM":
            xs = np.concatenate(seen[node.input[0]], axis=1)
            bias = consts_bias(node, inits)
            top = 0.0
            for d in range(bias.shape[0]):
                w, r = inits[node.input[1]][d], inits[node.input[2]][d]
                back = _direction(node) == "reverse" or d == 1
                top = max(top, _max_cell(xs[::-1] if back else xs, w, r, bias[d]))
            frac = cell_frac(top)
        new_nodes, new_inits, infos = _replace(node, consts, s_x, z_x, state_bits, frac)
        nodes += new_nodes
        g.initializer.extend(new_inits)
        g.value_info.extend(infos)
        record["cells"][node.name or node.output[0]] = {
            "op": node.op_type,
            "input_range": [float(lo), float(hi)],
            "input_scale": s_x,
            "input_zero_point": z_x,
            "cell_frac": frac,
        }
    del g.node[:]
    g.node.extend(_live(nodes, {o.name for o in g.output}))
    used = {t for n in g.node for t in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    if not any(o.domain == _DOMAIN for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid(_DOMAIN, 1))
    return m, record


def _live(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` without those whose outputs nobody reads (the float cell's weight DQs)."""
    while True:
        used = {t for n in nodes for t in n.input} | outputs
        kept = [n for n in nodes if any(o in used for o in n.output if o)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept


def _replace(
    node: onnx.NodeProto,
    consts: dict[str, np.ndarray],
    s_x: float,
    z_x: int,
    state_bits: int,
    frac_cell: int,
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], list[onnx.ValueInfoProto]]:
    base = (node.name or node.output[0]).replace("/", "_").strip("_")
    inits = [numpy_helper.from_array(v, f"{base}_{k}") for k, v in consts.items()]
    inits += [
        numpy_helper.from_array(np.asarray(s_x, np.float32), f"{base}_xs"),
        helper.make_tensor(f"{base}_xz", TensorProto.INT8, [], [z_x]),
    ]
    state_type = TensorProto.INT16 if state_bits == 16 else TensorProto.INT8
    outs = [f"{base}_Yq", f"{base}_Yhq"] + ([f"{base}_Ycq"] if node.op_type == "LSTM" else [])
    q = helper.make_node(
        "QuantizeLinear", [node.input[0], f"{base}_xs", f"{base}_xz"], [f"{base}_Xq"]
    )
    attrs: dict[str, Any] = {"cell_frac": frac_cell} if node.op_type == "LSTM" else {}
    cell = helper.make_node(
        f"Int{node.op_type}",
        [f"{base}_Xq", *(f"{base}_{k}" for k in consts)],
        outs,
        name=f"{base}_int",
        domain=_DOMAIN,
        hidden_size=int(consts["R"].shape[2]),
        direction=_direction(node),
        x_zero_point=z_x,
        state_bits=state_bits,
        **attrs,
    )
    nodes = [q, cell]
    infos = []
    for i, (src, dst) in enumerate(zip(outs, node.output, strict=False)):
        is_cell = i == 2
        frac = frac_cell if is_cell else state_bits - 1
        dtype = TensorProto.INT16 if is_cell else state_type
        infos.append(helper.make_tensor_value_info(src, dtype, None))
        if not dst:
            continue
        scale = numpy_helper.from_array(np.asarray(2.0**-frac, np.float32), f"{src}_s")
        zp = helper.make_tensor(f"{src}_z", dtype, [], [0])
        inits += [scale, zp]
        nodes.append(helper.make_node("DequantizeLinear", [src, scale.name, zp.name], [dst]))
    return nodes, inits, infos


class IntegerRecurrent(QuantPass):
    """Integer GRU/LSTM cells (``edgeslim.IntGRU``/``IntLSTM``: int8 weights, Q3.12 gates,
    int16 table activations, int16 or int8 state) and, with ``int8_rest``, int8 QDQ for the
    other layers. onnxruntime does not run the cells: the artifact is measured on edgeslim's
    interpreter, and the C code generator compiles them (bit-exact)."""

    name = "quantize.int_rnn"
    PARAMS = MappingProxyType(
        {
            "state_bits": one_of(16, 8),
            "calibrator": one_of("percentile", "minmax"),
            "calibration_samples": int_in(512, 1, 1_000_000),
            "int8_rest": boolean(True),
        }
    )

    takes_onnx = True

    def quantize_onnx(
        self, proto: onnx.ModelProto, ctx: PassContext
    ) -> tuple[onnx.ModelProto, dict[str, Any]]:
        from edgeslim.passes.quantize._model import calibration_inputs

        x = calibration_inputs(ctx.dataset, self.p("calibration_samples"), ctx.seed)
        quantized, record = integer_recurrent(
            proto,
            x,
            state_bits=self.p("state_bits"),
            calibrator=self.p("calibrator"),
            int8_rest=self.p("int8_rest"),
        )
        return quantized, {"params": self.resolved(), "kind": "int_rnn", **record}

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        from edgeslim.passes.quantize._simple import _apply

        return _apply(self, model, ctx)
