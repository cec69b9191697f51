"""Weight clustering / sharing (``compress.cluster``): a k-means codebook per weight matrix,
fine-tuned centroids, and an artifact that stores codebook + bit-packed indices.

Steps: copy the model, fold BatchNorm into the preceding convolutions (the exported weights
are the clustered ones), run 1-D k-means (linear initialization between min and max, Lloyd
iterations) on every selected weight matrix (Conv/Linear ``weight``, GRU/LSTM ``weight_ih``/
``weight_hh``, both directions of a layer sharing one codebook since ONNX stacks them) and,
with ``bias_clusters`` > 0, on the biases too (per Conv/Linear; all biases of a recurrent
layer together, as ONNX concatenates them). Exact zeros (an earlier pruning) form their own
cluster fixed at 0, so the sparsity survives. Fine-tuning trains the centroids: after every
optimizer step each cluster's weights are set to their mean, i.e. every centroid moves by the
mean update of its members. ``distill: true`` fine-tunes with distillation from the chain's
input model (inside ``compress.chain``) or from the model before clustering.

Export (built by the pass; the returned model's ``edgeslim_export`` writes it, as quantization
passes do): the float graph is exported as usual, then every weight or bias
initializer with at most ``max(clusters, bias_clusters)`` distinct values becomes a codebook
(float32, k values) plus indices packed ``bits`` to a value (per tensor: uint2 for k <= 4,
uint4 for k <= 16, else uint8; low bits first as ONNX specifies) and
``DequantizeLinear -> Cast(int64) -> Gather(codebook)`` rebuilding the tensor under its old
name. A tensor too small to save :data:`MIN_SAVING` bytes after paying for those nodes stays
float (with its clustered values). The file is really that small (``artifact_bytes`` measures
it); onnxruntime runs it, compute stays float32.
"""

from __future__ import annotations

import copy
import math
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from edgeslim.models.train import Callback
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    boolean,
    canonical,
    counts,
    float_in,
    int_in,
    score,
    selected,
    strings,
    train,
)

_UTYPE = {2: TensorProto.UINT2, 4: TensorProto.UINT4, 8: TensorProto.UINT8}
_OPSET = {2: 25, 4: 21, 8: 13}
_IR = {2: 11, 4: 10, 8: 7}
MIN_SAVING = 160  # bytes a stored weight must save to pay for its DequantizeLinear/Cast/Gather


def index_bits(k: int) -> int:
    return 2 if k <= 4 else 4 if k <= 16 else 8


def kmeans_1d(values: np.ndarray, k: int, iters: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, assignment) of 1-D k-means with centroids initialized evenly between the
    minimum and maximum (deterministic)."""
    v = values.astype(np.float64).ravel()
    uniq = np.unique(v)
    if len(uniq) <= k:
        return uniq, np.searchsorted(uniq, v)
    c = np.linspace(v.min(), v.max(), k)
    idx = np.zeros(len(v), np.int64)
    for _ in range(iters):
        edges = (c[1:] + c[:-1]) / 2
        idx = np.searchsorted(edges, v)
        sums = np.bincount(idx, v, minlength=k)
        cnt = np.bincount(idx, minlength=k)
        new = np.where(cnt > 0, sums / np.maximum(cnt, 1), c)
        if np.allclose(new, c):
            break
        c = np.sort(new)
    edges = (c[1:] + c[:-1]) / 2
    return c, np.searchsorted(edges, v)


def cluster_tensor(w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Codebook, per-element index and whether index 0 is a fixed zero cluster."""
    flat = w.detach().double().numpy().ravel()
    zeros = flat == 0
    if zeros.any() and not zeros.all():
        c, a = kmeans_1d(flat[~zeros], k - 1)
        book = np.concatenate([[0.0], c])
        idx = np.zeros(len(flat), np.int64)
        idx[~zeros] = a + 1
        return torch.from_numpy(book).float(), torch.from_numpy(idx), True
    c, a = kmeans_1d(flat, k)
    return torch.from_numpy(c).float(), torch.from_numpy(a), False


Group = tuple[list[torch.Tensor], torch.Tensor, bool]  # tensors sharing a codebook


