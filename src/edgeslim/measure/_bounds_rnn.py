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

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim.ir.graph import Node

_WHERE = "the quantization error bound"


@dataclass(frozen=True, slots=True)
class _A:
    """An affine form of the error over noise symbols in [-1, 1]: ``c + sum_k g_k eps_k``."""

    c: np.ndarray  # (batch, n)
    g: np.ndarray  # (k, batch, n); rows past the end are zero

    def mag(self) -> np.ndarray:
        return np.abs(self.c) + (np.abs(self.g).sum(axis=0) if self.g.shape[0] else 0.0)


class _Symbols:
    def __init__(self) -> None:
        self.n = 0

    def fresh(self, radius: np.ndarray) -> _A:
        """One new symbol per element with a nonzero radius."""
        r = np.asarray(radius, np.float64)
        flat = r.reshape(-1)
        idx = np.flatnonzero(flat > 0)
        g = np.zeros((self.n + len(idx), flat.size))
        g[self.n + np.arange(len(idx)), idx] = flat[idx]
        self.n += len(idx)
        return _A(np.zeros(r.shape), g.reshape((-1, *r.shape)))


_SYMBOLS: ContextVar[_Symbols | None] = ContextVar("edgeslim_rnn_symbols", default=None)
KEEP_SYMBOLS = 160  # after each step: the strongest symbols stay, the rest become a box
REDUCE_AT = 400


def _sym() -> _Symbols:
    sym = _SYMBOLS.get()
    assert sym is not None
    return sym


def _pad(g: np.ndarray, k: int) -> np.ndarray:
    return g if g.shape[0] >= k else np.concatenate([g, np.zeros((k - g.shape[0], *g.shape[1:]))])


def _a_add(*forms: _A) -> _A:
    k = max(f.g.shape[0] for f in forms)
    return _A(sum(f.c for f in forms), sum(_pad(f.g, k) for f in forms))  # type: ignore[arg-type]


def _a_lin(a: _A, m: np.ndarray) -> _A:
    """``a @ m.T``."""
    return _A(a.c @ m.T, a.g @ m.T)


def _a_scale(lo: np.ndarray, hi: np.ndarray, a: _A) -> _A:
    """``s a`` for an unknown ``s`` in ``[lo, hi]`` per element: the midpoint keeps the form,
    the rest becomes fresh symbols."""
    mid, rad = (lo + hi) / 2.0, (hi - lo) / 2.0
    return _a_add(_A(mid * a.c, mid * a.g), _sym().fresh(rad * a.mag()))


def _tightened(err: np.ndarray, a: _A | None) -> tuple[np.ndarray, _A | None]:
    """The reduced product of the two error bounds: each is sound, so per element the smaller
    holds; where the interval one is much smaller the element's form is replaced by it."""
    if a is None:
        return err, None
    mag = a.mag()
    narrow = err < 0.5 * mag
    if narrow.any():
        keep = ~narrow
        a = _a_add(_A(a.c * keep, a.g * keep), _sym().fresh(err * narrow))
    return np.minimum(err, mag), a


@dataclass(frozen=True, slots=True)
class _V:
    lo: np.ndarray  # float model's interval
    hi: np.ndarray
    qlo: np.ndarray  # quantized path's interval
    qhi: np.ndarray
    err: np.ndarray  # >= |quantized - float|
    a: _A | None = None  # the same error as an affine form (keeps the signs of R e)
    f: _A | None = None  # the float value as an affine form over the same symbols

    def amax(self) -> np.ndarray:
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def qmax(self) -> np.ndarray:
        return np.maximum(np.abs(self.qlo), np.abs(self.qhi))

    def capped(self) -> _V:
        lo, hi = self.lo, self.hi
        ff = self.f
        if ff is not None:  # both ranges hold: intersect
            rad = ff.mag() - np.abs(ff.c)
            lo, hi = np.maximum(lo, ff.c - rad), np.minimum(hi, ff.c + rad)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
            wide = rad > (hi - lo)  # the interval is much narrower: box the element
            if wide.any():
                keep = ~wide
                box = _sym().fresh((hi - lo) / 2.0 * wide)
                ff = _a_add(_A(np.where(wide, (lo + hi) / 2.0, ff.c), ff.g * keep), box)
        qlo = np.maximum(self.qlo, lo - self.err)
        qhi = np.minimum(self.qhi, hi + self.err)
        if ff is not None and self.a is not None:
            q = _a_add(ff, self.a)
            rad = q.mag() - np.abs(q.c)
            qlo, qhi = np.maximum(qlo, q.c - rad), np.minimum(qhi, q.c + rad)
        qlo, qhi = np.minimum(qlo, qhi), np.maximum(qlo, qhi)
        gap = np.maximum(qhi - lo, hi - qlo)
        err, a = _tightened(np.minimum(self.err, np.maximum(gap, 0.0)), self.a)
        return _V(lo, hi, qlo, qhi, err, a, ff)


