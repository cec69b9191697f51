"""Low-rank factorization (``compress.lowrank``): truncated SVD of Linear layers and of the
input matrices of GRU/LSTM layers, Tucker-2 (or channel SVD) of convolutions, then fine-tuning
(optionally distilled from the unfactorized model).

Rank per layer: ``rank`` (fixed), else ``budget`` (the factorized layer keeps at most that
fraction of the layer's weights), else ``energy`` (the smallest rank keeping that fraction of
the squared singular values). A layer is factorized only if that makes it smaller.

* ``Linear(in, out)`` -> ``Linear(in, r, bias=False)``, ``Linear(r, out)`` (``W = U S V^T``);
* ``Conv(I, O, k)`` with ``conv: tucker`` -> 1x1 ``Conv(I, r_i)``, ``Conv(r_i, r_o, k)``
  (the core; stride, padding, dilation of the original), 1x1 ``Conv(r_o, O)``: Tucker-2 by
  truncated HOSVD of the output and input modes. ``conv: cp`` -> 1x1 ``Conv(I, R)``, one
  depthwise conv per spatial axis, 1x1 ``Conv(R, O)`` from a rank-``R`` CP decomposition (ALS;
  with ``energy``, R is the larger Tucker-2 rank). ``conv: svd`` -> ``Conv(I, r, k)``,
  1x1 ``Conv(r, O)`` from the SVD of the ``(O, I*k)`` view;
* GRU/LSTM: the first layer's input matrices (both directions stacked) get a shared projection
  ``Linear(in, r)`` in front of a recurrent layer with input size ``r``. The hidden-to-hidden
  matrices stay full: ONNX GRU/LSTM take a dense recurrence matrix ``R``, so a factorized
  ``R`` would not make the exported artifact smaller.

The exported ONNX holds the factorized layers (MatMul/Gemm/Conv with the smaller weights), so
parameters and MACs measured on the artifact show the gain.
"""

from __future__ import annotations

import copy
import math
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    boolean,
    counts,
    float_in,
    int_in,
    one_of,
    replace_module,
    score,
    selected,
    strings,
    train,
)


def rank_for(s: np.ndarray, full: int, per_rank: int, p: dict[str, Any]) -> int:
    """The rank for singular values ``s`` of a layer of ``full`` weights whose factorization
    costs ``per_rank`` weights per unit of rank."""
    if p["rank"]:
        return int(min(p["rank"], len(s)))
    if p["budget"]:
        return int(max(1, min(len(s), math.floor(p["budget"] * full / per_rank))))
    e = np.cumsum(s.astype(np.float64) ** 2)
    if e[-1] <= 0:
        return 1
    return int(min(len(s), np.searchsorted(e / e[-1], p["energy"] - 1e-12) + 1))


class ProjectedRNN(nn.Module):
    """``rnn(proj(x))``: a recurrent layer behind a low-rank input projection."""

    def __init__(self, proj: nn.Linear, rnn: nn.Module) -> None:
        super().__init__()
        self.proj = proj
        self.rnn = rnn

    def forward(self, x: torch.Tensor, *args: Any) -> Any:
        return self.rnn(self.proj(x), *args)


def _svd(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(w.detach().double().numpy(), full_matrices=False)
    return u, s, vt


def factor_linear(m: nn.Linear, p: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]] | None:
    out, inp = m.weight.shape
    u, s, vt = _svd(m.weight)
    r = rank_for(s, out * inp, out + inp, p)
    if r * (out + inp) >= out * inp:
        return None
    first = nn.Linear(inp, r, bias=False)
    second = nn.Linear(r, out, bias=m.bias is not None)
    root = np.sqrt(s[:r])
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(root[:, None] * vt[:r]).float())
        second.weight.copy_(torch.from_numpy(u[:, :r] * root[None, :]).float())
        if m.bias is not None:
            second.bias.copy_(m.bias)
    return nn.Sequential(first, second), {"kind": "svd", "rank": r, "shape": [out, inp]}


