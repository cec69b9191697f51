"""Affine-arithmetic (zonotope) propagation of the quantization error bound.

Every tensor carries two affine forms over shared noise symbols ``eps_k`` in [-1, 1]: the float
model's value ``f = c + sum_k g_k eps_k`` and the error of the quantized path
``e = q - f = ec + sum_k eg_k eps_k``. The input box gives one symbol per input element. Then:

* linear ops (Conv, Gemm, MatMul) with quantized weights ``W'`` and float weights ``W``:
  ``f' = W f + b`` and ``e' = W' e + (W' - W) f + (b' - b)``, both exact in affine arithmetic,
  so errors of different channels cancel where the weights say they do (interval arithmetic
  adds ``|W'| |e|``) and the weight-error term keeps its correlation with ``f``;
* ``Relu``: ``f`` is relaxed as in DeepZ (Singh et al. 2018) where its interval crosses 0; the
  error ``relu(f + e) - relu(f)`` is exactly ``e`` where both ``f`` and ``q = f + e`` are
  non-negative, 0 where both are non-positive, and otherwise ``alpha * e`` with ``alpha`` in
  [0, 1], kept as ``e / 2`` plus a fresh symbol of radius ``max|e| / 2`` (or the interval
  ``[relu(lo_q) - relu(hi_f), relu(hi_q) - relu(lo_f)]`` when that is narrower);
* ``QuantizeLinear -> DequantizeLinear`` adds a fresh symbol per element: the rounding error
  ``s/2``, widened by the clipping distance where ``q``'s interval leaves the representable
  range;
* shape ops and averaging pools are linear (applied to centers and generators); MaxPool,
  Sigmoid and Tanh go through intervals (fresh symbols): ``maxpool(q) - maxpool(f)`` lies in
  ``[minpool(lo_e), maxpool(hi_e)]``, and a monotone ``L``-Lipschitz ``h`` gives
  ``h(q) - h(f)`` in ``[L min(lo_e, 0), L max(hi_e, 0)]``.

Each rule is sound in exact arithmetic; the caller adds the float32 slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim.ir.graph import Graph, Node

_WHERE = "the affine quantization error bound"
_LINEAR_SHAPE: tuple[str, ...] = (
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
)
_LINEAR_SHAPE += ("AveragePool", "GlobalAveragePool", "Slice", "Pad", "Reshape", "Gather")
_LIPSCHITZ = {"Sigmoid": 0.25, "Tanh": 1.0}
_CHUNK = 256  # generators pushed through an op at a time
_KEEP = 0.5  # an error element is replaced by its interval only when that is half as wide
MAX_SYMBOLS = 12000  # beyond this the affine pass gives up (cost grows with symbols x size)
REDUCE_AT = 1500  # more symbols than this after a node: keep the strongest KEEP_SYMBOLS
KEEP_SYMBOLS = 600


class _Space:
    """The noise symbols created so far."""

    def __init__(self) -> None:
        self.n = 0
        self.peak = 0

    def fresh(self, center: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An affine form with value in ``center +- radius``, one new symbol per element with
        a nonzero radius."""
        r = np.asarray(radius, np.float64).reshape(-1)
        idx = np.flatnonzero(r > 0)
        if self.n + len(idx) > MAX_SYMBOLS:
            raise UnsupportedOpError(
                "symbols", str(self.n + len(idx)), f"{_WHERE} (more than {MAX_SYMBOLS} symbols)"
            )
        g = np.zeros((self.n + len(idx), r.size))
        g[self.n + np.arange(len(idx)), idx] = r[idx]
        self.n += len(idx)
        self.peak = max(self.peak, self.n)
        return np.asarray(center, np.float64), g.reshape((-1, *np.shape(center)[1:]))


@dataclass(frozen=True, slots=True)
class _Z:
    c: np.ndarray  # (1, *shape) center of f
    g: np.ndarray  # (k, *shape) generators of f
    ec: np.ndarray  # center of e = q - f
    eg: np.ndarray  # generators of e


@dataclass(frozen=True, slots=True)
class _ZCodes:  # output of a QuantizeLinear: its input and qparams
    src: _Z
    scale: np.ndarray
    zero_point: np.ndarray