def _box(lo: np.ndarray, hi: np.ndarray) -> _A:
    """A fresh form for a value known only to lie in ``[lo, hi]``."""
    f = _sym().fresh((hi - lo) / 2.0)
    return _A((lo + hi) / 2.0, f.g)


def _a_mul(a: _A, b: _A) -> _A:
    """``a b`` of two forms: the bilinear term of the generators becomes a fresh symbol."""
    ra, rb = a.mag() - np.abs(a.c), b.mag() - np.abs(b.c)
    k = max(a.g.shape[0], b.g.shape[0])
    lin = _A(a.c * b.c, a.c * _pad(b.g, k) + b.c * _pad(a.g, k))
    return _a_add(lin, _sym().fresh(ra * rb))


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
    aff = None
    if x.a is not None and h.a is not None:
        dw, dr = wq - wf, rq - rf
        xm, xr = (x.lo + x.hi) / 2.0, (x.hi - x.lo) / 2.0
        hm, hr = (h.lo + h.hi) / 2.0, (h.hi - h.lo) / 2.0
        exact = _A(xm @ dw.T + hm @ dr.T + (bq - bf), np.zeros((0, *err.shape)))
        aff = _a_add(
            _a_lin(x.a, wq),
            _a_lin(h.a, rq),
            exact,
            _sym().fresh(xr @ np.abs(dw).T + hr @ np.abs(dr).T),
        )
    ff = None
    if x.f is not None and h.f is not None:
        ff = _a_add(
            _a_lin(x.f, wf),
            _a_lin(h.f, rf),
            _A(np.broadcast_to(bf, err.shape), np.zeros((0, *err.shape))),
        )
    lo, hi = a_lo + b_lo + bf, a_hi + b_hi + bf
    return _V(lo, hi, c_lo + d_lo + bq, c_hi + d_hi + bq, err, aff, ff).capped()


def _add(a: _V, b: _V) -> _V:
    aff = None if a.a is None or b.a is None else _a_add(a.a, b.a)
    ff = None if a.f is None or b.f is None else _a_add(a.f, b.f)
    return _V(
        a.lo + b.lo, a.hi + b.hi, a.qlo + b.qlo, a.qhi + b.qhi, a.err + b.err, aff, ff
    ).capped()


def _clip(v: _V, clip: float | None) -> _V:
    if clip is None:
        return v
    lo, hi, qlo, qhi = (np.clip(a, -clip, clip) for a in (v.lo, v.hi, v.qlo, v.qhi))
    inside = (np.minimum(v.lo, v.qlo) >= -clip) & (np.maximum(v.hi, v.qhi) <= clip)
    aff = None if v.a is None else _a_scale(inside.astype(float), np.ones_like(lo), v.a)
    ff = v.f if v.f is not None and inside.all() else _box(lo, hi)
    return _V(lo, hi, qlo, qhi, v.err, aff, ff).capped()  # clipping is 1-Lipschitz


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * v)), np.float64)


