"""Binarized and ternary MLPs (``quantize.binarize``): ±1 (or -1/0/+1) weights with a
per-neuron scale, ±1 activations, trained with straight-through estimators, stored bit-packed.

Training (XNOR-Net style): every Linear uses ``alpha_c * sign(W_c)`` (ternary: TWN threshold
``0.7 mean|W_c|``, ``alpha_c`` the mean of the kept magnitudes); hidden activations are
``sign(x)`` with a hard-tanh straight-through gradient; the first layer reads the real
(normalized) input. Export: the ±1 weights go into the ONNX graph as packed ``uint8`` bits (two
bits per ternary weight) and an unpacking subgraph (``BitShift``, ``BitwiseAnd``, ``Cast``),
standard ONNX that onnxruntime runs. :func:`xnor_forward` is the integer reference: hidden layers
compute ``2 * popcount(XNOR(a, w) & mask) - popcount(mask)`` on packed bits.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.quantize._common import QuantPass, int_in, one_of
from edgeslim.passes.quantize._model import float_module, float_onnx, quantized_model


def _torch() -> Any:
    import torch

    return torch


def binary_weights(w: Any, ternary: bool) -> tuple[Any, Any]:
    """(codes in {-1, 0, 1}, per-row scale alpha) of a weight matrix (torch, no grad)."""
    torch = _torch()
    if not ternary:
        return torch.where(w >= 0, 1.0, -1.0), w.abs().mean(dim=1)
    delta = 0.7 * w.abs().mean(dim=1, keepdim=True)
    keep = (w.abs() > delta).float()
    alpha = (w.abs() * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)
    return torch.sign(w) * keep, alpha


@functools.cache
def _modules() -> tuple[type, type]:
    torch = _torch()
    nn = torch.nn

    class BinaryLinear(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, layer: Any, ternary: bool) -> None:
            super().__init__()
            self.weight = nn.Parameter(layer.weight.detach().clone())
            self.bias = nn.Parameter(layer.bias.detach().clone())
            self.ternary = ternary

        def forward(self, x: Any) -> Any:
            codes, alpha = binary_weights(self.weight.detach(), self.ternary)
            w = self.weight.clamp(-1, 1)  # STE: gradient flows to the clipped latent weight
            wq = (codes * alpha[:, None] - w).detach() + w
            return nn.functional.linear(x, wq, self.bias)

    class SignSTE(nn.Module):  # type: ignore[misc,name-defined]
        def forward(self, x: Any) -> Any:
            clipped = x.clamp(-1, 1)
            return (torch.where(x >= 0, 1.0, -1.0) - clipped).detach() + clipped

    return BinaryLinear, SignSTE


def binarize_mlp(module: Any, ternary: bool) -> Any:
    """A trainable binary copy of an MLP ``module`` (Flatten, Linear, ReLU, ..., Linear)."""
    nn = _torch().nn
    BinaryLinear, SignSTE = _modules()
    seq = getattr(module, "net", None)
    if not isinstance(seq, nn.Sequential) or not any(isinstance(m, nn.Linear) for m in seq):
        raise RecipeError(
            "pass 'quantize.binarize' supports MLPs (zoo kind 'mlp'); got another model"
        )
    layers: list[Any] = []
    for m in seq:
        if isinstance(m, nn.Linear):
            layers.append(BinaryLinear(m, ternary))
        elif isinstance(m, nn.ReLU | nn.Tanh | nn.Hardtanh):
            layers.append(SignSTE())
        elif isinstance(m, nn.Flatten | nn.Dropout):
            layers.append(copy.deepcopy(m))
        else:
            raise RecipeError(
                "pass 'quantize.binarize' supports MLPs (Flatten, Linear, ReLU); "
                f"got a {type(m).__name__}"
            )
    return nn.Sequential(*layers)


def deploy_module(trained: Any) -> Any:
    """The inference form: ±1 weight matrices, per-row scale, sign activations (float ops)."""
    torch = _torch()
    nn = torch.nn
    BinaryLinear, SignSTE = _modules()

    class Deployed(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, codes: Any, alpha: Any, bias: Any) -> None:
            super().__init__()
            self.register_buffer("codes", codes)
            self.register_buffer("alpha", alpha)
            self.register_buffer("bias", bias)

        def forward(self, x: Any) -> Any:
            return nn.functional.linear(x, self.codes) * self.alpha + self.bias

    class Sign(nn.Module):  # type: ignore[misc,name-defined]
        def forward(self, x: Any) -> Any:
            return torch.where(x >= 0, 1.0, -1.0)

    out = []
    for m in trained:
        if isinstance(m, BinaryLinear):
            layer: Any = m
            codes, alpha = binary_weights(layer.weight.detach(), layer.ternary)
            out.append(Deployed(codes, alpha, layer.bias.detach().clone()))
        elif isinstance(m, SignSTE):
            out.append(Sign())
        else:
            out.append(m)
    return nn.Sequential(*out).eval()


def pack_sign_initializers(proto: onnx.ModelProto, ternary: bool) -> tuple[onnx.ModelProto, int]:
    """Replace ±1 (or -1/0/1) initializers by packed bits plus an unpacking subgraph whose
    output keeps the initializer's name. Returns the model and the packed bytes."""
    allowed = {-1.0, 0.0, 1.0} if ternary else {-1.0, 1.0}

    def rule(w: np.ndarray) -> tuple[int, np.ndarray] | None:
        if w.dtype != np.float32 or w.size < 8 or not set(np.unique(w)) <= allowed:
            return None
        return 0, np.ones(1, np.float32)  # no scale

    return _pack_initializers(proto, ternary, rule)


