"""Mixed precision (``quantize.mixed``): per-layer weight bits from a sensitivity analysis under
a size budget.

Sensitivity of a layer = mean squared deviation of the model's outputs from the float model's
on validation inputs when only that layer's weights drop to ``low_bits`` (all others int8,
activations int8). Layers are lowered greedily, least sensitive per byte saved first, until the
weight bytes fit ``budget`` (a fraction of the all-int8 weight bytes). Then the model is
quantized statically with those widths.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize import _qdq
from edgeslim.passes.quantize._common import QuantPass, float_in, int_in, one_of
from edgeslim.passes.quantize._model import (
    calibration_inputs,
    float_module,
    float_onnx,
    quantized_model,
)
from edgeslim.passes.quantize._qdq import run_tensors
from edgeslim.passes.quantize._static import _to_opset21, static_quantize


def _outputs(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    name = proto.graph.output[0].name
    return np.concatenate([v[name] for v in run_tensors(proto, [name], [x])])


def _weight_sizes(proto: onnx.ModelProto, nodes: tuple[str, ...]) -> dict[str, int]:
    inits = {i.name: i for i in proto.graph.initializer}
    by_name = {n.name: n for n in proto.graph.node}
    return {n: int(numpy_helper.to_array(inits[by_name[n].input[1]]).size) for n in nodes}


def choose_bits(
    sensitivity: dict[str, float], sizes: dict[str, int], low_bits: int, budget: float
) -> dict[str, int]:
    """Greedy widths: lower the cheapest layers (sensitivity per byte saved) until the weight
    bytes are at most ``budget`` times the all-int8 bytes (or nothing is left to lower)."""
    bits = dict.fromkeys(sizes, 8)
    limit = budget * sum(sizes.values())
    order = sorted(sizes, key=lambda n: sensitivity[n] / max(sizes[n] * (8 - low_bits), 1))
    for n in order:
        if sum(sizes[k] * bits[k] / 8 for k in sizes) <= limit:
            break
        bits[n] = low_bits
    return bits


class MixedPrecision(QuantPass):
    """Per-layer int8/int4 weights chosen by sensitivity under a weight-size budget."""

    name = "quantize.mixed"
    PARAMS = MappingProxyType(
        {
            "budget": float_in(0.75, 0.5, 1.0),
            "low_bits": one_of(4),
            "calibration_samples": int_in(512, 1, 1_000_000),
            "sensitivity_samples": int_in(256, 1, 1_000_000),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        module = float_module(model).eval()
        proto = float_onnx(module, ctx.dataset)
        x = calibration_inputs(ctx.dataset, self.p("calibration_samples"), ctx.seed)
        xv = np.asarray(ctx.dataset.x_val, np.float32)[: self.p("sensitivity_samples")]
        ref = _outputs(proto, xv)
        plan = _qdq.plan(proto)
        low = f"int{self.p('low_bits')}"
        config = _qdq.StaticConfig()
        sens = {}
        for n in plan.nodes:
            q, _ = static_quantize(proto, x, config, {n: low})
            sens[n] = float(np.mean((_outputs(_to_opset21(q), xv) - ref) ** 2))
        sizes = _weight_sizes(proto, plan.nodes)
        bits = choose_bits(sens, sizes, self.p("low_bits"), float(self.p("budget")))
        dtypes = {n: f"int{b}" for n, b in bits.items()}
        qproto, record = static_quantize(proto, x, config, dtypes)
        if any(b != 8 for b in bits.values()):
            qproto = _to_opset21(qproto)
        out = quantized_model(module, qproto, "mixed_w8w4a8")
        int8_bytes = sum(sizes.values())
        record |= {
            "params": self.resolved(),
            "kind": out.kind,
            "sensitivity": sens,
            "bits": bits,
            "weight_bytes": sum(sizes[n] * bits[n] / 8 for n in sizes),
            "int8_weight_bytes": int8_bytes,
        }
        return PassResult(out, record)