def _conv_like(m: Any, cin: int, cout: int, kernel: Any, bias: bool, *, core: bool) -> Any:
    cls = type(m)
    if core:
        return cls(
            cin,
            cout,
            kernel,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            bias=bias,
            padding_mode=m.padding_mode,
        )
    return cls(cin, cout, 1, bias=bias)


def factor_conv(m: Any, p: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]] | None:
    if m.groups != 1:
        return None
    w = m.weight.detach().double().numpy()
    o, i = w.shape[:2]
    k = w.shape[2:]
    ksize = int(np.prod(k))
    full = w.size
    has_bias = m.bias is not None
    if p["conv"] == "svd":
        u, s, vt = np.linalg.svd(w.reshape(o, -1), full_matrices=False)
        r = rank_for(s, full, i * ksize + o, p)
        if r * (i * ksize + o) >= full:
            return None
        root = np.sqrt(s[:r])
        a = _conv_like(m, i, r, m.kernel_size, False, core=True)
        b = _conv_like(m, r, o, 1, has_bias, core=False)
        with torch.no_grad():
            a.weight.copy_(torch.from_numpy((root[:, None] * vt[:r]).reshape(r, i, *k)).float())
            b.weight.copy_(
                torch.from_numpy((u[:, :r] * root).reshape(o, r, *([1] * len(k)))).float()
            )
            if has_bias:
                b.bias.copy_(m.bias)
        return nn.Sequential(a, b), {"kind": "conv_svd", "rank": r, "shape": list(w.shape)}
    # Tucker-2 by truncated HOSVD of modes 0 (output) and 1 (input)
    uo, so, _ = np.linalg.svd(w.reshape(o, -1), full_matrices=False)
    ui, si, _ = np.linalg.svd(np.moveaxis(w, 1, 0).reshape(i, -1), full_matrices=False)
    if p["rank"] or p["budget"]:
        # one rank for both modes, chosen by the cost r*i + r*r*k + r*o
        if p["rank"]:
            r = min(p["rank"], o, i)
        else:
            target = p["budget"] * full
            r = 1
            while r < min(o, i) and (r + 1) * i + (r + 1) ** 2 * ksize + (r + 1) * o <= target:
                r += 1
        ro = ri = int(r)
    else:
        ro = rank_for(so, full, 1, p)
        ri = rank_for(si, full, 1, p)
    cost = ri * i + ro * ri * ksize + ro * o
    if cost >= full:
        return None
    core = np.einsum("oi...,oa,ib->ab...", w, uo[:, :ro], ui[:, :ri])
    first = _conv_like(m, i, ri, 1, False, core=False)
    mid = _conv_like(m, ri, ro, m.kernel_size, False, core=True)
    last = _conv_like(m, ro, o, 1, has_bias, core=False)
    ones = [1] * len(k)
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(ui[:, :ri].T.reshape(ri, i, *ones)).float())
        mid.weight.copy_(torch.from_numpy(core).float())
        last.weight.copy_(torch.from_numpy(uo[:, :ro].reshape(o, ro, *ones)).float())
        if has_bias:
            last.bias.copy_(m.bias)
    info = {"kind": "tucker2", "rank": [ro, ri], "shape": list(w.shape)}
    return nn.Sequential(first, mid, last), info