def _pack_initializers(
    proto: onnx.ModelProto,
    ternary: bool,
    rule: Any,
) -> tuple[onnx.ModelProto, int]:
    """Every initializer ``w`` for which ``rule(w)`` gives ``(lead, alpha)`` becomes packed
    sign bits (two bits per ternary code) behind an unpacking subgraph, times ``alpha`` per
    leading row when ``lead`` > 0; the result keeps the initializer's name."""
    from edgeslim.passes.quantize._weights import _raise_opset

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    bits = 2 if ternary else 1
    kept, nodes, packed_bytes = [], [], 0
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        found = rule(w)
        if found is None:
            kept.append(init)
            continue
        lead, alpha = found
        codes = np.sign(w).astype(np.int64)
        field = (codes & 3) if ternary else (codes > 0).astype(np.int64)
        packed = _pack_fields(field.ravel(), bits)
        signs = f"{init.name}_sign" if lead else init.name
        ts, ns = _unpack_subgraph(signs, packed, w.shape, bits)
        packed_bytes += packed.size
        if lead:
            scale = alpha.reshape(w.shape[:lead] + (1,) * (w.ndim - lead)).astype(np.float32)
            ts.append(numpy_helper.from_array(scale, f"{init.name}_alpha"))
            ns.append(helper.make_node("Mul", [signs, f"{init.name}_alpha"], [init.name]))
            packed_bytes += alpha.nbytes
        kept += ts
        nodes += ns
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    rest = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes + rest)
    _raise_opset(m, 18, 8)  # BitwiseAnd
    return m, packed_bytes


def _pack_fields(codes: np.ndarray, bits: int) -> np.ndarray:
    per = 8 // bits
    pad = (-len(codes)) % per
    c = np.concatenate([codes, np.zeros(pad, np.int64)]).reshape(-1, per)
    return (c << (np.arange(per) * bits)).sum(axis=1).astype(np.uint8)


def _unpack_subgraph(
    name: str, packed: np.ndarray, shape: tuple[int, ...], bits: int
) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    per, n = 8 // bits, int(np.prod(shape))
    c = lambda v, s: numpy_helper.from_array(np.asarray(v), f"{name}_{s}")  # noqa: E731
    inits = [
        c(packed.reshape(-1, 1), "bits"),
        c((np.arange(per) * bits).astype(np.uint8).reshape(1, -1), "shift"),
        c(np.array([2**bits - 1], np.uint8), "mask"),
        c(np.array([0], np.int64), "start"),
        c(np.array([n], np.int64), "end"),
        c(np.array(shape, np.int64), "shape"),
        c(np.array([-1], np.int64), "flat"),
    ]
    t = lambda s: f"{name}_{s}"  # noqa: E731
    nodes = [
        helper.make_node("BitShift", [t("bits"), t("shift")], [t("sh")], direction="RIGHT"),
        helper.make_node("BitwiseAnd", [t("sh"), t("mask")], [t("and")]),
        helper.make_node("Reshape", [t("and"), t("flat")], [t("fl")]),
        helper.make_node("Slice", [t("fl"), t("start"), t("end")], [t("sl")]),
        helper.make_node("Cast", [t("sl")], [t("f")], to=TensorProto.FLOAT),
    ]
    if bits == 1:  # code 1 -> +1, 0 -> -1
        inits += [c(np.float32(2.0), "two"), c(np.float32(1.0), "one")]
        nodes += [
            helper.make_node("Mul", [t("f"), t("two")], [t("m")]),
            helper.make_node("Sub", [t("m"), t("one")], [t("v")]),
        ]
    else:  # two's complement 2-bit: 0, 1, 3 -> 0, 1, -1
        inits += [c(np.float32(2.0), "two"), c(np.float32(4.0), "four")]
        nodes += [
            helper.make_node("Div", [t("f"), t("two")], [t("d")]),
            helper.make_node("Floor", [t("d")], [t("fd")]),
            helper.make_node("Mul", [t("fd"), t("four")], [t("m")]),
            helper.make_node("Sub", [t("f"), t("m")], [t("v")]),
        ]
    nodes.append(helper.make_node("Reshape", [t("v"), t("shape")], [name]))
    return inits, nodes


