"""Threshold conversions to the IR's single test ``float32(x) <= t32``."""

from __future__ import annotations

import numpy as np


def le_float64_to_f32(t64: np.ndarray) -> np.ndarray:
    """``x <= t64`` (float64) for float32 ``x`` equals ``x <= t32`` with t32 the largest float32
    not above ``t64``."""
    t64 = np.asarray(t64, dtype=np.float64)
    with np.errstate(over="ignore"):
        t32 = t64.astype(np.float32)
    above = t32.astype(np.float64) > t64
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return _positive_zero(t32)


def lt_f32_to_le(t32: np.ndarray) -> np.ndarray:
    """``x < t32`` for float32 ``x`` equals ``x <= nextafter(t32, -inf)``."""
    t = np.asarray(t32, dtype=np.float32)
    return _positive_zero(np.nextafter(t, np.float32(-np.inf)))


def lt_float64_to_le(t64: np.ndarray) -> np.ndarray:
    """``x < t64`` (float64) for float32 ``x``: the largest float32 strictly below ``t64``."""
    t64 = np.asarray(t64, dtype=np.float64)
    with np.errstate(over="ignore"):
        t32 = t64.astype(np.float32)
    not_below = t32.astype(np.float64) >= t64
    t32[not_below] = np.nextafter(t32[not_below], np.float32(-np.inf))
    return _positive_zero(t32)


def _positive_zero(t32: np.ndarray) -> np.ndarray:
    """-0.0 and +0.0 compare equal; keep +0.0 so integer-key compares stay exact."""
    t32 = np.asarray(t32, dtype=np.float32).copy()
    t32[t32 == 0] = np.float32(0.0)
    return t32