def cp_als(w: np.ndarray, rank: int, iters: int = 200, seed: int = 0) -> list[np.ndarray]:
    """CP decomposition ``w[a, b, ...] = sum_r F0[a, r] F1[b, r] ...`` by alternating least
    squares (3- or 4-way; deterministic for a seed). The weights are absorbed in ``F0``."""
    n = w.ndim
    letters = "abcd"[:n]
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((d, rank)) for d in w.shape]
    norm = float(np.linalg.norm(w)) or 1.0
    prev = np.inf
    for _ in range(iters):
        for mode in range(n):
            others = [m for m in range(n) if m != mode]
            spec = f"{letters},{','.join(letters[m] + 'r' for m in others)}->{letters[mode]}r"
            mttkrp = np.einsum(spec, w, *[factors[m] for m in others])
            gram = np.ones((rank, rank))
            for m in others:
                gram *= factors[m].T @ factors[m]
            factors[mode] = mttkrp @ np.linalg.pinv(gram)
        recon = np.einsum(f"{','.join(c + 'r' for c in letters)}->{letters}", *factors)
        err = float(np.linalg.norm(w - recon)) / norm
        if abs(prev - err) < 1e-10:
            break
        prev = err
    for m in range(1, n):  # unit columns in the later factors, scale in the first
        scale = np.linalg.norm(factors[m], axis=0)
        scale[scale == 0] = 1.0
        factors[m] = factors[m] / scale
        factors[0] = factors[0] * scale
    return factors


def _along(v: Any, default: int, axis: int, dims: int) -> tuple[int, ...]:
    """``v`` (a conv's per-axis setting) on ``axis`` only, ``default`` on the other axes."""
    t = [default] * dims
    t[axis] = v[axis]
    return tuple(t)


def factor_conv_cp(m: Any, p: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]] | None:
    """CP of a conv: 1x1 ``Conv(I, R)``, depthwise convs along each spatial axis, 1x1
    ``Conv(R, O)`` (Lebedev et al., 2015)."""
    if m.groups != 1 or isinstance(m.padding, str) or m.padding_mode != "zeros":
        return None
    w = m.weight.detach().double().numpy()
    o, i = w.shape[:2]
    k = w.shape[2:]
    full = w.size
    per_rank = i + o + sum(k)
    if p["rank"]:
        r = int(p["rank"])
    elif p["budget"]:
        r = max(1, math.floor(p["budget"] * full / per_rank))
    else:  # the larger of the Tucker-2 ranks that keep the energy
        so = np.linalg.svd(w.reshape(o, -1), compute_uv=False)
        si = np.linalg.svd(np.moveaxis(w, 1, 0).reshape(i, -1), compute_uv=False)
        r = max(rank_for(so, full, 1, p), rank_for(si, full, 1, p))
    if r * per_rank >= full:
        return None
    factors = cp_als(w, r)
    cls = type(m)
    dims = len(k)
    first = cls(i, r, 1, bias=False)
    last = cls(r, o, 1, bias=m.bias is not None)
    ones = [1] * dims
    mods: list[nn.Module] = [first]
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(factors[1].T.reshape(r, i, *ones)).float())
        for axis in range(dims):
            ks = [1] * dims
            ks[axis] = k[axis]

            dw = cls(
                r,
                r,
                tuple(ks),
                stride=_along(m.stride, 1, axis, dims),
                padding=_along(m.padding, 0, axis, dims),
                dilation=_along(m.dilation, 1, axis, dims),
                groups=r,
                bias=False,
            )
            dw.weight.copy_(torch.from_numpy(factors[2 + axis].T.reshape(r, 1, *ks)).float())
            mods.append(dw)
        last.weight.copy_(torch.from_numpy(factors[0].reshape(o, r, *ones)).float())
        if m.bias is not None:
            last.bias.copy_(m.bias)
    mods.append(last)
    return nn.Sequential(*mods), {"kind": "cp", "rank": r, "shape": list(w.shape)}