@dataclass(frozen=True, slots=True)
class PackedLayer:
    """One layer of the integer reference: packed codes (1 = +1), nonzero mask, scale, bias."""

    signs: np.ndarray  # (out, ceil(in / 8)) uint8, bit set where the weight is +1
    mask: np.ndarray  # (out, ceil(in / 8)) uint8, bit set where the weight is not 0
    alpha: np.ndarray
    bias: np.ndarray
    inputs: int


def packed_layers(deployed: Any) -> list[PackedLayer]:
    out = []
    for m in deployed:
        if hasattr(m, "codes"):
            w = m.codes.numpy()
            out.append(
                PackedLayer(
                    np.packbits(w > 0, axis=1),
                    np.packbits(w != 0, axis=1),
                    m.alpha.numpy().astype(np.float64),
                    m.bias.numpy().astype(np.float64),
                    w.shape[1],
                )
            )
    return out


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.int64)


def xnor_forward(layers: list[PackedLayer], x: np.ndarray) -> np.ndarray:
    """Reference inference: the first layer on real inputs, the others by XNOR and popcount on
    packed ±1 activations (an activation bit is 1 for +1). ``x`` is normalized and flat."""
    first, *rest = layers
    w = np.unpackbits(first.signs, axis=1, count=first.inputs).astype(np.float64) * 2 - 1
    w *= np.unpackbits(first.mask, axis=1, count=first.inputs)
    y = (x.astype(np.float64) @ w.T) * first.alpha + first.bias
    for layer in rest:
        a = np.packbits(y >= 0, axis=1)  # (batch, bytes)
        agree = ~(a[:, None, :] ^ layer.signs[None]) & layer.mask[None]
        kept = _POPCOUNT[layer.mask].sum(axis=1)
        dot = 2 * _POPCOUNT[agree].sum(axis=2) - kept[None]  # integers
        y = dot * layer.alpha + layer.bias
    return y


@functools.cache
def _weight_parametrization() -> type:
    torch = _torch()

    class BinaryWeight(torch.nn.Module):  # type: ignore[misc,name-defined]
        """``alpha_r * sign(W_r)`` per output row (axis 0), straight-through to the latent
        weight clipped at its row's largest magnitude."""

        def __init__(self, ternary: bool) -> None:
            super().__init__()
            self.ternary = ternary

        def forward(self, w: Any) -> Any:
            flat = w.reshape(w.shape[0], -1)
            codes, alpha = binary_weights(flat.detach(), self.ternary)
            wq = (codes * alpha[:, None]).reshape(w.shape)
            return (wq - w).detach() + w

    return BinaryWeight


_WEIGHTED = ("Conv1d", "Conv2d", "Linear", "GRU", "LSTM", "RNN")


def binarize_weights(module: Any, ternary: bool, ends: bool) -> tuple[Any, list[str]]:
    """A trainable copy of ``module`` whose conv, linear and recurrent weights are binary (or
    ternary) with a per-output-row scale (torch parametrizations; activations stay float).
    With ``ends`` False the first and the last weighted layer stay float (the usual choice for
    binary CNNs: the input layer has few weights and the classifier sets the logits' scale).
    Returns the copy and the names of the binarized parameters."""
    torch = _torch()
    from torch.nn.utils import parametrize

    net = copy.deepcopy(module)
    layers = [(n, m) for n, m in net.named_modules() if type(m).__name__ in _WEIGHTED]
    if not layers:
        raise RecipeError("pass 'quantize.binarize' found no conv, linear or recurrent layer")
    chosen = layers if ends or len(layers) < 3 else layers[1:-1]
    names = []
    BinaryWeight = _weight_parametrization()
    for lname, m in chosen:
        for pname, p in list(m.named_parameters(recurse=False)):
            if pname.startswith("weight") and p.dim() >= 2:
                parametrize.register_parametrization(m, pname, BinaryWeight(ternary))
                names.append(f"{lname}.{pname}")
    assert isinstance(net, torch.nn.Module)
    return net, names