def _act(v: _V, kind: str) -> _V:
    """Sigmoid or tanh: monotone, error by the derivative's maximum between the two values."""
    fn = _sigmoid if kind == "sigmoid" else np.tanh

    def deriv(u: np.ndarray) -> np.ndarray:
        f = fn(u)
        return np.asarray(f * (1.0 - f) if kind == "sigmoid" else 1.0 - f * f)

    lo_h, hi_h = np.minimum(v.lo, v.qlo), np.maximum(v.hi, v.qhi)
    slope = deriv(np.clip(0.0, lo_h, hi_h))  # the largest derivative between the values
    least = np.minimum(deriv(lo_h), deriv(hi_h))  # the smallest: at an end
    aff = None if v.a is None else _a_scale(least, slope, v.a)  # secant slope in [least, slope]
    ff = None
    if v.f is not None:  # DeepZ: the chord slope at the ends, the rest a fresh symbol
        lam = np.minimum(deriv(v.lo), deriv(v.hi))
        top, bottom = fn(v.hi) - lam * v.hi, fn(v.lo) - lam * v.lo
        ff = _a_add(
            _A(lam * v.f.c + (top + bottom) / 2.0, lam * v.f.g), _sym().fresh((top - bottom) / 2.0)
        )
    out = _V(fn(v.lo), fn(v.hi), fn(v.qlo), fn(v.qhi), slope * v.err, aff, ff)
    return out.capped()


def _mul(a: _V, b: _V) -> _V:
    def prod(al: np.ndarray, ah: np.ndarray, bl: np.ndarray, bh: np.ndarray) -> Any:
        c = np.stack([al * bl, al * bh, ah * bl, ah * bh])
        return c.min(axis=0), c.max(axis=0)

    lo, hi = prod(a.lo, a.hi, b.lo, b.hi)
    qlo, qhi = prod(a.qlo, a.qhi, b.qlo, b.qhi)
    aff = None  # a' e_b + e_a b
    if a.a is not None and b.a is not None:
        aff = _a_add(_a_scale(a.qlo, a.qhi, b.a), _a_scale(b.lo, b.hi, a.a))
    ff = None if a.f is None or b.f is None else _a_mul(a.f, b.f)
    return _V(lo, hi, qlo, qhi, a.qmax() * b.err + a.err * b.amax(), aff, ff).capped()


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
    aff = None  # (1 - z') e_n + z' e_h + e_z (h - n)
    if z.a is not None and n.a is not None and h.a is not None:
        aff = _a_add(
            _a_scale(1 - zqh, 1 - zql, n.a),
            _a_scale(zql, zqh, h.a),
            _a_scale(h.lo - n.hi, h.hi - n.lo, z.a),
        )
    ff = None  # n + z (h - n)
    if z.f is not None and n.f is not None and h.f is not None:
        diff = _a_add(h.f, _A(-n.f.c, -n.f.g))
        ff = _a_add(n.f, _a_mul(z.f, diff))
    return _V(lo, hi, qlo, qhi, mix + z.err * spread, aff, ff).capped()


def _gate(v: _V, lo: int, hi: int) -> _V:
    aff = None if v.a is None else _A(v.a.c[:, lo:hi], v.a.g[:, :, lo:hi])
    ff = None if v.f is None else _A(v.f.c[:, lo:hi], v.f.g[:, :, lo:hi])
    a, b, c, d, e = (x[:, lo:hi] for x in (v.lo, v.hi, v.qlo, v.qhi, v.err))
    return _V(a, b, c, d, e, aff, ff)


