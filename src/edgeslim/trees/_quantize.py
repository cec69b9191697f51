"""Feature and threshold quantization to int16/int8 with a per-split exactness proof.

A quantized model is a pair (:class:`FeatureQuantization`, ensemble in *code space*): every
feature ``x_f`` is replaced by an integer code ``q_f(x_f)`` and every threshold by an integer
``c`` such that ``x_f <= t  <=>  q_f(x_f) <= c``. The IR semantics stay the same, so the
reference predictor and the C generator work unchanged on codes.

Codings, chosen per feature:

* ``GRID`` - the training values lie on a grid ``offset + k * step`` (integers, halves, ...);
  the code is ``k``. A split is *proven* for every input on that grid: the code threshold is the
  largest ``k`` whose value is ``<= t`` and monotonicity does the rest.
* ``RANK`` - the code is the number of the feature's split thresholds below ``x``; proven for
  every real input. Costs a binary search per feature at run time (``<model>_quantize``).
* ``UNIFORM`` - a lossy uniform grid over the data range, used only when neither fits the bit
  width; each split is then checked on the training values only (``empirical``) and reported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.trees._ir import TreeEnsemble


class Coding(enum.StrEnum):
    GRID = "grid"
    RANK = "rank"
    UNIFORM = "uniform"


class Exactness(enum.StrEnum):
    PROVEN = "proven"  # identical decision for every input in the stated domain
    EMPIRICAL = "empirical"  # identical on every training value, not proven in between
    INEXACT = "inexact"  # some training value changes side


@dataclass(frozen=True, slots=True, eq=False)
class FeatureCode:
    """How one feature becomes an integer code (see the module docstring)."""

    coding: Coding
    offset: float = 0.0
    step: float = 1.0
    lo: int = 0  # smallest code
    hi: int = 0  # largest code
    edges: tuple[float, ...] = ()  # RANK: sorted unique float32 thresholds

    def encode(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        if self.coding is Coding.RANK:
            codes = np.searchsorted(np.asarray(self.edges, dtype=np.float32), v, side="left")
            return codes.astype(np.int64)
        k = np.rint((v.astype(np.float64) - self.offset) / self.step)
        k = np.nan_to_num(k, nan=0.0, posinf=self.hi, neginf=self.lo)
        return np.clip(k, self.lo, self.hi).astype(np.int64)

    def describe(self) -> str:
        if self.coding is Coding.RANK:
            return f"rank over {len(self.edges)} thresholds"
        return (
            f"{self.coding.value} {self.offset:g} + k*{self.step:g}, k in [{self.lo}, {self.hi}]"
        )


@dataclass(frozen=True, slots=True, eq=False)
class FeatureQuantization:
    """Per-feature codes, their bit width and the per-split exactness census."""

    bits: int
    codes: tuple[FeatureCode, ...]
    split_exactness: dict[str, int]  # Exactness value -> number of splits

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of a float feature matrix (n, n_features) as int64."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        return np.stack([c.encode(x[:, f]) for f, c in enumerate(self.codes)], axis=1)

    @property
    def exact(self) -> bool:
        return self.split_exactness.get(Exactness.INEXACT.value, 0) == 0 and (
            self.split_exactness.get(Exactness.EMPIRICAL.value, 0) == 0
        )

    def report(self) -> dict[str, object]:
        return {
            "bits": self.bits,
            "splits": dict(self.split_exactness),
            "exact": self.exact,
            "features": [c.describe() for c in self.codes],
        }


def _grid_of(values: np.ndarray, bits: int) -> FeatureCode | None:
    """A GRID code if the float32 ``values`` are ``k / s`` for small ``s`` and fit ``bits``."""
    limit = 2 ** (bits - 1) - 1
    v = np.unique(values.astype(np.float64))
    for scale in (1.0, 2.0, 4.0, 8.0, 10.0, 16.0, 100.0, 1000.0):
        k = np.rint(v * scale)
        if not np.array_equal((k / scale).astype(np.float32), v.astype(np.float32)):
            continue
        kmin, kmax = int(k.min()), int(k.max())
        if kmax - kmin > 2 * limit:
            return None
        off = 0 if (kmin >= -limit and kmax <= limit) else (kmin + kmax) // 2
        return FeatureCode(Coding.GRID, offset=off / scale, step=1.0 / scale, lo=-limit, hi=limit)
    return None


def _uniform_of(values: np.ndarray, bits: int) -> FeatureCode:
    limit = 2 ** (bits - 1) - 1
    lo, hi = float(values.min()), float(values.max())
    step = (hi - lo) / (2 * limit) if hi > lo else 1.0
    return FeatureCode(Coding.UNIFORM, offset=(lo + hi) / 2, step=step, lo=-limit, hi=limit)


def _code_threshold(code: FeatureCode, t: float) -> int:
    """Integer threshold ``c`` with ``x <= t  <=>  code(x) <= c`` on the code's domain."""
    if code.coding is Coding.RANK:
        return int(np.searchsorted(np.asarray(code.edges, dtype=np.float32), np.float32(t)))
    value = lambda k: np.float32(code.offset + k * code.step)  # noqa: E731
    c = int(np.clip(np.floor((float(t) - code.offset) / code.step), code.lo - 1, code.hi))
    while c >= code.lo and value(c) > np.float32(t):
        c -= 1
    while c < code.hi and value(c + 1) <= np.float32(t):
        c += 1
    return c