def freeze_weights(trained: Any) -> Any:
    """The inference form of :func:`binarize_weights`: the parametrizations baked in."""
    from torch.nn.utils import parametrize

    net = copy.deepcopy(trained).eval()
    for m in list(net.modules()):
        if parametrize.is_parametrized(m):
            for pname in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, pname, leave_parametrized=True)
    return net


def pack_scaled_sign_initializers(
    proto: onnx.ModelProto, ternary: bool
) -> tuple[onnx.ModelProto, int]:
    """Replace every float initializer whose rows (axis 0, or axes 0-1 for recurrent weights)
    hold one magnitude each (``alpha_r * {-1, 1}``, ternary also 0) by packed sign bits, a
    per-row float32 scale and ``Mul``; the product keeps the initializer's name (BatchNorm
    folded into a conv keeps rows of one magnitude, so it is packed too)."""

    def rule(w: np.ndarray) -> tuple[int, np.ndarray] | None:
        return _row_scales(w, ternary) if w.dtype == np.float32 and w.size >= 64 else None

    return _pack_initializers(proto, ternary, rule)


def _row_scales(w: np.ndarray, ternary: bool) -> tuple[int, np.ndarray] | None:
    """(leading axes, per-row magnitude) when every row has one nonzero magnitude."""
    for lead in (1, 2):
        if w.ndim <= lead:
            return None
        rows = np.abs(w.reshape(int(np.prod(w.shape[:lead])), -1)).astype(np.float64)
        alpha = rows.max(axis=1)
        if not (alpha > 0).all():
            continue
        ok = np.isclose(rows, alpha[:, None], rtol=1e-6, atol=0)
        if ternary:
            ok |= rows == 0
        if ok.all():
            return lead, alpha.astype(np.float32)
    return None


class Binarize(QuantPass):
    """Binary (or ternary) networks trained for ``epochs`` with straight-through estimators.

    MLPs (``activations`` auto or binary): ±1 weights and ±1 hidden activations, with the XNOR
    and popcount reference :func:`xnor_forward`. Every other model (CNN, DS-CNN, ResNet, TCN,
    GRU, LSTM), or an MLP with ``activations=float``: binary weights with a per-output-row scale
    in every conv, linear and recurrent layer (``ends``: also the first and last; default only
    for MLPs), float activations. Weights are stored bit-packed in the ONNX artifact either way.
    """

    name = "quantize.binarize"
    PARAMS = MappingProxyType(
        {
            "mode": one_of("binary", "ternary"),
            "epochs": int_in(20, 0, 10_000),
            "activations": one_of("auto", "binary", "float"),
            "ends": one_of("auto", "binary", "float"),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        if ctx.fine_tune is None:
            raise RecipeError(
                "pass 'quantize.binarize' needs a run with training settings (fine_tune)"
            )
        ternary = self.p("mode") == "ternary"
        module = float_module(model)
        mlp = _is_mlp(module)
        activations = self.p("activations")
        if activations == "binary" and not mlp:
            raise RecipeError(
                "pass 'quantize.binarize': activations=binary needs an MLP (zoo kind 'mlp'); "
                "use activations=float (binary weights) for other models"
            )
        if mlp and activations != "float":
            trained = ctx.fine_tune(binarize_mlp(module, ternary), self.p("epochs"))
            deployed = deploy_module(trained.eval())
            proto, packed = pack_sign_initializers(float_onnx(deployed, ctx.dataset), ternary)
            binarized = "all weights, hidden activations"
        else:
            ends = self.p("ends") == "binary" or (self.p("ends") == "auto" and mlp)
            net, names = binarize_weights(module, ternary, ends)
            trained = ctx.fine_tune(net, self.p("epochs"))
            deployed = freeze_weights(trained)
            proto, packed = pack_scaled_sign_initializers(
                float_onnx(deployed, ctx.dataset), ternary
            )
            binarized = ", ".join(names)
        onnx.checker.check_model(proto)
        out = quantized_model(deployed, proto, self.p("mode"))
        record = {
            "params": self.resolved(),
            "kind": out.kind,
            "packed_weight_bytes": packed,
            "binarized": binarized,
        }
        return PassResult(out, record)


def _is_mlp(module: Any) -> bool:
    nn = _torch().nn
    seq = getattr(module, "net", None)
    return isinstance(seq, nn.Sequential) and all(
        isinstance(m, nn.Linear | nn.ReLU | nn.Tanh | nn.Hardtanh | nn.Flatten | nn.Dropout)
        for m in seq
    )
