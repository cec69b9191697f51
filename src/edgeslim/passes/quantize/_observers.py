"""Observers: watch activation values, then compute a clipping range (STYLE rule 7).

``observe(x)`` only accumulates statistics (no side effect besides the observer's own state);
``compute_range()`` turns them into ``(lo, hi)`` with ``lo <= 0 <= hi`` (zero must be exact);
:func:`qparams` turns a range into a scale and zero point for a given integer type. Observers
are not thread-safe; use one per tensor.

Calibrators: ``minmax`` (the observed extremes), ``percentile`` (the ``percentile``-th
percentile of |x| or of each tail), ``mse`` (the clipping range minimising the expected squared
quantization error over the histogram) and ``entropy`` (TensorRT-style KL divergence between
the clipped and quantized histograms).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import RecipeError

_BINS = 2048
_MIN_SCALE = 1e-12  # tinier ranges are treated as all-zero (scale 1)


@dataclass(frozen=True, slots=True)
class QParams:
    """Scale (float32, scalar or per channel) and zero point of an integer type."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str  # "int8", "uint8", "int16", "int4", ...

    @property
    def qmin(self) -> int:
        return qrange(self.dtype)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.dtype)[1]


def qrange(dtype: str) -> tuple[int, int]:
    bits = {"int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int4": 4, "uint4": 4}
    bits |= {"int2": 2, "uint2": 2}
    if dtype not in bits:
        raise RecipeError(f"quantized type must be one of {', '.join(bits)}; got {dtype!r}")
    b = bits[dtype]
    return (0, 2**b - 1) if dtype.startswith("u") else (-(2 ** (b - 1)), 2 ** (b - 1) - 1)


