"""Depthwise-separable conversion (``compress.separable``) of standard convolutions, then
fine-tuning or distillation from the original model.

A ``Conv(I, O, k)`` becomes a depthwise ``Conv(I, m*I, k, groups=I)`` (the original stride,
padding and dilation) followed by a pointwise ``Conv(m*I, O, 1)`` (with the original bias).
Initialization by SVD per input channel: the slice ``W[:, i, :]`` (``O x k``) is approximated
by its best rank-``m`` factorization ``P_i D_i``; ``D_i`` are the ``m`` depthwise filters of
channel ``i`` and ``P_i`` their pointwise columns. This is the least-squares optimum for the
weights (Eckart-Young), so the converted model starts as close to the original as a separable
layer of that multiplier can. A layer is converted only if that makes it smaller.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    boolean,
    float_in,
    int_in,
    replace_module,
    selected,
    strings,
)
from edgeslim.passes.compress._lowrank import transform_and_tune


def separable(m: Any, multiplier: int) -> tuple[nn.Module, dict[str, Any]] | None:
    """The separable replacement of conv ``m`` and its decision, or None if not smaller."""
    if m.groups != 1 or m.in_channels < 1:
        return None
    w = m.weight.detach().double().numpy()
    o, i = w.shape[:2]
    k = w.shape[2:]
    ksize = int(np.prod(k))
    if ksize == 1:
        return None
    mult = max(1, min(multiplier, o, ksize))
    if i * mult * ksize + i * mult * o >= w.size:
        return None
    cls = type(m)
    dw = cls(
        i,
        i * mult,
        m.kernel_size,
        stride=m.stride,
        padding=m.padding,
        dilation=m.dilation,
        groups=i,
        bias=False,
        padding_mode=m.padding_mode,
    )
    pw = cls(i * mult, o, 1, bias=m.bias is not None)
    dwt = np.zeros((i * mult, ksize))
    pwt = np.zeros((o, i * mult))
    err = 0.0
    for c in range(i):
        u, s, vt = np.linalg.svd(w[:, c].reshape(o, ksize), full_matrices=False)
        root = np.sqrt(s[:mult])
        dwt[c * mult : (c + 1) * mult] = root[:, None] * vt[:mult]
        pwt[:, c * mult : (c + 1) * mult] = u[:, :mult] * root[None, :]
        err += float((s[mult:] ** 2).sum())
    with torch.no_grad():
        dw.weight.copy_(torch.from_numpy(dwt.reshape(i * mult, 1, *k)).float())
        pw.weight.copy_(torch.from_numpy(pwt.reshape(o, i * mult, *([1] * len(k)))).float())
        if m.bias is not None:
            pw.bias.copy_(m.bias)
    rel = err / max(float((w**2).sum()), 1e-30)
    return nn.Sequential(dw, pw), {
        "shape": list(w.shape),
        "multiplier": mult,
        "relative_error": rel,
    }


class Separable(CompressPass):
    """Depthwise-separable conversion (see module docstring)."""

    name = "compress.separable"
    PARAMS = MappingProxyType(
        {
            "multiplier": int_in(1, 1, 64),
            "layers": strings(["*"]),
            "epochs": int_in(3, 0, 100_000),
            "distill": boolean(False),
            "temperature": float_in(4.0, 0.05, 100.0),
            "alpha": float_in(0.7, 0.0, 1.0),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        p = self.resolved()

        def transform(m: nn.Module) -> dict[str, Any]:
            decisions = {}
            for name, mod in list(m.named_modules()):
                if name and isinstance(mod, nn.Conv1d | nn.Conv2d) and selected(name, p["layers"]):
                    res = separable(mod, p["multiplier"])
                    if res is not None:
                        replace_module(m, name, res[0])
                        decisions[name] = res[1]
            return decisions

        return transform_and_tune(self, model, ctx, transform, p)
