"""Interval rules for GRU and LSTM in the quantization error bound.

A recurrent op with quantized weights ``W', R', B'`` (dequantized constants) is compared with
the float op (``W, R, B``) step by step. Every intermediate ``v`` carries three things, all
per element: the float model's interval ``[lo, hi]``, the quantized path's own interval
``[qlo, qhi]`` (the same rules with the quantized weights, intersected with
``[lo - err, hi + err]``), and the error bound ``err >= |v' - v|``:

* a gate pre-activation ``a = W x + R h + b`` gets
  ``err = |W'| e_x + |W' - W| |x| + |R'| e_h + |R' - R| |h| + |b' - b|``;
* a sigmoid or tanh ``s`` gets ``err = max s' e`` with the derivative's maximum over the hull
  of both intervals (mean value theorem: small where the gate saturates);
* a product ``a b`` gets ``|a'| e_b + e_a |b|`` with ``|a'|`` from the quantized interval;
* the GRU update ``h_new = (1 - z) n + z h`` gets ``(1 - z') e_n + z' e_h + e_z |h - n|``,
  maximized over ``z'`` in its interval;
* every error is also capped by the distance of the two intervals,
  ``max(qhi - lo, hi - qlo)``: the state of a GRU/LSTM stays bounded, so the bound never
  grows without limit over a long sequence.

Supported: both layouts, forward/reverse/bidirectional, constant initial states, ``clip``,
the default activations. Peepholes, ``input_forget``, partial ``sequence_lens`` and other
activations raise :class:`UnsupportedOpError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim.ir.graph import Node

_WHERE = "the quantization error bound"


@dataclass(frozen=True, slots=True)
class _V:
    lo: np.ndarray  # float model's interval
    hi: np.ndarray
    qlo: np.ndarray  # quantized path's interval
    qhi: np.ndarray
    err: np.ndarray  # >= |quantized - float|

    def capped(self) -> _V:
        qlo = np.maximum(self.qlo, self.lo - self.err)
        qhi = np.minimum(self.qhi, self.hi + self.err)
        qlo, qhi = np.minimum(qlo, qhi), np.maximum(qlo, qhi)
        gap = np.maximum(qhi - self.lo, self.hi - qlo)
        return _V(self.lo, self.hi, qlo, qhi, np.minimum(self.err, np.maximum(gap, 0.0)))

    def amax(self) -> np.ndarray:
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def qmax(self) -> np.ndarray:
        return np.maximum(np.abs(self.qlo), np.abs(self.qhi))


def _matvec(m: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval of ``v @ m.T`` for ``v`` in ``[lo, hi]``."""
    mp, mn = np.maximum(m, 0.0), np.minimum(m, 0.0)
    return lo @ mp.T + hi @ mn.T, hi @ mp.T + lo @ mn.T


def _affine(x: _V, h: _V, wf: np.ndarray, wq: np.ndarray, rf: np.ndarray, rq: np.ndarray,
            bf: np.ndarray, bq: np.ndarray) -> _V:  # fmt: skip
    """``x W^T + h R^T + b`` for float and quantized weights."""
    a_lo, a_hi = _matvec(wf, x.lo, x.hi)
    b_lo, b_hi = _matvec(rf, h.lo, h.hi)
    c_lo, c_hi = _matvec(wq, x.qlo, x.qhi)
    d_lo, d_hi = _matvec(rq, h.qlo, h.qhi)
    err = x.err @ np.abs(wq).T + x.amax() @ np.abs(wq - wf).T
    err = err + h.err @ np.abs(rq).T + h.amax() @ np.abs(rq - rf).T + np.abs(bq - bf)
    return _V(a_lo + b_lo + bf, a_hi + b_hi + bf, c_lo + d_lo + bq, c_hi + d_hi + bq, err).capped()


def _add(a: _V, b: _V) -> _V:
    return _V(a.lo + b.lo, a.hi + b.hi, a.qlo + b.qlo, a.qhi + b.qhi, a.err + b.err).capped()


def _clip(v: _V, clip: float | None) -> _V:
    if clip is None:
        return v
    lo, hi, qlo, qhi = (np.clip(a, -clip, clip) for a in (v.lo, v.hi, v.qlo, v.qhi))
    return _V(lo, hi, qlo, qhi, v.err).capped()  # clipping is 1-Lipschitz


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * v)), np.float64)


def _act(v: _V, kind: str) -> _V:
    """Sigmoid or tanh: monotone, error by the derivative's maximum between the two values."""
    fn = _sigmoid if kind == "sigmoid" else np.tanh
    nearest0 = np.clip(0.0, np.minimum(v.lo, v.qlo), np.maximum(v.hi, v.qhi))
    s = fn(nearest0)
    slope = s * (1.0 - s) if kind == "sigmoid" else 1.0 - s * s
    out = _V(fn(v.lo), fn(v.hi), fn(v.qlo), fn(v.qhi), slope * v.err)
    return out.capped()


