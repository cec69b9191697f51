"""Passes that need no calibration: weight-only int8/int4/int2, float16, dynamic int8."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

import onnx

from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize._common import QuantPass, boolean, int_in, one_of
from edgeslim.passes.quantize._model import float_module, float_onnx, quantized_model
from edgeslim.passes.quantize._weights import quantize_weights, to_float16


class WeightOnly(QuantPass):
    """Weight-only quantization with bit-packed storage (``bits`` 8, 4 or 2; symmetric, per
    output channel, or per ``block`` input values for 2-D weights). Activations stay float."""

    name = "quantize.weight_only"
    PARAMS = MappingProxyType({"bits": one_of(4, 8, 2), "block": int_in(0, 0, 4096)})

    takes_onnx = True

    def quantize_onnx(
        self, proto: onnx.ModelProto, ctx: PassContext
    ) -> tuple[onnx.ModelProto, dict[str, Any]]:
        dtype = f"int{self.p('bits')}"
        proto, record = quantize_weights(proto, dtype, block=self.p("block"))
        onnx.checker.check_model(proto)
        return proto, {
            "params": self.resolved(),
            "kind": f"weight_only_{dtype}",
            "weights": record,
        }

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        return _apply(self, model, ctx)


class Float16(QuantPass):
    """Float16 storage of every parameter (Cast to float32 at load; compute stays float32)."""

    name = "quantize.fp16"
    PARAMS = MappingProxyType({})

    takes_onnx = True

    def quantize_onnx(
        self, proto: onnx.ModelProto, ctx: PassContext
    ) -> tuple[onnx.ModelProto, dict[str, Any]]:
        proto, record = to_float16(proto)
        onnx.checker.check_model(proto)
        return proto, {"params": {}, "kind": "float16", "weights": record}

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        return _apply(self, model, ctx)


class DynamicQuantize(QuantPass):
    """Dynamic int8: weights int8 ahead of time, activations quantized at run time.

    Linear layers (Gemm/MatMul) go through onnxruntime's ``quantize_dynamic``
    (DynamicQuantizeLinear + MatMulInteger, standard ONNX ops). GRU/LSTM/RNN weights become
    per-row int8 behind DequantizeLinear (standard ONNX; their state stays float); with
    ``ort_lstm`` onnxruntime's ``DynamicQuantizeLSTM`` (com.microsoft domain, onnxruntime only)
    replaces LSTM instead.
    """

    name = "quantize.dynamic"
    PARAMS = MappingProxyType({"per_channel": boolean(True), "ort_lstm": boolean(False)})

    takes_onnx = True

    def quantize_onnx(
        self, proto: onnx.ModelProto, ctx: PassContext
    ) -> tuple[onnx.ModelProto, dict[str, Any]]:
        proto = dynamic_quantize(proto, self.p("per_channel"), self.p("ort_lstm"))
        ops = sorted({n.op_type for n in proto.graph.node})
        return proto, {"params": self.resolved(), "kind": "dynamic_int8", "ops": ops}

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        return _apply(self, model, ctx)


def _apply(p: QuantPass, model: Any, ctx: PassContext) -> PassResult:
    """The float module's ONNX export, quantized by ``p.quantize_onnx``, behind the module."""
    module = float_module(model).eval()
    proto, record = p.quantize_onnx(float_onnx(module, ctx.dataset), ctx)
    return PassResult(quantized_model(module, proto, record["kind"]), record)


def dynamic_quantize(proto: onnx.ModelProto, per_channel: bool, ort_lstm: bool) -> onnx.ModelProto:
    """onnxruntime's dynamic quantization of linear layers (+ LSTM if ``ort_lstm``), then
    int8 recurrent weights."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = ["MatMul", "Gemm"] + (["LSTM"] if ort_lstm else [])
    with tempfile.TemporaryDirectory(prefix="edgeslim-dq-") as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(proto, str(src))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint on the root logger
        try:
            quantize_dynamic(
                src,
                dst,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                op_types_to_quantize=op_types,
            )
        finally:
            root.setLevel(level)
        quantized = onnx.load(str(dst))
    rnn = {n.op_type for n in quantized.graph.node} & {"GRU", "LSTM", "RNN"}
    if rnn:
        quantized = _rnn_weights_int8(quantized)
    return quantized


def _rnn_weights_int8(proto: onnx.ModelProto) -> onnx.ModelProto:
    """int8 per-row weights for the recurrent ops only (linear layers are done already)."""
    from edgeslim.passes.quantize._weights import quantize_weights

    rnn = {"GRU", "LSTM", "RNN"}
    keep = {n.input[k] for n in proto.graph.node if n.op_type in rnn for k in (1, 2)}
    q, _ = quantize_weights(proto, "int8", only=keep)
    return q
