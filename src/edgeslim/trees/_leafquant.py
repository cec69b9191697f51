"""Leaf quantization: integer leaf values with a power-of-two scale and a stated error bound.

``raw = base + scale * sum_t q_t(x)`` (divided by ``n_trees`` for averaging ensembles), with
integer ``q`` stored in ``bits``-bit tables and summed in int32 (no overflow: checked here). The
bound is a certificate: for every input, ``|raw - raw_exact| <= raw_bound`` and every output
probability moves by at most ``proba_bound``; a class prediction is certified wherever the
exact top-two margin exceeds ``2 * proba_bound``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.trees._ir import Transform, TreeEnsemble

_ACC_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class LeafQuantization:
    bits: int
    scale: float  # value = q * scale (a power of two)
    raw_bound: float  # max |error| of every raw score, after averaging
    proba_bound: float  # max |error| of every probability / regression output

    def report(self) -> dict[str, object]:
        return {
            "bits": self.bits,
            "scale": self.scale,
            "raw_bound": self.raw_bound,
            "proba_bound": self.proba_bound,
        }


def _proba_bound(transform: Transform, raw_bound: float, max_raw: float) -> float:
    if transform is Transform.IDENTITY:
        return raw_bound
    if transform is Transform.SIGMOID:
        return raw_bound / 4.0  # |sigmoid'| <= 1/4
    if transform is Transform.SOFTMAX:
        return math.expm1(2.0 * raw_bound)  # p_k moves by a factor within exp(+-2 eps)
    return math.exp(max_raw) * math.expm1(raw_bound)  # EXP link


def _round_rows(v: np.ndarray) -> np.ndarray:
    """Round each row to integers keeping its (rounded) sum: largest-remainder rounding.

    Probability rows then sum to the same integer, so a code generator may store one lane
    less and derive it; every element still moves by less than 1.
    """
    low = np.floor(v)
    target = np.rint(v.sum(axis=1))
    short = (target - low.sum(axis=1)).astype(np.int64)
    order = np.argsort(-(v - low), axis=1, kind="stable")
    q = low.copy()
    for i in np.flatnonzero(short > 0):
        q[i, order[i, : short[i]]] += 1.0
    return q


def quantize_leaves(ens: TreeEnsemble, bits: int = 16) -> tuple[TreeEnsemble, LeafQuantization]:
    """Integer leaves (stored as float64 integers in the returned IR) and their bound."""
    if not 2 <= bits <= 32:
        raise ExportError(f"leaf quantization bits must be 2 .. 32; got {bits}")
    if not ens.trees:
        raise ExportError("cannot quantize the leaves of an empty ensemble")
    leaf_max = [float(np.abs(t.value[t.is_leaf]).max()) for t in ens.trees]
    per_out = np.zeros(ens.n_outputs)
    for t, m in zip(ens.trees, leaf_max, strict=True):
        per_out[t.output : t.output + t.width] += m
    vmax = max(max(leaf_max), 1e-300)
    qmax = 2 ** (bits - 1) - 1
    # largest power-of-two scale with |q| <= qmax per leaf and |sum q| <= int32 max per output
    e = min(
        math.floor(math.log2(qmax / vmax)),
        math.floor(math.log2(_ACC_LIMIT / max(float(per_out.max()), 1e-300))),
    )
    inv = 2.0**e
    trees = []
    err_sum = np.zeros(ens.n_outputs)
    for t in ens.trees:
        q = _round_rows(t.value * inv) if t.width > 1 else np.rint(t.value * inv)
        q[~t.is_leaf] = 0.0
        err = float(np.abs(t.value[t.is_leaf] * inv - q[t.is_leaf]).max())  # < 1
        err_sum[t.output : t.output + t.width] += err
        trees.append(t.with_arrays(value=q))
    raw_bound = float(err_sum.max()) / inv / (ens.n_trees if ens.average else 1)
    max_raw = float(np.abs(ens.base_score).max() + per_out.max())
    quant = LeafQuantization(
        bits, 2.0**-e, raw_bound, _proba_bound(ens.transform, raw_bound, max_raw)
    )
    meta = dict(ens.meta, leaf_quantization=quant.report())
    return ens.with_trees(trees, meta=meta), quant


def dequantize(ens_q: TreeEnsemble, quant: LeafQuantization) -> TreeEnsemble:
    """The float ensemble that the integer one computes exactly (for reference predictions)."""
    trees = [t.with_arrays(value=t.value * quant.scale) for t in ens_q.trees]
    return ens_q.with_trees(trees)
