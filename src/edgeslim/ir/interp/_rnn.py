"""Recurrent ops (RNN, GRU, LSTM) as the ONNX spec writes them, in float64.

Supported: both layouts, forward/reverse/bidirectional, ``sequence_lens`` (outputs past a
sample's length are zero and its state stops there), ``initial_h``/``initial_c``, peepholes,
``clip``, ``input_forget``, GRU ``linear_before_reset`` 0 and 1, and every activation the spec
names with its ``activation_alpha``/``activation_beta``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import Inputs, Outputs, attr, need, opt, register, unsupported

Act = Callable[[np.ndarray], np.ndarray]
State = tuple[np.ndarray, ...]

# name -> (uses alpha, default alpha, uses beta, default beta, fn(x, alpha, beta))
_ACTS: dict[
    str, tuple[bool, float, bool, float, Callable[[np.ndarray, float, float], np.ndarray]]
] = {
    "sigmoid": (False, 0, False, 0, lambda x, a, b: 1.0 / (1.0 + np.exp(-x))),
    "tanh": (False, 0, False, 0, lambda x, a, b: np.tanh(x)),
    "relu": (False, 0, False, 0, lambda x, a, b: np.maximum(x, 0.0)),
    "affine": (True, 1.0, True, 0.0, lambda x, a, b: a * x + b),
    "leakyrelu": (True, 0.01, False, 0, lambda x, a, b: np.where(x >= 0, x, a * x)),
    "thresholdedrelu": (True, 1.0, False, 0, lambda x, a, b: np.where(x > a, x, 0.0)),
    "scaledtanh": (True, 1.0, True, 1.0, lambda x, a, b: a * np.tanh(b * x)),
    "hardsigmoid": (True, 0.2, True, 0.5, lambda x, a, b: np.clip(a * x + b, 0.0, 1.0)),
    "elu": (True, 1.0, False, 0, lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x))),
    "softsign": (False, 0, False, 0, lambda x, a, b: x / (1.0 + np.abs(x))),
    "softplus": (False, 0, False, 0, lambda x, a, b: np.logaddexp(0.0, x)),
}


def _activations(node: Node, nd: int, defaults: Sequence[str]) -> list[list[Act]]:
    """Per direction, the activation functions (f, g[, h]) with their alpha/beta bound."""
    names = [str(n) for n in attr(node, "activations", ())] or list(defaults) * nd
    alphas = [float(a) for a in attr(node, "activation_alpha", ())]
    betas = [float(b) for b in attr(node, "activation_beta", ())]
    if len(names) != len(defaults) * nd:
        raise unsupported(node, f"{len(names)} activations for {nd} direction(s)")
    fns: list[Act] = []
    for name in names:
        key = name.lower()
        if key not in _ACTS:
            raise unsupported(node, f"activation {name!r}")
        use_a, da, use_b, db, fn = _ACTS[key]
        a = alphas.pop(0) if use_a and alphas else da
        b = betas.pop(0) if use_b and betas else db
        fns.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))  # type: ignore[misc]
    k = len(defaults)
    return [fns[d * k : (d + 1) * k] for d in range(nd)]


@dataclass(frozen=True, slots=True)
class _Rnn:
    x: np.ndarray  # (seq, batch, input), float64
    w: np.ndarray  # (nd, G*H, input)
    r: np.ndarray  # (nd, G*H, H)
    b: np.ndarray  # (nd, 2*G*H)
    lens: np.ndarray  # (batch,)
    init: tuple[np.ndarray, ...]  # initial h (and c), each (nd, batch, H)
    hidden: int
    layout: int
    clip: float | None


def _prepare(node: Node, xs: Inputs, gates: int, states: int) -> _Rnn:
    layout = int(attr(node, "layout", 0))
    x = need(node, xs, 0).astype(np.float64)
    if layout:
        x = x.transpose(1, 0, 2)
    w, r = need(node, xs, 1).astype(np.float64), need(node, xs, 2).astype(np.float64)
    nd, hidden = w.shape[0], r.shape[2]
    b_in = opt(xs, 3)
    b = np.zeros((nd, 2 * gates * hidden)) if b_in is None else b_in.astype(np.float64)
    seq, batch = x.shape[:2]
    lens_in = opt(xs, 4)
    lens = np.full(batch, seq, dtype=np.int64) if lens_in is None else lens_in.astype(np.int64)
    init = []
    for i in range(states):
        s = opt(xs, 5 + i)
        if s is None:
            init.append(np.zeros((nd, batch, hidden)))
        else:
            init.append(
                s.astype(np.float64).transpose(1, 0, 2) if layout else s.astype(np.float64)
            )
    clip = attr(node, "clip", None)
    return _Rnn(
        x, w, r, b, lens, tuple(init), hidden, layout, None if clip is None else float(clip)
    )


Cell = Callable[[np.ndarray, State, int], State]  # (x_t, state, direction) -> new state


def _drive(node: Node, p: _Rnn, cell: Cell, dtype: np.dtype) -> Outputs:
    seq, batch = p.x.shape[:2]
    nd = p.w.shape[0]
    direction = str(attr(node, "direction", "forward"))
    y = np.zeros((seq, nd, batch, p.hidden))
    finals: list[State] = []
    cols = np.arange(batch)
    for d in range(nd):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        state: State = tuple(s[d] for s in p.init)
        for t in range(seq):
            valid = t < p.lens
            tidx = np.where(valid, p.lens - 1 - t if reverse else t, 0)
            new = cell(p.x[tidx, cols], state, d)
            state = tuple(np.where(valid[:, None], n, s) for n, s in zip(new, state, strict=True))
            y[tidx[valid], d, cols[valid]] = state[0][valid]
        finals.append(state)
    outs = [y.transpose(2, 0, 1, 3) if p.layout else y]
    for k in range(len(p.init)):
        s = np.stack([f[k] for f in finals])
        outs.append(s.transpose(1, 0, 2) if p.layout else s)
    return tuple(o.astype(dtype) for o in outs)


def _clip(p: _Rnn, v: np.ndarray) -> np.ndarray:
    return v if p.clip is None else np.clip(v, -p.clip, p.clip)


@register("RNN")
def rnn(node: Node, xs: Inputs, opset: int) -> Outputs:
    p = _prepare(node, xs, 1, 1)
    acts = _activations(node, p.w.shape[0], ("Tanh",))

    def cell(x: np.ndarray, s: State, d: int) -> State:
        pre = x @ p.w[d].T + s[0] @ p.r[d].T + p.b[d, : p.hidden] + p.b[d, p.hidden :]
        return (acts[d][0](_clip(p, pre)),)

    return _drive(node, p, cell, need(node, xs, 0).dtype)


@register("GRU")
def gru(node: Node, xs: Inputs, opset: int) -> Outputs:
    p = _prepare(node, xs, 3, 1)
    acts = _activations(node, p.w.shape[0], ("Sigmoid", "Tanh"))
    lbr = bool(attr(node, "linear_before_reset", 0))
    h = p.hidden

    def cell(x: np.ndarray, s: State, d: int) -> State:
        f, g = acts[d]
        wb, rb = p.b[d, : 3 * h], p.b[d, 3 * h :]
        gx = x @ p.w[d].T + wb
        gh = s[0] @ p.r[d, : 2 * h].T + rb[: 2 * h]
        z = f(_clip(p, gx[:, :h] + gh[:, :h]))
        r = f(_clip(p, gx[:, h : 2 * h] + gh[:, h:]))
        rh = p.r[d, 2 * h :]
        if lbr:
            cand = gx[:, 2 * h :] + r * (s[0] @ rh.T + rb[2 * h :])
        else:
            cand = gx[:, 2 * h :] + (r * s[0]) @ rh.T + rb[2 * h :]
        return ((1.0 - z) * g(_clip(p, cand)) + z * s[0],)

    return _drive(node, p, cell, need(node, xs, 0).dtype)


@register("LSTM")
def lstm(node: Node, xs: Inputs, opset: int) -> Outputs:
    p = _prepare(node, xs, 4, 2)
    nd, h = p.w.shape[0], p.hidden
    acts = _activations(node, nd, ("Sigmoid", "Tanh", "Tanh"))
    peep_in = opt(xs, 7)
    peep = np.zeros((nd, 3 * h)) if peep_in is None else peep_in.astype(np.float64)
    couple = bool(attr(node, "input_forget", 0))

    def cell(x: np.ndarray, s: State, d: int) -> State:
        f, g, hh = acts[d]
        pre = x @ p.w[d].T + s[0] @ p.r[d].T + p.b[d, : 4 * h] + p.b[d, 4 * h :]
        pi, po, pf = peep[d, :h], peep[d, h : 2 * h], peep[d, 2 * h :]
        i = f(_clip(p, pre[:, :h] + pi * s[1]))
        fg = 1.0 - i if couple else f(_clip(p, pre[:, 2 * h : 3 * h] + pf * s[1]))
        c = fg * s[1] + i * g(_clip(p, pre[:, 3 * h :]))
        o = f(_clip(p, pre[:, h : 2 * h] + po * c))
        return (o * hh(c), c)

    return _drive(node, p, cell, need(node, xs, 0).dtype)