def _pad(g: np.ndarray, n: int) -> np.ndarray:
    if g.shape[0] >= n:
        return g
    return np.concatenate([g, np.zeros((n - g.shape[0], *g.shape[1:]))])


def _rad(g: np.ndarray) -> np.ndarray:
    return np.abs(g).sum(axis=0, keepdims=True) if g.shape[0] else np.zeros((1, *g.shape[1:]))


def _interval(c: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = _rad(g)
    return c - r, c + r


def _plus(a: np.ndarray, b: np.ndarray, sign: float = 1.0) -> np.ndarray:
    n = max(a.shape[0], b.shape[0])
    return _pad(a, n) + sign * _pad(b, n)


def _batched(fn: Any, g: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``fn`` applied to the generators as a batch (in chunks); shape ``(k, *like.shape[1:])``."""
    if g.shape[0] == 0:
        return np.zeros((0, *like.shape[1:]))
    parts = [np.asarray(fn(g[i : i + _CHUNK]), np.float64) for i in range(0, len(g), _CHUNK)]
    out = np.concatenate(parts)
    if out.shape[1:] != like.shape[1:]:
        raise UnsupportedOpError("batch", "generators", f"{_WHERE} (shape changes the batch)")
    return out


def _as_z(v: Any, like: _Z | None = None) -> _Z:
    """An affine form of a value of the interval pass: an input or a constant (q, f)."""
    if isinstance(v, _Z):
        return v
    f = np.asarray(v.lo, np.float64)
    q = np.asarray(v.q, np.float64)
    if like is not None:
        f, q = np.broadcast_to(f, like.c.shape), np.broadcast_to(q, like.c.shape)
    empty = np.zeros((0, *f.shape[1:]))
    return _Z(f, empty, q - f, empty)


def _linear(node: Node, x: _Z, w: Any, b: Any, opset: int) -> _Z:
    from edgeslim.measure._bounds import _op

    attrs = node.attrs
    if node.op == "Gemm" and (
        attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0)
    ):
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (alpha, beta or transA)")
    wq, wf = np.asarray(w.q, np.float64), np.asarray(w.lo, np.float64)
    dw = wq - wf

    def lin(a: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.asarray(_op(node, [a, m, None], opset)[0], np.float64)

    c = lin(x.c, wf)
    g = _batched(lambda a: lin(a, wf), x.g, c)
    ec = lin(x.ec, wq) + lin(x.c, dw)
    eg = _plus(_batched(lambda a: lin(a, wq), x.eg, c), _batched(lambda a: lin(a, dw), x.g, c))
    if b is not None:
        shape = (1, -1) + (1,) * (c.ndim - 2)
        c = c + np.asarray(b.lo, np.float64).reshape(shape)
        ec = ec + (np.asarray(b.q, np.float64) - np.asarray(b.lo, np.float64)).reshape(shape)
    return _Z(c, g, ec, eg)


def _relu(z: _Z, space: _Space) -> _Z:
    lo_f, hi_f = _interval(z.c, z.g)
    qc, qg = z.c + z.ec, _plus(z.g, z.eg)
    lo_q, hi_q = _interval(qc, qg)
    n = space.n
    # float value: DeepZ relaxation where the interval crosses 0
    cross = (lo_f < 0) & (hi_f > 0)
    lam = np.where(cross, hi_f / np.where(cross, hi_f - lo_f, 1.0), (lo_f >= 0).astype(float))
    mu = np.where(cross, -lam * lo_f / 2.0, 0.0)
    c, g_new = space.fresh(z.c * lam + mu, mu)
    g = _plus(_pad(z.g * lam, n), g_new)
    # error: exact where both sides agree on the sign, relaxed elsewhere
    pos = (lo_f >= 0) & (lo_q >= 0)
    neg = (hi_f <= 0) & (hi_q <= 0)
    mixed = ~(pos | neg)
    emag = np.abs(z.ec) + _rad(z.eg)
    lo_i = np.maximum(np.minimum(z.ec - _rad(z.eg), 0), np.maximum(lo_q, 0) - np.maximum(hi_f, 0))
    hi_i = np.minimum(np.maximum(z.ec + _rad(z.eg), 0), np.maximum(hi_q, 0) - np.maximum(lo_f, 0))
    use_interval = mixed & ((hi_i - lo_i) / 2.0 < emag / 2.0)
    keep = pos.astype(float) + np.where(mixed & ~use_interval, 0.5, 0.0)
    center = z.ec * keep + np.where(use_interval, (lo_i + hi_i) / 2.0, 0.0)
    radius = np.where(mixed & ~use_interval, emag / 2.0, 0.0)
    radius = radius + np.where(use_interval, (hi_i - lo_i) / 2.0, 0.0)
    ec, eg_new = space.fresh(center, radius)
    eg = _plus(_pad(z.eg * keep, space.n), eg_new)
    return _Z(c, _pad(g, space.n), ec, eg)


def _dequantize(node: Node, z: _Z, scale: np.ndarray, zp: np.ndarray, space: _Space) -> _Z:
    from edgeslim.ir.interp._quant import _broadcast, _out_dtype, qrange

    qmin, qmax = qrange(_out_dtype(node, zp))
    s = _broadcast(node, scale.astype(np.float64), z.c)
    zz = _broadcast(node, zp.astype(np.float64), z.c)
    top, bottom = s * (qmax - zz), s * (qmin - zz)
    lo_q, hi_q = _interval(z.c + z.ec, _plus(z.g, z.eg))
    d_lo = np.minimum(-s / 2.0, top - hi_q)
    d_hi = np.maximum(s / 2.0, bottom - lo_q)
    center = np.broadcast_to(z.ec + (d_lo + d_hi) / 2.0, z.c.shape)
    radius = np.broadcast_to((d_hi - d_lo) / 2.0, z.c.shape)
    ec, eg_new = space.fresh(center, radius)
    return _Z(z.c, z.g, ec, _plus(z.eg, eg_new))


def _shape_op(node: Node, z: _Z, rest: list[np.ndarray | None], opset: int) -> _Z:
    from edgeslim.measure._bounds import _op

    if node.op == "Gather" and int(node.attrs.get("axis", 0)) % max(z.c.ndim, 1) == 0:
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (Gather on the batch axis)")
    perm = node.attrs.get("perm")
    if node.op == "Transpose" and (perm is None or int(perm[0]) != 0):
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (Transpose of the batch axis)")
    if node.op == "Pad" and len(rest) > 1 and rest[1] is not None and np.any(rest[1] != 0):
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (padding with a nonzero value)")

    def run(a: np.ndarray) -> np.ndarray:
        return np.asarray(_op(node, [a, *rest], opset)[0], np.float64)

    c = run(z.c)
    if node.op in ("Reshape", "Flatten"):  # the batch axis of the generators stays in front

        def run(a: np.ndarray) -> np.ndarray:
            return a.reshape((a.shape[0], *c.shape[1:]))

    return _Z(c, _batched(run, z.g, c), run(z.ec), _batched(run, z.eg, c))


def _through_intervals(node: Node, z: _Z, space: _Space, opset: int) -> _Z:
    from edgeslim.measure._bounds import _op

    def run(a: np.ndarray) -> np.ndarray:
        return np.asarray(_op(node, [a], opset)[0], np.float64)

    lo_f, hi_f = _interval(z.c, z.g)
    lo_e, hi_e = _interval(z.ec, z.eg)
    f_lo, f_hi = run(lo_f), run(hi_f)
    if node.op in ("MaxPool", "GlobalMaxPool"):
        e_lo, e_hi = -run(-lo_e), run(hi_e)
    else:
        k = _LIPSCHITZ[node.op]
        e_lo, e_hi = k * np.minimum(lo_e, 0.0), k * np.maximum(hi_e, 0.0)
    c, g = space.fresh((f_lo + f_hi) / 2.0, (f_hi - f_lo) / 2.0)
    ec, eg = space.fresh((e_lo + e_hi) / 2.0, (e_hi - e_lo) / 2.0)
    return _Z(c, g, ec, eg)


def _scale(node: Node, x: _Z, k: Any) -> _Z:
    kq, kf = np.asarray(k.q, np.float64), np.asarray(k.lo, np.float64)
    if node.op == "Div":
        kq, kf = 1.0 / kq, 1.0 / kf
    kq, kf = np.broadcast_to(kq, x.c.shape), np.broadcast_to(kf, x.c.shape)
    return _Z(x.c * kf, x.g * kf, x.ec * kq + x.c * (kq - kf), _plus(x.eg * kq, x.g * (kq - kf)))


@dataclass(frozen=True, slots=True)
class _ZDynCodes:  # DynamicQuantizeLinear's codes: the input and the runtime scale's bound
    src: _Z
    step: float


@dataclass(frozen=True, slots=True)
class _ZDynProduct:  # MatMulInteger/ConvInteger of dynamic codes before the rescaling Mul
    node: Node
    x: _Z  # the input with the runtime rounding added to its error
    w_int: np.ndarray
    w_float: np.ndarray


def _dynamic(
    node: Node, xs: list[Any], env: dict[str, Any], ref: Mapping[str, np.ndarray],
    space: _Space, opset: int,
) -> bool:  # fmt: skip
    """Dynamic quantization as in :func:`edgeslim.measure._bounds._dynamic`, with the runtime
    rounding as one fresh symbol of radius ``step / 2`` per element. False: not this pattern."""
    from edgeslim.measure._bounds import _S, _DynScale, _DynZeroPoint, _float_weight

    op, out = node.op, node.outputs
    if op == "DynamicQuantizeLinear":
        x = _as_z(xs[0])
        lo_q, hi_q = _interval(x.c + x.ec, _plus(x.g, x.eg))
        top, bottom = max(0.0, float(hi_q.max())), min(0.0, float(lo_q.min()))
        step = (top - bottom) / 255.0 * (1.0 + 1e-6)
        env[out[0]] = _ZDynCodes(x, step)
        if len(out) > 1 and out[1]:
            env[out[1]] = _DynScale(step)
        if len(out) > 2 and out[2]:
            env[out[2]] = _DynZeroPoint()
        return True
    if op in ("MatMulInteger", "ConvInteger") and isinstance(xs[0], _ZDynCodes):
        w = xs[1]
        if isinstance(w, _Z) or not w.const:
            return False
        zp = np.asarray(xs[3].q if len(xs) > 3 and isinstance(xs[3], _S) else 0, np.float64)
        w_int = np.asarray(w.q, np.float64)
        if op == "ConvInteger" and zp.ndim:
            zp = zp.reshape((-1,) + (1,) * (w_int.ndim - 1))
        w_float = _float_weight(node, ref)
        if w_float.shape != w_int.shape:
            return False
        src = xs[0].src
        ec, eg = space.fresh(src.ec, np.full(src.c.shape, xs[0].step / 2.0))
        x = _Z(src.c, src.g, ec, _plus(src.eg, eg))
        lin = Node(node.name, "MatMul" if op == "MatMulInteger" else "Conv", node.inputs[:2],
                   node.outputs, node.attrs)  # fmt: skip
        env[out[0]] = _ZDynProduct(lin, x, w_int - zp, w_float)
        return True
    if op == "Cast" and isinstance(xs[0], _ZDynProduct):
        env[out[0]] = xs[0]
        return True
    if op == "Mul" and len(xs) == 2:
        a, b = xs
        if isinstance(b, _ZDynProduct) or (isinstance(b, _DynScale) and isinstance(a, _S)):
            a, b = b, a
        if isinstance(a, _DynScale) and a.factor is None and not isinstance(b, _Z) and b.const:
            env[out[0]] = _DynScale(a.step, np.asarray(b.q, np.float64))
            return True
        if isinstance(a, _ZDynProduct) and isinstance(b, _DynScale) and b.factor is not None:
            factor = b.factor
            if a.node.op == "Conv":
                factor = factor.reshape((-1,) + (1,) * (a.w_int.ndim - 1))
            wq = a.w_int * factor
            w = _S(a.w_float, a.w_float, np.abs(wq - a.w_float), wq)
            env[out[0]] = _linear(a.node, a.x, w, None, opset)
            return True
    return False


def _step(
    node: Node, env: dict[str, Any], space: _Space, opset: int,
    ref: Mapping[str, np.ndarray] | None = None,
) -> None:  # fmt: skip
    from edgeslim.measure._bounds import _DYNAMIC, _const

    dyn = (_ZDynCodes, _ZDynProduct, *_DYNAMIC)
    if node.op == "DynamicQuantizeLinear" or any(isinstance(x, dyn) for x in (
            env[t] if t else None for t in node.inputs)):  # fmt: skip
        xs0: list[Any] = [env[t] if t else None for t in node.inputs]
        if _dynamic(node, xs0, env, ref or {}, space, opset):
            return
        raise UnsupportedOpError(node.op, node.name, f"{_WHERE} (dynamic quantization)")

    xs: list[Any] = [env[t] if t else None for t in node.inputs]
    op, out = node.op, node.outputs[0]
    if op == "QuantizeLinear":
        zp = xs[2].q if len(xs) > 2 and xs[2] is not None else np.zeros((), np.uint8)
        env[out] = _ZCodes(_as_z(xs[0]), xs[1].q, zp)
    elif op == "DequantizeLinear":
        if not isinstance(xs[0], _ZCodes):
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (DQ of a non-constant)")
        env[out] = _dequantize(node, xs[0].src, xs[0].scale, xs[0].zero_point, space)
    elif op == "Shape":
        z = _as_z(xs[0])
        dims = np.asarray(z.c.shape, np.int64)
        start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
        env[out] = _const(dims[start : None if end is None else int(end)])
    elif any(isinstance(x, _ZCodes) for x in xs):
        raise UnsupportedOpError(op, node.name, f"{_WHERE} (integer codes as input)")
    elif op in ("Conv", "Gemm", "MatMul"):
        if isinstance(xs[1], _Z) or not xs[1].const:
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (non-constant weight)")
        if op == "MatMul" and len(xs) > 2:
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (MatMul with 3 inputs)")
        env[out] = _linear(node, _as_z(xs[0]), xs[1], xs[2] if len(xs) > 2 else None, opset)
    elif op == "Relu":
        env[out] = _relu(_as_z(xs[0]), space)
    elif op in ("Add", "Sub") and len(xs) == 2:
        a = xs[0] if isinstance(xs[0], _Z) else _as_z(xs[0], _as_z(xs[1]))
        b = xs[1] if isinstance(xs[1], _Z) else _as_z(xs[1], a)
        sign = 1.0 if op == "Add" else -1.0
        env[out] = _Z(
            a.c + sign * b.c, _plus(a.g, b.g, sign), a.ec + sign * b.ec, _plus(a.eg, b.eg, sign)
        )
    elif op in ("Mul", "Div") and sum(not isinstance(x, _Z) for x in xs) == 1:
        if isinstance(xs[0], _Z):
            env[out] = _scale(node, xs[0], xs[1])
        elif op == "Mul":
            env[out] = _scale(node, xs[1], xs[0])
        else:
            raise UnsupportedOpError(op, node.name, f"{_WHERE} (constant / tensor)")
    elif op in _LINEAR_SHAPE:
        rest = [x.lo if x is not None and not isinstance(x, _Z) else None for x in xs[1:]]
        env[out] = _shape_op(node, _as_z(xs[0]), rest, opset)
    elif op in ("MaxPool", "GlobalMaxPool") or op in _LIPSCHITZ:
        env[out] = _through_intervals(node, _as_z(xs[0]), space, opset)
    else:
        raise UnsupportedOpError(op, node.name, _WHERE)


def _tighten(z: _Z, s: Any, space: _Space) -> _Z:
    """The reduced product with the interval pass: where the interval value ``s`` of the same
    tensor is narrower (float value or error), that element becomes a fresh symbol with the
    interval's range (both ranges hold, so either is sound)."""
    from edgeslim.measure._bounds import _S

    if not isinstance(s, _S) or s.const:
        return z
    lo_i, hi_i = np.broadcast_to(s.lo, z.c.shape), np.broadcast_to(s.hi, z.c.shape)
    lo_a, hi_a = _interval(z.c, z.g)
    c, g = z.c, z.g
    narrow = (hi_i - lo_i) < (hi_a - lo_a)
    if narrow.any():
        c, g_new = space.fresh(np.where(narrow, (lo_i + hi_i) / 2, c), (hi_i - lo_i) / 2 * narrow)
        g = _plus(g * ~narrow, g_new)
    err = np.broadcast_to(s.err, z.c.shape)
    ec, eg = z.ec, z.eg
    narrow = err < _KEEP * (np.abs(ec) + _rad(eg))  # correlations are worth some width
    if narrow.any():
        ec, eg_new = space.fresh(np.where(narrow, 0.0, ec), err * narrow)
        eg = _plus(eg * ~narrow, eg_new)
    return _Z(c, g, ec, eg)


def _reduce(env: dict[str, Any], space: _Space) -> None:
    """Order reduction (Girard): keep the ``KEEP_SYMBOLS`` symbols with the largest total
    weight over the live tensors; the others' contribution to each element becomes one fresh
    symbol per element (their box hull: sound, only correlations are lost). Symbols that no
    live tensor uses are dropped, and the rest renumbered."""
    kinds = _Z | _ZCodes | _ZDynCodes | _ZDynProduct
    live: dict[str, Any] = {k: v for k, v in env.items() if isinstance(v, kinds)}
    zs = {k: v if isinstance(v, _Z) else (v.x if isinstance(v, _ZDynProduct) else v.src)
          for k, v in live.items()}  # fmt: skip
    n = space.n
    score = np.zeros(n)
    for z in zs.values():
        for arr in (z.g, z.eg):
            score[: arr.shape[0]] += np.abs(arr).reshape(arr.shape[0], -1).sum(axis=1)
    keep = np.zeros(n, bool)
    keep[np.argsort(-score, kind="stable")[:KEEP_SYMBOLS]] = True
    keep &= score > 0
    space.n = int(keep.sum())
    for k, z in zs.items():
        parts = []
        for arr in (z.g, z.eg):
            mine = keep[: arr.shape[0]]
            kept = arr[mine]  # rows past arr's end are zero: nothing to keep or box
            _, fresh = space.fresh(z.c, _rad(arr[~mine]))
            fresh[: kept.shape[0]] += kept
            parts.append(fresh)
        new = _Z(z.c, parts[0], z.ec, parts[1])
        v = live[k]
        if isinstance(v, _Z):
            env[k] = new
        elif isinstance(v, _ZCodes):
            env[k] = _ZCodes(new, v.scale, v.zero_point)
        elif isinstance(v, _ZDynCodes):
            env[k] = _ZDynCodes(new, v.step)
        else:
            env[k] = _ZDynProduct(v.node, new, v.w_int, v.w_float)


def affine_error(
    quantized: Graph,
    ref: Mapping[str, np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    intervals: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max |e|, float lower bound, float upper bound) per output element (exact arithmetic).
    ``intervals`` (tensor -> value of the interval pass) tightens every tensor (see
    :func:`_tighten`)."""
    from edgeslim.measure._bounds import _S, _const, _constant_node

    space = _Space()
    c, g = space.fresh((lo.astype(np.float64) + hi) / 2.0, (hi.astype(np.float64) - lo) / 2.0)
    zero = np.zeros((0, *c.shape[1:]))
    env: dict[str, Any] = {quantized.inputs[0].name: _Z(c, g, np.zeros_like(c), zero)}
    for name, value in quantized.initializers.items():
        env[name] = _const(value, ref.get(name))
    last = {t: i for i, node in enumerate(quantized.nodes) for t in node.inputs}
    keep = {quantized.outputs[0].name}
    for i, node in enumerate(quantized.nodes):
        inputs = [env[t] for t in node.inputs if t]
        if inputs and all(isinstance(x, _S) and x.const for x in inputs):
            _constant_node(node, env, ref, quantized.opset)
            continue
        _step(node, env, space, quantized.opset, ref)
        for name in node.outputs:
            if intervals and isinstance(env.get(name), _Z) and name in intervals:
                env[name] = _tighten(env[name], intervals[name], space)
        for t in node.inputs:  # free what no later node reads
            if (
                t
                and last.get(t) == i
                and t not in keep
                and isinstance(env.get(t), _Z | _ZCodes | _ZDynCodes | _ZDynProduct)
            ):
                del env[t]
        if space.n > REDUCE_AT:
            _reduce(env, space)
    out = env[quantized.outputs[0].name]
    if not isinstance(out, _Z):
        raise UnsupportedOpError("QuantizeLinear", quantized.outputs[0].name, f"{_WHERE} (output)")
    lo_f, hi_f = _interval(out.c, out.g)
    return np.abs(out.ec) + _rad(out.eg), lo_f, hi_f