def _mul(a: _V, b: _V) -> _V:
    def prod(al: np.ndarray, ah: np.ndarray, bl: np.ndarray, bh: np.ndarray) -> Any:
        c = np.stack([al * bl, al * bh, ah * bl, ah * bh])
        return c.min(axis=0), c.max(axis=0)

    lo, hi = prod(a.lo, a.hi, b.lo, b.hi)
    qlo, qhi = prod(a.qlo, a.qhi, b.qlo, b.qhi)
    return _V(lo, hi, qlo, qhi, a.qmax() * b.err + a.err * b.amax()).capped()


def _blend(z: _V, n: _V, h: _V) -> _V:
    """GRU: ``(1 - z) n + z h`` with ``z`` in [0, 1]."""

    def hull(zl: np.ndarray, zh: np.ndarray, nl: np.ndarray, nh: np.ndarray,
             hl: np.ndarray, hh: np.ndarray) -> Any:  # fmt: skip
        # increasing in n and h (weights >= 0), linear in z: extremes at z's endpoints
        lo = np.minimum((1 - zl) * nl + zl * hl, (1 - zh) * nl + zh * hl)
        hi = np.maximum((1 - zl) * nh + zl * hh, (1 - zh) * nh + zh * hh)
        return lo, hi

    zql, zqh = np.clip(z.qlo, 0.0, 1.0), np.clip(z.qhi, 0.0, 1.0)
    lo, hi = hull(z.lo, z.hi, n.lo, n.hi, h.lo, h.hi)
    qlo, qhi = hull(zql, zqh, n.qlo, n.qhi, h.qlo, h.qhi)
    spread = np.maximum(np.abs(h.lo - n.hi), np.abs(h.hi - n.lo))
    mix = np.maximum((1 - zql) * n.err + zql * h.err, (1 - zqh) * n.err + zqh * h.err)
    return _V(lo, hi, qlo, qhi, mix + z.err * spread).capped()


def _gate(v: _V, lo: int, hi: int) -> _V:
    return _V(*(a[:, lo:hi] for a in (v.lo, v.hi, v.qlo, v.qhi, v.err)))


def recurrent(node: Node, xs: list[Any]) -> list[Any]:
    """Outputs (``Y``, ``Y_h`` [, ``Y_c``]) of a GRU or LSTM node as interval values
    (``edgeslim.measure._bounds._S``); ``xs`` are its inputs' interval values."""
    from edgeslim.measure._bounds import _S

    op = node.op
    gates, states = (3, 1) if op == "GRU" else (4, 2)
    attrs = node.attrs
    defaults = ["sigmoid", "tanh"] if op == "GRU" else ["sigmoid", "tanh", "tanh"]
    names = [str(a).lower() for a in attrs.get("activations", ())]
    nd = 2 if str(attrs.get("direction", "forward")) == "bidirectional" else 1
    if names and names != defaults * nd:
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (activations {names})")
    if int(attrs.get("input_forget", 0)):
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (input_forget)")
    for i, what in ((1, "W"), (2, "R"), (3, "B"), (4, "sequence_lens"), (7, "P")):
        if i < len(xs) and xs[i] is not None and not xs[i].const:
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (non-constant {what})")
    if len(xs) > 7 and xs[7] is not None and np.any(xs[7].q != 0):
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (peepholes)")
    layout = int(attrs.get("layout", 0))
    x = xs[0]

    def seq_first(a: np.ndarray) -> np.ndarray:
        return (
            np.asarray(a, np.float64).transpose(1, 0, 2) if layout else np.asarray(a, np.float64)
        )

    xlo, xhi, xerr = seq_first(x.lo), seq_first(x.hi), seq_first(x.err)
    seq = xlo.shape[0]
    if len(xs) > 4 and xs[4] is not None and np.any(np.asarray(xs[4].q) != seq):
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (sequence_lens shorter than input)")
    wf, wq = np.asarray(xs[1].lo, np.float64), np.asarray(xs[1].q, np.float64)
    rf, rq = np.asarray(xs[2].lo, np.float64), np.asarray(xs[2].q, np.float64)
    hidden = rf.shape[2]
    if len(xs) > 3 and xs[3] is not None:
        bf, bq = np.asarray(xs[3].lo, np.float64), np.asarray(xs[3].q, np.float64)
    else:
        bf = bq = np.zeros((nd, 2 * gates * hidden))
    clip = attrs.get("clip")
    clip = None if clip is None else float(clip)
    lbr = bool(attrs.get("linear_before_reset", 0))
    batch = xlo.shape[1]
    direction = str(attrs.get("direction", "forward"))
    ys: list[list[_V]] = []
    finals: list[list[_V]] = []
    for d in range(nd):
        init = []
        for k in range(states):
            s = xs[5 + k] if len(xs) > 5 + k else None
            if s is None:
                zero = np.zeros((batch, hidden))
                init.append(_V(zero, zero, zero, zero, zero))
            else:
                arrs = [np.asarray(a, np.float64) for a in (s.lo, s.hi, s.err)]
                lo, hi, err = (a[:, d] if layout else a[d] for a in arrs)
                init.append(_V(lo, hi, lo - err, hi + err, err).capped())
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        order = range(seq - 1, -1, -1) if reverse else range(seq)
        out: list[_V | None] = [None] * seq
        state = init
        for t in order:
            xt = _V(xlo[t], xhi[t], xlo[t] - xerr[t], xhi[t] + xerr[t], xerr[t])
            if op == "GRU":
                state = [_gru_step(xt, state[0], d, hidden, wf, wq, rf, rq, bf, bq, lbr, clip)]
            else:
                state = list(_lstm_step(xt, state, d, hidden, wf, wq, rf, rq, bf, bq, clip))
            out[t] = state[0]
        ys.append([v for v in out if v is not None])
        finals.append(state)

    def pack(field: str, values: list[list[_V]]) -> np.ndarray:
        # (seq, nd, batch, hidden) from per-direction lists of (batch, hidden)
        return np.stack([np.stack([getattr(v, field) for v in per]) for per in values], axis=1)

    results: list[Any] = []
    y = _S(*(pack(f, ys) for f in ("lo", "hi", "err")))
    if layout:
        y = _S(*(a.transpose(2, 0, 1, 3) for a in (y.lo, y.hi, y.err)))
    results.append(y)
    for k in range(states):
        arrs = [np.stack([getattr(f[k], name) for f in finals]) for name in ("lo", "hi", "err")]
        if layout:
            arrs = [a.transpose(1, 0, 2) for a in arrs]
        results.append(_S(*arrs))
    return results