class _Snap(Callback):
    """After every optimizer step, each cluster's weights become their mean."""

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups

    def on_step_end(self, step: int, model: Any) -> None:
        snap(self.groups)


def snap(groups: list[Group]) -> None:
    with torch.no_grad():
        for params, idx, fixed_zero in groups:
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            k = int(idx.max()) + 1
            sums = torch.zeros(k, dtype=torch.float64).index_add_(0, idx, flat.double())
            cnt = torch.bincount(idx, minlength=k).clamp(min=1)
            book = (sums / cnt).float()
            if fixed_zero:
                book[0] = 0.0
            values = book[idx]
            start = 0
            for p in params:
                p.copy_(values[start : start + p.numel()].reshape(p.shape))
                start += p.numel()


def codebook_groups(module: Any, patterns: Any, biases: bool) -> list[tuple[str, list[Any]]]:
    """Tensors that share one codebook: each Conv/Linear weight; per recurrent layer the input
    matrices of both directions, the recurrence matrices of both directions (ONNX stacks the
    directions into one tensor) and, with ``biases``, all its biases (ONNX concatenates them).
    Conv/Linear biases form their own groups when ``biases``."""
    from torch import nn

    groups: list[tuple[str, list[Any]]] = []
    for mname, m in module.named_modules():
        prefix = f"{mname}." if mname else ""
        if not mname or not selected(canonical(mname), patterns):
            continue
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear):
            groups.append((f"{prefix}weight", [m.weight]))
            if biases and m.bias is not None:
                groups.append((f"{prefix}bias", [m.bias]))
        elif isinstance(m, nn.RNNBase):
            for layer in range(m.num_layers):
                sfx = [f"_l{layer}", f"_l{layer}_reverse"][: 2 if m.bidirectional else 1]
                for kind in ("weight_ih", "weight_hh"):
                    groups.append(
                        (f"{prefix}{kind}_l{layer}", [getattr(m, kind + x) for x in sfx])
                    )
                if biases and m.bias:
                    tensors = [getattr(m, f"{b}{x}") for x in sfx for b in ("bias_ih", "bias_hh")]
                    groups.append((f"{prefix}bias_l{layer}", tensors))
    return groups


def _pack(idx: np.ndarray, bits: int) -> bytes:
    flat = idx.astype(np.int64).ravel()
    if bits == 8:
        return bytes(flat.astype(np.uint8).tobytes())
    per = 8 // bits
    rows = np.concatenate([flat, np.zeros((-len(flat)) % per, np.int64)]).reshape(-1, per)
    shifts = np.arange(per, dtype=np.int64) * bits
    return bytes((rows << shifts).sum(axis=1).astype(np.uint8).tobytes())


