"""TFLite's integer arithmetic (gemmlowp fixed point), vectorized in numpy, bit for bit.

TFLite and TFLite Micro requantize with *double rounding*: ``MultiplyByQuantizedMultiplier`` is
``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, m0), right)``, two roundings
(the first half away from zero on the doubled high product, the second half up on the shift).
onnxruntime, and the QDQ path of this project, round once. The two differ by one code on some
inputs, so ops read from a ``.tflite`` file are interpreted with these functions, never with the
QDQ ones (see :mod:`edgeslim.ir.interp._tflite_ops`).

Multipliers are derived from the float32 scales stored in the file exactly as TFLite Micro does
(``QuantizeMultiplier``: ``frexp`` of a double, ``q * 2**31`` rounded half away from zero).
The int8 logistic is gemmlowp's ``logistic`` on a Q4.27 input, ported op by op.

All functions take and return int64 arrays holding int32 values.
"""

from __future__ import annotations

import math

import numpy as np

_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1

__all__ = [
    "logistic_int8",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement int32 wrap-around of an int64 array (C's behaviour on overflow)."""
    return ((x + 2**31) & 0xFFFFFFFF) - 2**31


def _tflite_round(x: float) -> int:
    """``TfLiteRound``: round half away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(m: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``m ~= m0 * 2**(shift - 31)`` with ``m0`` in Q31."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = _tflite_round(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # TFLite Micro clamps too-large multipliers
        return _I32_MAX, 30
    return q_fixed, shift


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` of int32 values."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # C's integer division truncates toward zero
    high = np.where(num >= 0, num >> 31, -((-num) >> 31))
    overflow = (a == _I32_MIN) & (b == _I32_MIN)
    return np.where(overflow, _I32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: divide by ``2**exponent``, rounding half away from 0."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray, m0: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite reference ``MultiplyByQuantizedMultiplier`` (double rounding); shift > 0 = left."""
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    shifted = _wrap32(x * (np.int64(1) << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m0), right)


def _sat_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<exponent>`` for exponent > 0."""
    threshold = (1 << (31 - exponent)) - 1
    out = _wrap32(x << exponent)
    out = np.where(x > threshold, _I32_MAX, out)
    return np.where(x < -threshold, _I32_MIN, out)


def _mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return saturating_rounding_doubling_high_mul(a, b)


def _exp_on_interval(a: np.ndarray) -> np.ndarray:
    """``exp_on_interval_between_negative_one_quarter_and_0_excl`` (Q0.31 in and out)."""
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = _wrap32(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    inner = _wrap32(_mul(_wrap32(x4_over_4 + x3), one_third) + x2)
    poly = rounding_divide_by_pot(inner, 1)
    return _wrap32(constant_term + _mul(constant_term, _wrap32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))  # fmt: skip


def _exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values`` of a Q``integer_bits`` input; Q0.31 result."""
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    a_mod = _wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval(_sat_shift_left(a_mod, integer_bits) if integer_bits else a_mod)
    remainder = _wrap32(a_mod - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac + exponent))) != 0
            result = np.where(bit, _mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, _I32_MAX, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1`` (Q0.31 in and out), Newton-Raphson."""
    s = a + _I32_MAX  # RoundingHalfSum(a, One)
    half_denominator = np.where(s >= 0, (s + 1) // 2, -((-s + 1) // 2))
    x = _wrap32(1515870810 + _mul(half_denominator, -1010580540))  # Q2: 48/17 - 32/17 d
    one_q2 = 1 << 29
    for _ in range(3):
        hd_x = _mul(half_denominator, x)
        one_minus = _wrap32(one_q2 - hd_x)
        x = _wrap32(x + _sat_shift_left(_mul(x, one_minus), 2))
    return _sat_shift_left(x, 1)


def _logistic_fixed(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic`` of a Q``integer_bits`` raw int32 input; Q0.31 result."""
    positive = a > 0
    abs_a = np.where(positive, a, _wrap32(-a))
    on_positive = _one_over_one_plus_x(_exp_on_negative_values(_wrap32(-abs_a), integer_bits))
    result = np.where(positive, on_positive, _wrap32(_I32_MAX - on_positive))
    return np.where(a == 0, 1 << 30, result)


def logistic_int8(codes: np.ndarray, x_scale: float, x_zp: int) -> np.ndarray:
    """TFLite Micro's int8 LOGISTIC (output scale 1/256, zero point -128), bit-exact."""
    input_integer_bits = 4
    real = float(np.float32(x_scale)) * float(1 << (31 - input_integer_bits))
    q, left_shift = math.frexp(real)
    multiplier = _tflite_round(q * (1 << 31))
    radius = math.floor(
        ((1 << input_integer_bits) - 1) * (1 << (31 - input_integer_bits)) / (1 << left_shift)
    )
    x = np.asarray(codes, dtype=np.int64) - int(x_zp)
    inside = np.clip(x, -radius, radius)
    q4 = multiply_by_quantized_multiplier(inside, multiplier, left_shift)
    q0 = _logistic_fixed(q4, input_integer_bits)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 8) - 128, -128, 127)
    out = np.where(x <= -radius, -128, out)
    out = np.where(x >= radius, 127, out)
    return out.astype(np.int8)