def _reduce(state: list[_V]) -> list[_V]:
    """Order reduction between steps: the ``KEEP_SYMBOLS`` strongest symbols of the state stay,
    the others' contribution becomes one fresh symbol per element (their box: sound)."""
    sym = _sym()
    forms = [f for v in state for f in (v.a, v.f) if f is not None]
    if sym.n <= REDUCE_AT or len(forms) != 2 * len(state):
        return state
    score = np.zeros(sym.n)
    for f in forms:
        score[: f.g.shape[0]] += np.abs(f.g).reshape(f.g.shape[0], -1).sum(axis=1)
    order = np.argsort(-score, kind="stable")[:KEEP_SYMBOLS]
    keep = np.zeros(sym.n, bool)
    keep[order] = True
    new_index = np.cumsum(keep) - 1
    old_n, sym.n = sym.n, int(keep.sum())

    def shrink(form: _A) -> _A:
        g = _pad(form.g, old_n)
        kept = np.zeros((int(keep.sum()), *g.shape[1:]))
        kept[new_index[keep]] = g[keep]
        return _a_add(_A(form.c, kept), sym.fresh(np.abs(g[~keep]).sum(axis=0)))

    out = []
    for v in state:
        assert v.a is not None and v.f is not None
        out.append(_V(v.lo, v.hi, v.qlo, v.qhi, v.err, shrink(v.a), shrink(v.f)))
    return out


def recurrent(node: Node, xs: list[Any]) -> list[Any]:
    """Outputs (``Y``, ``Y_h`` [, ``Y_c``]) of a GRU or LSTM node as interval values
    (``edgeslim.measure._bounds._S``); ``xs`` are its inputs' interval values."""
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
    sym = _Symbols()
    token = _SYMBOLS.set(sym)
    try:
        ys, finals = _run(op, xs, seq, nd, states, layout, batch, hidden, direction, xlo, xhi,
                          xerr, (wf, wq, rf, rq, bf, bq), lbr, clip, sym)  # fmt: skip
    finally:
        _SYMBOLS.reset(token)
    return _outputs(ys, finals, states, layout)


def _zero_form(like: np.ndarray) -> _A:
    return _A(np.zeros_like(like), np.zeros((0, *like.shape)))


def _run(op: str, xs: list[Any], seq: int, nd: int, states: int, layout: int, batch: int,
         hidden: int, direction: str, xlo: np.ndarray, xhi: np.ndarray, xerr: np.ndarray,
         weights: tuple[np.ndarray, ...], lbr: bool, clip: float | None,
         sym: _Symbols) -> tuple[list[list[_V]], list[list[_V]]]:  # fmt: skip
    wf, wq, rf, rq, bf, bq = weights
    ys: list[list[_V]] = []
    finals: list[list[_V]] = []
    for d in range(nd):
        init = []
        for k in range(states):
            s = xs[5 + k] if len(xs) > 5 + k else None
            if s is None:
                zero = np.zeros((batch, hidden))
                init.append(_V(zero, zero, zero, zero, zero, _zero_form(zero), _zero_form(zero)))
            else:
                arrs = [np.asarray(a, np.float64) for a in (s.lo, s.hi, s.err)]
                lo, hi, err = (a[:, d] if layout else a[d] for a in arrs)
                init.append(
                    _V(lo, hi, lo - err, hi + err, err, sym.fresh(err), _box(lo, hi)).capped()
                )
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        order = range(seq - 1, -1, -1) if reverse else range(seq)
        out: list[_V | None] = [None] * seq
        state = init
        for t in order:
            ex, fx = sym.fresh(xerr[t]), _box(xlo[t], xhi[t])
            xt = _V(xlo[t], xhi[t], xlo[t] - xerr[t], xhi[t] + xerr[t], xerr[t], ex, fx)
            if op == "GRU":
                state = [_gru_step(xt, state[0], d, hidden, wf, wq, rf, rq, bf, bq, lbr, clip)]
            else:
                state = list(_lstm_step(xt, state, d, hidden, wf, wq, rf, rq, bf, bq, clip))
            state = _reduce(state)
            out[t] = state[0]
        ys.append([v for v in out if v is not None])
        finals.append(state)
    return ys, finals


def _outputs(ys: list[list[_V]], finals: list[list[_V]], states: int, layout: int) -> list[Any]:
    from edgeslim.measure._bounds import _S

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
    zx, zh = np.zeros_like(x.lo), np.zeros_like(h.lo)
    zero_x = _V(zx, zx, zx, zx, zx, _zero_form(zx), _zero_form(zx))
    zero_h = _V(zh, zh, zh, zh, zh, _zero_form(zh), _zero_form(zh))
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
