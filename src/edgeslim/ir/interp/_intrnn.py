"""Integer GRU and LSTM cells (``edgeslim.IntGRU``, ``edgeslim.IntLSTM``): the common integer
convention of int8 kernel libraries, defined here bit for bit.

Inputs: ``X`` int8 codes ``(seq, batch, input)`` with zero point attribute ``x_zero_point``;
``W`` int8 ``(1, G*H, input)`` and ``R`` int8 ``(1, G*H, H)`` (symmetric, one scale per row);
``B`` int32 ``(1, 2*G*H)``: the input-side bias in units ``s_x * s_w`` and the recurrent-side
bias in units ``s_h * s_r``; ``MX``/``SX`` and ``MH``/``SH`` int32 ``(G*H,)``: fixed-point
multipliers (``M0`` Q31, shift) that requantize the two int32 accumulators to Q3.12 (int16,
step ``2^-12``), computed by the quantization pass. Gate order and GRU
``linear_before_reset=1`` follow ONNX (torch's export). ``direction`` forward, reverse or
bidirectional (then every weight, bias and multiplier has one entry per direction, and ``Y``
has both, as in ONNX); initial state zero.

Arithmetic per step (``>>r`` is a right shift rounding half up: ``(v + 2^(r-1)) >> r``):

* ``gx = sat16((W (x - zx) + Bx) * MX >>r (31 - SX))``, ``gh = sat16((R h + Bh) * MH >>r
  (31 - SH))`` -- int32 accumulation, one rounding (``SINGLE_ROUNDING``);
* gate activations take Q3.12 and give Q0.15 (int16): ``sigmoid``/``tanh`` from a 257-entry
  int16 table over [-8, 8] with linear interpolation in integers (see :func:`activation`);
* GRU: ``z, r = sig(sat16(gx + gh))``, ``n = tanh(sat16(gx_n + (r * gh_n >>r 15)))``,
  ``h' = n + (z * (h - n) >>r 15)`` in Q0.15;
* LSTM: ``i, o, f = sig(...)``, ``g = tanh(...)``, cell ``c' = sat16((f * c >>r 15) +
  (i * g >>r (30 - cell_frac)))`` in Q(15 - cell_frac).cell_frac (attribute ``cell_frac``,
  default 12: Q3.12, range +-8; the pass picks it from the calibrated cell range, as TFLite
  picks a power-of-two cell scale), ``h = o * tanh(c'') >>r 15`` where ``c''`` is ``c'`` in
  Q3.12 (shifted, saturated at +-8 where tanh is 1 to 15 bits anyway).

``state_bits`` 16 keeps ``h`` in int16 Q0.15; 8 stores it as int8 Q0.7 (``h16 >>r 8``) and
feeds ``R`` with the int8 codes. Outputs: ``Y`` ``(seq, 1, batch, H)`` and ``Y_h`` (and LSTM
``Y_c``, int16 in Q(15 - cell_frac).cell_frac) as integer codes; a DequantizeLinear with scale
``2^-15`` or ``2^-7`` turns them into floats.
"""

from __future__ import annotations

import functools

import numpy as np

from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import Inputs, Outputs, attr, need, register, unsupported

GATE_FRAC = 12  # gate pre-activations: Q3.12
OUT_FRAC = 15  # activations and int16 hidden state: Q0.15