def clustered_onnx(
    model: onnx.ModelProto, max_clusters: int
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Store every weight initializer with at most ``max_clusters`` distinct values as
    codebook + packed indices (see module docstring); return the model and what was stored."""
    from edgeslim.passes.quantize._weights import _prepend, _raise_opset, weight_names

    m = onnx.ModelProto()
    m.CopyFrom(model)
    weights = set(weight_names(m)) | _bias_names(m)
    kept: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    record: dict[str, dict[str, Any]] = {}
    one: list[onnx.TensorProto] = []
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init) if init.name in weights else None
        if w is None or w.dtype != np.float32 or w.size <= max_clusters:
            kept.append(init)
            continue
        book, idx = np.unique(w, return_inverse=True)
        bits = index_bits(len(book))
        saved = w.size * 4 - (-(-w.size * bits // 8) + 4 * len(book))
        if len(book) > max_clusters or saved < MIN_SAVING:
            kept.append(init)  # too many values, or too small to pay for the three nodes
            continue
        n, j = init.name, f"k{len(record)}"  # short names: every byte counts on a tiny model
        t = onnx.TensorProto()
        t.name, t.data_type = f"{j}i", _UTYPE[bits]
        t.dims.extend(w.shape)
        t.raw_data = _pack(idx.reshape(w.shape), bits)
        kept += [t, numpy_helper.from_array(book.astype(np.float32), f"{j}c")]
        src = f"{j}i"
        if bits < 8:
            if not one:
                one.append(numpy_helper.from_array(np.array(1.0, np.float32), "k_one"))
            nodes.append(helper.make_node("DequantizeLinear", [src, "k_one"], [f"{j}f"]))
            src = f"{j}f"
        nodes += [
            helper.make_node("Cast", [src], [f"{j}l"], to=TensorProto.INT64),
            helper.make_node("Gather", [f"{j}c", f"{j}l"], [n]),
        ]
        record[n] = {
            "shape": list(w.shape),
            "clusters": len(book),
            "bits": bits,
            "float_bytes": int(w.size * 4),
            "stored_bytes": len(t.raw_data) + 4 * len(book),
            "indices": t.name,
            "codebook": f"{j}c",
        }
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept + one)
    _prepend(m, nodes)
    if record:
        low = min(int(r["bits"]) for r in record.values())
        _raise_opset(m, _OPSET[low], _IR[low])
    return m, record


_BIAS_INPUT = {"Conv": 2, "Gemm": 2, "GRU": 3, "LSTM": 3, "RNN": 3}


def _bias_names(m: onnx.ModelProto) -> set[str]:
    inits = {i.name for i in m.graph.initializer}
    out = set()
    for node in m.graph.node:
        k = _BIAS_INPUT.get(node.op_type)
        if k is not None and k < len(node.input) and node.input[k] in inits:
            out.add(node.input[k])
    return out


class Cluster(CompressPass):
    """Weight clustering with stored indices (see module docstring)."""

    name = "compress.cluster"
    PARAMS = MappingProxyType(
        {
            "clusters": int_in(16, 2, 256),
            "bias_clusters": int_in(0, 0, 256),
            "distill": boolean(False),
            "temperature": float_in(4.0, 0.05, 100.0),
            "alpha": float_in(0.7, 0.0, 1.0),
            "layers": strings(["*"]),
            "epochs": int_in(3, 0, 100_000),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        from edgeslim.passes.quantize._model import float_module
        from edgeslim.passes.quantize._qat import fold_batchnorm

        module = copy.deepcopy(float_module(model)).eval()
        acc_before = score(module, ctx)
        folded = fold_batchnorm(module)
        k, kb = self.p("clusters"), self.p("bias_clusters")
        groups: list[Group] = []
        decisions = {}
        for name, params in codebook_groups(module, self.p("layers"), kb > 0):
            kk = kb if name.rsplit(".", 1)[-1].startswith("bias") else k
            n = sum(p.numel() for p in params)
            if n <= kk:
                continue
            flat = torch.cat([p.detach().reshape(-1) for p in params])
            book, idx, fixed = cluster_tensor(flat, kk)
            groups.append((params, idx, fixed))
            bits = index_bits(kk)
            decisions[name] = {
                "clusters": len(book),
                "zero_cluster": fixed,
                "bits": bits,
                "float_bytes": int(n * 4),
                "stored_bytes": math.ceil(n * bits / 8) + 4 * len(book),
            }
        snap(groups)
        acc_clustered = score(module, ctx)
        if self.p("distill"):  # from the chain's input, else from the model before clustering
            from edgeslim.passes.compress._distill import distill_into

            teacher = copy.deepcopy(ctx.extras.get("chain_input") or float_module(model)).eval()
            module = distill_into(
                module,
                teacher,
                ctx,
                self.p("epochs"),
                temperature=self.p("temperature"),
                alpha=self.p("alpha"),
                callbacks=[_Snap(groups)],
            )
        else:
            module = train(module, ctx, self.p("epochs"), callbacks=[_Snap(groups)])
        snap(groups)
        fb = sum(d["float_bytes"] for d in decisions.values())
        sb = sum(d["stored_bytes"] for d in decisions.values())
        record = {
            "method": self.name,
            "params": self.resolved(),
            "folded_batchnorms": folded,
            "layers": decisions,
            "claim": {**counts(module, ctx), "float_weight_bytes": fb, "stored_weight_bytes": sb},
            "accuracy_before": acc_before,
            "accuracy_clustered": acc_clustered,
            "accuracy_after": score(module, ctx),
        }
        from edgeslim.passes.quantize._model import float_onnx, quantized_model

        proto, stored = clustered_onnx(float_onnx(module.eval(), ctx.dataset), max(k, kb))
        record["stored"] = stored
        return PassResult(quantized_model(module, proto, f"cluster_k{k}"), record)
