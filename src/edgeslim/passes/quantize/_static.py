"""Post-training static quantization (``quantize.ptq``): calibrate, choose qparams, write QDQ ONNX.

Conv/Gemm/MatMul get the full int8 treatment (see :mod:`._qdq`). GRU/LSTM/RNN cells get int8
per-row weights behind DequantizeLinear and keep float state and gates: the standard ONNX
recurrent ops take float inputs only, so an integer cell needs its own kernels (not done yet).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import onnx

from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize import _qdq
from edgeslim.passes.quantize._biascorr import correct_biases
from edgeslim.passes.quantize._common import QuantPass, boolean, float_in, int_in, one_of
from edgeslim.passes.quantize._equalize import equalize
from edgeslim.passes.quantize._model import (
    batches,
    calibration_inputs,
    float_module,
    float_onnx,
    quantized_model,
)
from edgeslim.passes.quantize._observers import make_observer
from edgeslim.passes.quantize._weights import quantize_weights

_RNN = ("GRU", "LSTM", "RNN")


def static_quantize(
    proto: onnx.ModelProto,
    x_calib: np.ndarray,
    config: _qdq.StaticConfig,
    weight_dtypes: dict[str, str] | None = None,
    *,
    overrides: dict[str, tuple[float, float]] | None = None,
    weight_scales: dict[str, np.ndarray] | None = None,
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Quantize the float ONNX ``proto`` statically; return the QDQ model and its record.

    ``weight_dtypes`` and ``weight_scales`` (by node name) and activation range ``overrides``
    (by tensor name) carry per-layer choices of mixed precision and learned QAT parameters.
    """
    extra: dict[str, Any] = {}
    if config.equalize:
        proto, extra["equalization"] = equalize(proto)
    plan = _qdq.plan(proto, quantize_output=config.quantize_output)
    options = {"percentile": config.percentile} if config.calibrator == "percentile" else {}
    ranges = _qdq.calibrate(
        proto, plan.points, batches(x_calib), lambda: make_observer(config.calibrator, **options)
    )
    acts = _qdq.act_qparams(ranges, plan, config, overrides)
    dtypes = {n: (weight_dtypes or {}).get(n, config.weight_dtype) for n in plan.nodes}

    def build(float_model: onnx.ModelProto) -> onnx.ModelProto:
        q = _qdq.rewrite(float_model, plan, acts, dtypes, config.per_channel, weight_scales)
        return _to_opset21(q) if "int4" in dtypes.values() else q

    if config.bias_correction:
        _, model, corrections = correct_biases(proto, plan, build, batches(x_calib))
        extra["bias_correction"] = corrections
    else:
        model = build(proto)
    rnn = {n.input[k] for n in model.graph.node if n.op_type in _RNN for k in (1, 2)}
    if rnn:  # recurrent cells: per-row weights (int8 or int4), float state (see module docstring)
        model, _ = quantize_weights(model, config.weight_dtype, only=rnn)
    onnx.checker.check_model(model)
    record = {
        **extra,
        "nodes": {n: dtypes[n] for n in plan.nodes},
        "activations": {
            t: {
                "range": [float(ranges[t][0]), float(ranges[t][1])],
                "scale": float(acts[t].scale),
                "zero_point": int(acts[t].zero_point),
                "shared_with": dict(plan.shared).get(t),
            }
            for t in plan.points
        },
    }
    return model, record


class StaticQuantize(QuantPass):
    """Post-training static quantization to int8 QDQ (ARCHITECTURE decision 2).

    Parameters: ``per_channel`` weights (default true; false = per tensor), ``calibrator``
    (minmax, percentile, mse, entropy), ``percentile``, ``symmetric_activations``,
    ``calibration_samples`` (raw training inputs), ``weight_bits`` (8 or 4), ``equalize``
    (cross-layer equalization, :mod:`._equalize`) and ``bias_correction`` (empirical, per
    channel, :mod:`._biascorr`), both off by default. BN is already folded by the exporter.
    The returned model's ``forward`` is the float model; its ``edgeslim_export`` writes the
    QDQ ONNX.
    """

    name = "quantize.ptq"
    PARAMS = MappingProxyType(
        {
            "per_channel": boolean(True),
            "calibrator": one_of("minmax", "percentile", "mse", "entropy"),
            "percentile": float_in(99.99, 50.0, 100.0),
            "symmetric_activations": boolean(False),
            "calibration_samples": int_in(512, 1, 1_000_000),
            "weight_bits": one_of(8, 4),
            "equalize": boolean(False),
            "bias_correction": boolean(False),
        }
    )

    def config(self) -> _qdq.StaticConfig:
        return _qdq.StaticConfig(
            per_channel=self.p("per_channel"),
            symmetric_activations=self.p("symmetric_activations"),
            calibrator=self.p("calibrator"),
            percentile=float(self.p("percentile")),
            weight_dtype="int8" if self.p("weight_bits") == 8 else "int4",
            equalize=self.p("equalize"),
            bias_correction=self.p("bias_correction"),
        )

    takes_onnx = True

    def quantize_onnx(
        self, proto: onnx.ModelProto, ctx: PassContext
    ) -> tuple[onnx.ModelProto, dict[str, Any]]:
        x = calibration_inputs(ctx.dataset, self.p("calibration_samples"), ctx.seed)
        proto, record = static_quantize(proto, x, self.config())
        if self.p("weight_bits") == 4:
            proto = _to_opset21(proto)
        kind = f"static_w{self.p('weight_bits')}a8"
        return proto, {"params": self.resolved(), "kind": kind, **record}

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        module = float_module(model)
        module.eval()
        proto, record = self.quantize_onnx(float_onnx(module, ctx.dataset), ctx)
        return PassResult(quantized_model(module, proto, record["kind"]), record)


def _to_opset21(proto: onnx.ModelProto) -> onnx.ModelProto:
    """int4 tensors need opset 21 (the graph's ops keep their semantics up to there)."""
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = max(o.version, 21)
    proto.ir_version = max(proto.ir_version, 10)
    return proto