def rshift(v: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """``v / 2^n`` rounded half up (arithmetic shift with a rounding offset); ``n >= 1``."""
    v = np.asarray(v, np.int64)
    n = np.asarray(n, np.int64)
    return np.asarray((v + (np.int64(1) << (n - 1))) >> n)


def sat(v: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.asarray(v, np.int64), lo, hi)


def requantize(acc: np.ndarray, m0: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``sat16(round_half_up(acc * M0 * 2^(shift - 31)))`` (one rounding)."""
    return sat(rshift(acc * np.asarray(m0, np.int64), 31 - np.asarray(shift, np.int64)), 16)


@functools.cache
def table(name: str) -> np.ndarray:
    """257 int16 samples of sigmoid or tanh at Q3.12 inputs ``-8 + k/16``, in Q0.15."""
    x = (np.arange(257, dtype=np.float64) * 256 - 32768) / (1 << GATE_FRAC)
    f = 1.0 / (1.0 + np.exp(-x)) if name == "sigmoid" else np.tanh(x)
    return np.asarray(sat(np.rint(f * (1 << OUT_FRAC)), 16), np.int64)


def activation(name: str, x: np.ndarray) -> np.ndarray:
    """Q3.12 int16 -> Q0.15 int16: table lookup with linear interpolation in integers."""
    lut = table(name)
    u = np.asarray(x, np.int64) + 32768  # 0 .. 65535
    i, frac = u >> 8, u & 255
    lo = lut[i]
    return np.asarray(lo + (((lut[i + 1] - lo) * frac + 128) >> 8))


def _check(node: Node, xs: Inputs, gates: int) -> tuple[np.ndarray, ...]:
    x, w, r, b = (need(node, xs, i).astype(np.int64) for i in range(4))
    mx, sx, mh, sh = (need(node, xs, i).astype(np.int64) for i in range(4, 8))
    hidden = int(attr(node, "hidden_size", r.shape[-1]))
    nd = 2 if _direction(node) == "bidirectional" else 1
    if w.shape[:2] != (nd, gates * hidden) or r.shape != (nd, gates * hidden, hidden):
        raise unsupported(node, f"weights of shapes {w.shape}, {r.shape} for {gates} gates")
    if int(attr(node, "state_bits", 16)) not in (8, 16):
        raise unsupported(node, "state_bits must be 8 or 16")
    per = [a.reshape(nd, -1) for a in (b, mx, sx, mh, sh)]
    return (x, w, r, *per)


def _direction(node: Node) -> str:
    d = attr(node, "direction", "forward")
    d = d.decode() if isinstance(d, bytes) else str(d)
    if d not in ("forward", "reverse", "bidirectional"):
        raise unsupported(node, f"direction {d!r}")
    return d


def _accumulate(
    x_t: np.ndarray, h: np.ndarray, p: tuple[np.ndarray, ...], d: int, gh3: int
) -> tuple[np.ndarray, np.ndarray]:
    _, w, r, b, mx, sx, mh, sh = p
    ax = x_t @ w[d].T + b[d, :gh3]
    ah = h @ r[d].T + b[d, gh3:]
    return requantize(ax, mx[d], sx[d]), requantize(ah, mh[d], sh[d])


def _run(node: Node, xs: Inputs, gates: int, lstm: bool) -> Outputs:
    p = _check(node, xs, gates)
    x = p[0] - int(attr(node, "x_zero_point", 0))
    nd, hidden = p[1].shape[0], p[2].shape[2]
    bits = int(attr(node, "state_bits", 16))
    cell_frac = int(attr(node, "cell_frac", GATE_FRAC))
    if not 1 <= cell_frac <= 15:
        raise unsupported(node, f"cell_frac must be in [1, 15]; got {cell_frac}")
    seq, batch = x.shape[:2]
    ys = np.zeros((seq, nd, batch, hidden), np.int64)
    finals = []
    for d in range(nd):
        reverse = _direction(node) == "reverse" or d == 1
        steps = range(seq - 1, -1, -1) if reverse else range(seq)
        h = np.zeros((batch, hidden), np.int64)  # state codes
        c = np.zeros((batch, hidden), np.int64)  # LSTM cell, Q(15 - cell_frac).cell_frac
        for t in steps:
            h, c = _step(x[t], h, c, p, d, gates, lstm, bits, cell_frac)
            ys[t, d] = h
        finals.append((h, c))
    dt = np.int16 if bits == 16 else np.int8
    outs = [ys.astype(dt), np.stack([f[0] for f in finals]).astype(dt)]
    if lstm:
        outs.append(np.stack([f[1] for f in finals]).astype(np.int16))
    return tuple(outs)


def _step(
    x_t: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    p: tuple[np.ndarray, ...],
    d: int,
    gates: int,
    lstm: bool,
    bits: int,
    cell_frac: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One time step of direction ``d``: new (state codes, cell)."""
    H = h.shape[1]
    up = OUT_FRAC - (bits - 1)  # Q0.(bits-1) codes -> Q0.15
    gx, gh = _accumulate(x_t, h, p, d, gates * H)
    if lstm:
        pre = sat(gx + gh, 16)
        i_g, o_g, f_g = (activation("sigmoid", pre[:, k * H : (k + 1) * H]) for k in range(3))
        g_g = activation("tanh", pre[:, 3 * H :])
        c = sat(rshift(f_g * c, OUT_FRAC) + rshift(i_g * g_g, 2 * OUT_FRAC - cell_frac), 16)
        if cell_frac <= GATE_FRAC:
            c12 = sat(c << (GATE_FRAC - cell_frac), 16)
        else:
            c12 = rshift(c, cell_frac - GATE_FRAC)
        new16 = rshift(o_g * activation("tanh", c12), OUT_FRAC)
    else:
        z = activation("sigmoid", sat(gx[:, :H] + gh[:, :H], 16))
        r = activation("sigmoid", sat(gx[:, H : 2 * H] + gh[:, H : 2 * H], 16))
        n = activation("tanh", sat(gx[:, 2 * H :] + rshift(r * gh[:, 2 * H :], OUT_FRAC), 16))
        new16 = sat(n + rshift(z * ((h << up) - n), OUT_FRAC), 16)
    return sat(rshift(new16, up) if up else new16, bits), c


@register("edgeslim.IntGRU")
def int_gru(node: Node, xs: Inputs, opset: int) -> Outputs:
    return _run(node, xs, 3, lstm=False)


@register("edgeslim.IntLSTM")
def int_lstm(node: Node, xs: Inputs, opset: int) -> Outputs:
    return _run(node, xs, 4, lstm=True)
