"""Quantization-aware training (``quantize.qat``): fake-quantize, fine-tune, export with
learned qparams.

Steps: copy the float model, fold BatchNorm into the preceding convolution (so the trained
weights are the exported ones), wrap every Conv1d/Conv2d/Linear in a :class:`QATLayer` (LSQ on
input and per-channel weights, or plain STE with ``learn_step: false``) and every GRU/LSTM in a
:class:`QATRecurrent` (all gate weights fake-quantized per row), fine-tune with the run's
training settings for ``epochs``, then export: the float graph of the trained weights is
rewritten to QDQ by :func:`static_quantize` with the learned weight steps and activation ranges
(the rest calibrated as in PTQ). The returned model's ``forward`` is the fake-quantized model.
"""

from __future__ import annotations

import copy
import itertools
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize import _qdq
from edgeslim.passes.quantize._common import QuantPass, boolean, int_in, one_of
from edgeslim.passes.quantize._model import (
    calibration_inputs,
    float_module,
    float_onnx,
    quantized_model,
)
from edgeslim.passes.quantize._static import static_quantize


def fold_batchnorm(module: Any) -> int:
    """Fold every Conv -> BatchNorm pair of consecutive Sequential children (in place, eval
    statistics); the BatchNorm becomes Identity. Returns how many were folded."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        keys = list(seq._modules)
        for a, b in itertools.pairwise(keys):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv1d | nn.Conv2d) and isinstance(
                bn, nn.BatchNorm1d | nn.BatchNorm2d
            ):
                seq._modules[a] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                seq._modules[b] = nn.Identity()
                folded += 1
    return folded


def insert_fake_quant(module: Any, weight_bits: int, act_bits: int, learn: bool) -> list[Any]:
    """Replace layers by their fake-quantized wrappers in place; return the layer wrappers."""
    from torch import nn

    from edgeslim.passes.quantize._fakequant import QATLayer, QATRecurrent

    wrappers = []
    for parent in list(module.modules()):
        for key, child in list(parent._modules.items()):
            if isinstance(child, nn.Conv1d | nn.Conv2d | nn.Linear):
                parent._modules[key] = QATLayer(child, weight_bits, act_bits, learn)
                wrappers.append(parent._modules[key])
            elif isinstance(child, nn.GRU | nn.LSTM):
                parent._modules[key] = QATRecurrent(child, weight_bits)
    return wrappers


def strip_fake_quant(module: Any) -> Any:
    """A copy of ``module`` with every wrapper replaced by the float layer it wraps."""
    from edgeslim.passes.quantize._fakequant import QATLayer, QATRecurrent

    plain = copy.deepcopy(module)
    for parent in list(plain.modules()):
        for key, child in list(parent._modules.items()):
            if isinstance(child, QATLayer):
                parent._modules[key] = child.layer
            elif isinstance(child, QATRecurrent):
                parent._modules[key] = child.rnn
    return plain


def learned_qparams(
    proto: onnx.ModelProto, wrappers: list[Any]
) -> tuple[dict[str, tuple[float, float]], dict[str, np.ndarray]]:
    """Map each wrapper to its ONNX node by weight values; return activation range overrides
    (by tensor) and weight steps (by node)."""
    _qdq.plan(proto)  # names the nodes
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    overrides, scales = {}, {}
    for wrapper in wrappers:
        w = wrapper.layer.weight.detach().cpu().numpy()
        node = next(
            (
                n
                for n in proto.graph.node
                if n.op_type in _qdq.QUANT_OPS
                and len(n.input) > 1
                and n.input[1] in inits
                and inits[n.input[1]].shape == w.shape
                and np.array_equal(inits[n.input[1]], w)
            ),
            None,
        )
        if node is None:
            raise RecipeError(
                f"pass 'quantize.qat': no exported node carries the weights of {wrapper.layer}"
            )
        overrides[node.input[0]] = wrapper.act.act_range()
        scales[node.name] = wrapper.wq.step.detach().abs().cpu().numpy().astype(np.float32)
    return overrides, scales


class QAT(QuantPass):
    """Quantization-aware training with STE and learned step size (see module docstring)."""

    name = "quantize.qat"
    PARAMS = MappingProxyType(
        {
            "weight_bits": one_of(8, 4),
            "epochs": int_in(3, 0, 10_000),
            "learn_step": boolean(True),
            "calibration_samples": int_in(512, 1, 1_000_000),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        if ctx.fine_tune is None:
            raise RecipeError("pass 'quantize.qat' needs a run with training settings (fine_tune)")
        module = copy.deepcopy(float_module(model)).eval()
        folded = fold_batchnorm(module)
        bits = self.p("weight_bits")
        wrappers = insert_fake_quant(module, bits, 8, self.p("learn_step"))
        x = calibration_inputs(ctx.dataset, self.p("calibration_samples"), ctx.seed)
        _initialize(module, ctx.dataset.normalization.apply(x))
        module = ctx.fine_tune(module, self.p("epochs"))
        module.eval()
        plain = strip_fake_quant(module)
        proto = float_onnx(plain, ctx.dataset)
        overrides, scales = learned_qparams(proto, wrappers)
        config = _qdq.StaticConfig(weight_dtype="int8" if bits == 8 else "int4")
        qproto, record = static_quantize(
            proto, x, config, overrides=overrides, weight_scales=scales
        )
        if bits == 4:
            from edgeslim.passes.quantize._static import _to_opset21

            qproto = _to_opset21(qproto)
        out = quantized_model(module, qproto, f"qat_w{bits}a8")
        record |= {"params": self.resolved(), "kind": out.kind, "folded_batchnorms": folded}
        return PassResult(out, record)


def _initialize(module: Any, x: np.ndarray) -> None:
    """One forward pass so every quantizer sets its range from real data."""
    import torch

    with torch.no_grad():
        module(torch.as_tensor(np.asarray(x[:256], np.float32)))