def _gru_step(x: _V, h: _V, d: int, hidden: int, wf: np.ndarray, wq: np.ndarray,
              rf: np.ndarray, rq: np.ndarray, bf: np.ndarray, bq: np.ndarray, lbr: bool,
              clip: float | None) -> _V:  # fmt: skip
    n3 = 3 * hidden
    zero_x = _V(*(np.zeros_like(x.lo) for _ in range(5)))
    zero_h = _V(*(np.zeros_like(h.lo) for _ in range(5)))
    wb_f, rb_f, wb_q, rb_q = bf[d, :n3], bf[d, n3:], bq[d, :n3], bq[d, n3:]
    gx = _affine(x, zero_h, wf[d], wq[d], rf[d] * 0, rq[d] * 0, wb_f, wb_q)
    two = 2 * hidden
    rz = _affine(zero_x, h, wf[d, :two] * 0, wq[d, :two] * 0, rf[d, :two], rq[d, :two],
                 rb_f[:two], rb_q[:two])  # fmt: skip
    z = _act(_clip(_add(_gate(gx, 0, hidden), _gate(rz, 0, hidden)), clip), "sigmoid")
    r = _act(_clip(_add(_gate(gx, hidden, two), _gate(rz, hidden, two)), clip), "sigmoid")
    rnf, rnq = rf[d, two:], rq[d, two:]
    if lbr:
        u = _affine(zero_x, h, wf[d, two:] * 0, wq[d, two:] * 0, rnf, rnq, rb_f[two:], rb_q[two:])
        cand = _add(_gate(gx, two, n3), _mul(r, u))
    else:
        rh = _mul(r, h)
        u = _affine(zero_x, rh, wf[d, two:] * 0, wq[d, two:] * 0, rnf, rnq, rb_f[two:],
                    rb_q[two:])  # fmt: skip
        cand = _add(_gate(gx, two, n3), u)
    n = _act(_clip(cand, clip), "tanh")
    return _blend(z, n, h)


def _lstm_step(x: _V, s: list[_V], d: int, hidden: int, wf: np.ndarray, wq: np.ndarray,
               rf: np.ndarray, rq: np.ndarray, bf: np.ndarray, bq: np.ndarray,
               clip: float | None) -> tuple[_V, _V]:  # fmt: skip
    h, c = s
    n4 = 4 * hidden
    pre = _affine(
        x, h, wf[d], wq[d], rf[d], rq[d], bf[d, :n4] + bf[d, n4:], bq[d, :n4] + bq[d, n4:]
    )

    def gate(k: int, kind: str) -> _V:
        return _act(_clip(_gate(pre, k * hidden, (k + 1) * hidden), clip), kind)

    i, o, f, g = gate(0, "sigmoid"), gate(1, "sigmoid"), gate(2, "sigmoid"), gate(3, "tanh")
    c_new = _add(_mul(f, c), _mul(i, g))
    h_new = _mul(o, _act(c_new, "tanh"))
    return h_new, c_new