def qparams(lo: np.ndarray, hi: np.ndarray, dtype: str, *, symmetric: bool) -> QParams:
    """Scale and zero point mapping ``[lo, hi]`` (widened to hold 0) onto ``dtype``.

    Symmetric: zero point 0 (or the middle code for unsigned types), scale ``max|x| / qmax``
    with the narrow signed range (``-qmax..qmax``) so that weights never clip. Asymmetric:
    ``scale = (hi - lo) / (qmax - qmin)``, zero point rounded and clipped into the range.
    """
    qmin, qmax = qrange(dtype)
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    if symmetric:
        amax = np.maximum(np.abs(lo), np.abs(hi))
        half = (qmax - qmin) // 2
        scale = np.where(amax > _MIN_SCALE, amax / half, 1.0)
        zp = np.full(scale.shape, 0 if qmin < 0 else (qmax + 1) // 2, np.int64)
    else:
        scale = np.where(hi - lo > _MIN_SCALE, (hi - lo) / (qmax - qmin), 1.0)
        scale = np.maximum(scale, _MIN_SCALE)
        zp = np.clip(np.rint(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return QParams(np.maximum(scale, _MIN_SCALE).astype(np.float32), zp, dtype)


class Observer(abc.ABC):
    """Accumulates statistics of the values it sees; ``compute_range`` returns ``(lo, hi)``."""

    def __init__(self) -> None:
        self.min_ = np.inf
        self.max_ = -np.inf

    def observe(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if x.size:
            self.min_ = min(self.min_, float(x.min()))
            self.max_ = max(self.max_, float(x.max()))

    def _seen(self) -> tuple[float, float]:
        if not np.isfinite(self.min_):
            raise RecipeError("an observer computed a range before it observed any value")
        return self.min_, self.max_

    @abc.abstractmethod
    def compute_range(self) -> tuple[float, float]:
        """The clipping range ``(lo, hi)`` of the observed values."""


class MinMaxObserver(Observer):
    def compute_range(self) -> tuple[float, float]:
        lo, hi = self._seen()
        return min(lo, 0.0), max(hi, 0.0)


class _HistogramObserver(Observer):
    """Keeps every batch (calibration sets are small) and builds one histogram of |x| or x."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[np.ndarray] = []

    def observe(self, x: np.ndarray) -> None:
        super().observe(x)
        self._chunks.append(np.asarray(x, np.float32).ravel())

    def _values(self) -> np.ndarray:
        self._seen()
        return np.concatenate(self._chunks)


class PercentileObserver(_HistogramObserver):
    def __init__(self, percentile: float = 99.99) -> None:
        super().__init__()
        self.percentile = percentile

    def compute_range(self) -> tuple[float, float]:
        v = self._values()
        lo = float(np.percentile(v, 100.0 - self.percentile))
        hi = float(np.percentile(v, self.percentile))
        return min(lo, 0.0), max(hi, 0.0)


def _candidate_ranges(lo: float, hi: float, n: int = 100) -> np.ndarray:
    """Shrinking factors in (0, 1] of the observed range."""
    return np.linspace(1.0 / n, 1.0, n)


class MSEObserver(_HistogramObserver):
    """Picks the range (a fraction of the observed one) with the least mean squared error of
    fake-quantizing the observed values with ``levels`` levels."""

    def __init__(self, levels: int = 256) -> None:
        super().__init__()
        self.levels = levels

    def compute_range(self) -> tuple[float, float]:
        v = self._values()
        lo0, hi0 = min(self.min_, 0.0), max(self.max_, 0.0)
        if hi0 == lo0:
            return lo0, hi0
        sample = v if v.size <= 200_000 else v[:: v.size // 200_000 + 1]
        best, best_err = (lo0, hi0), np.inf
        for f in _candidate_ranges(lo0, hi0):
            lo, hi = lo0 * f, hi0 * f
            scale = (hi - lo) / (self.levels - 1)
            zp = np.rint(-lo / scale)
            q = np.clip(np.rint(sample / scale) + zp, 0, self.levels - 1)
            err = float(np.mean(((q - zp) * scale - sample) ** 2))
            if err < best_err:
                best, best_err = (lo, hi), err
        return best


class EntropyObserver(_HistogramObserver):
    """TensorRT's calibrator: the |x| threshold minimising KL(P || Q) between the clipped
    reference histogram and its ``levels``-bucket quantized version."""

    def __init__(self, levels: int = 128) -> None:
        super().__init__()
        self.levels = levels

    def compute_range(self) -> tuple[float, float]:
        v = np.abs(self._values())
        amax = float(v.max())
        if amax == 0.0:
            return 0.0, 0.0
        # exact zeros (ReLU outputs, padding) are represented exactly at every threshold; in
        # the histogram their spike would dominate the divergence and pull it far too low
        v = v[v > 0]
        hist, edges = np.histogram(v, bins=_BINS, range=(0.0, amax))
        t = _kl_threshold(hist.astype(np.float64), self.levels)
        thr = float(edges[t])
        return max(-thr, min(self.min_, 0.0)), min(thr, max(self.max_, 0.0))


def _kl_threshold(hist: np.ndarray, levels: int) -> int:
    best_i, best_kl = len(hist), np.inf
    for i in range(levels, len(hist) + 1, 16):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        idx = np.minimum((np.arange(i) * levels) // i, levels - 1)
        nonzero = (hist[:i] > 0).astype(np.float64)
        sums = np.bincount(idx, weights=hist[:i], minlength=levels)
        counts = np.bincount(idx, weights=nonzero, minlength=levels)
        q = np.where(nonzero > 0, (sums / np.maximum(counts, 1))[idx], 0.0)
        pn, qn = p / max(p.sum(), 1e-12), q / max(q.sum(), 1e-12)
        mask = pn > 0
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / np.maximum(qn[mask], 1e-12))))
        if kl < best_kl:
            best_i, best_kl = i, kl
    return best_i


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MSEObserver,
    "entropy": EntropyObserver,
}


def make_observer(name: str, **options: float) -> Observer:
    """A fresh observer for calibrator ``name`` (``OBSERVERS``)."""
    if name not in OBSERVERS:
        raise RecipeError(f"calibrator must be one of {', '.join(OBSERVERS)}; got {name!r}")
    return OBSERVERS[name](**options)  # type: ignore[arg-type]