def _split_status(code: FeatureCode, t: float, c: int, seen: np.ndarray) -> Exactness:
    if code.coding is not Coding.UNIFORM:
        return Exactness.PROVEN
    same = (seen <= np.float32(t)) == (code.encode(seen) <= c)
    return Exactness.EMPIRICAL if bool(np.all(same)) else Exactness.INEXACT


def _feature_thresholds(ens: TreeEnsemble) -> list[np.ndarray]:
    per: list[list[np.ndarray]] = [[] for _ in range(ens.n_features)]
    for t in ens.trees:
        internal = t.feature >= 0
        for f in np.unique(t.feature[internal]):
            per[int(f)].append(t.threshold[internal & (t.feature == f)])
    return [
        np.unique(np.concatenate(p)).astype(np.float32) if p else np.zeros(0, np.float32)
        for p in per
    ]


def choose_codes(ens: TreeEnsemble, x_train: np.ndarray, bits: int = 16) -> list[FeatureCode]:
    """Pick GRID, else RANK, else UNIFORM per feature for ``bits``-bit signed codes."""
    if bits not in (8, 16):
        raise ExportError(f"feature quantization bits must be 8 or 16; got {bits}")
    x = np.asarray(x_train, dtype=np.float32)
    limit = 2 ** (bits - 1) - 1
    codes: list[FeatureCode] = []
    for f, thr in enumerate(_feature_thresholds(ens)):
        col = x[:, f][np.isfinite(x[:, f])] if len(x) else np.zeros(0, np.float32)
        grid = _grid_of(col, bits) if col.size else None
        if grid is not None:
            codes.append(grid)
        elif len(thr) <= limit:
            codes.append(FeatureCode(Coding.RANK, lo=0, hi=len(thr), edges=tuple(map(float, thr))))
        else:
            codes.append(_uniform_of(col if col.size else thr, bits))
    return codes


def quantize_features(
    ens: TreeEnsemble, x_train: np.ndarray, bits: int = 16
) -> tuple[TreeEnsemble, FeatureQuantization]:
    """Return the ensemble in code space and the feature quantization with its census."""
    codes = choose_codes(ens, x_train, bits)
    x = np.asarray(x_train, dtype=np.float32)
    census = {e.value: 0 for e in Exactness}
    trees = []
    for tree in ens.trees:
        thr = np.zeros(tree.n_nodes, dtype=np.float32)
        for n in np.flatnonzero(tree.feature >= 0):
            f = int(tree.feature[n])
            code = codes[f]
            c = _code_threshold(code, float(tree.threshold[n]))
            seen = x[:, f][np.isfinite(x[:, f])] if code.coding is Coding.UNIFORM else x[:0, f]
            census[_split_status(code, float(tree.threshold[n]), c, seen).value] += 1
            thr[n] = c
        trees.append(tree.with_arrays(threshold=thr, nan_left=np.zeros(tree.n_nodes, bool)))
    quant = FeatureQuantization(bits=bits, codes=tuple(codes), split_exactness=census)
    meta = dict(ens.meta, feature_quantization=quant.report())
    return ens.with_trees(trees, meta=meta), quant