def factor_rnn(m: Any, p: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]] | None:
    dirs = 2 if m.bidirectional else 1
    names = ["weight_ih_l0"] + (["weight_ih_l0_reverse"] if dirs == 2 else [])
    stacked = torch.cat([getattr(m, n) for n in names], 0)
    rows, inp = stacked.shape
    u, s, vt = _svd(stacked)
    r = rank_for(s, rows * inp, rows + inp, p)
    if r * (rows + inp) >= rows * inp:
        return None
    new = type(m)(
        r,
        m.hidden_size,
        num_layers=m.num_layers,
        bias=m.bias,
        batch_first=m.batch_first,
        dropout=m.dropout,
        bidirectional=m.bidirectional,
    )
    proj = nn.Linear(inp, r, bias=False)
    with torch.no_grad():
        for name, param in m.named_parameters():
            if name not in names:
                getattr(new, name).copy_(param)
        proj.weight.copy_(torch.from_numpy(vt[:r]).float())
        us = torch.from_numpy(u[:, :r] * s[None, :r]).float()
        for d, name in enumerate(names):
            getattr(new, name).copy_(us[d * (rows // dirs) : (d + 1) * (rows // dirs)])
    return ProjectedRNN(proj, new), {"kind": "rnn_input_svd", "rank": r, "shape": [rows, inp]}


def factorize(model: nn.Module, p: dict[str, Any]) -> dict[str, Any]:
    """Replace the selected layers of ``model`` in place; return ``{layer: decision}``."""
    decisions: dict[str, Any] = {}
    for name, m in list(model.named_modules()):
        if not name or not selected(name, p["layers"]):
            continue
        res = None
        if isinstance(m, nn.Linear) and p["linear"]:
            res = factor_linear(m, p)
        elif isinstance(m, nn.Conv1d | nn.Conv2d) and p["conv"] == "cp":
            res = factor_conv_cp(m, p)
        elif isinstance(m, nn.Conv1d | nn.Conv2d) and p["conv"] != "none":
            res = factor_conv(m, p)
        elif isinstance(m, nn.GRU | nn.LSTM) and p["recurrent"]:
            res = factor_rnn(m, p)
        if res is None:
            continue
        replace_module(model, name, res[0])
        decisions[name] = res[1]
    return decisions


class LowRank(CompressPass):
    """Low-rank factorization with fine-tuning (see module docstring)."""

    name = "compress.lowrank"
    PARAMS = MappingProxyType(
        {
            "energy": float_in(0.9, 0.01, 1.0),
            "rank": int_in(0, 0, 1_000_000),
            "budget": float_in(0.0, 0.0, 1.0),
            "conv": one_of("tucker", "cp", "svd", "none"),
            "linear": boolean(True),
            "recurrent": boolean(True),
            "layers": strings(["*"]),
            "epochs": int_in(3, 0, 100_000),
            "distill": boolean(False),
            "temperature": float_in(4.0, 0.05, 100.0),
            "alpha": float_in(0.7, 0.0, 1.0),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        p = self.resolved()
        return transform_and_tune(self, model, ctx, lambda m: factorize(m, p), p)


def transform_and_tune(
    pass_: CompressPass, model: Any, ctx: PassContext, transform: Any, p: dict[str, Any]
) -> PassResult:
    """Copy, transform (records decisions), fine-tune or distill from the original, record."""
    from edgeslim.passes.compress._distill import distill_into
    from edgeslim.passes.quantize._model import float_module

    original = float_module(model).eval()
    before = counts(original, ctx)
    acc_before = score(original, ctx)
    new = copy.deepcopy(original)
    decisions = transform(new)
    acc_transformed = score(new, ctx)
    if p.get("distill"):
        new = distill_into(
            new, original, ctx, p["epochs"], temperature=p["temperature"], alpha=p["alpha"]
        )
    else:
        new = train(new, ctx, p["epochs"])
    after = counts(new, ctx)
    record = {
        "method": pass_.name,
        "params": p,
        "layers": decisions,
        "claim": {
            **{f"{k}_before": v for k, v in before.items()},
            **{f"{k}_after": v for k, v in after.items()},
        },
        "accuracy_before": acc_before,
        "accuracy_transformed": acc_transformed,
        "accuracy_after": score(new, ctx),
    }
    return PassResult(new.eval(), record)
