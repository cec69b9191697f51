"""Data-movement ops as strided copies: Transpose, Slice, Gather, Concat, Pad, Split.

Each becomes one ``copy`` step holding segments ``(source, src offset, dst offset, shape,
src strides, dst strides)`` in elements; ``Pad`` first fills the output with its constant.
"""

from __future__ import annotations

import numpy as np

from edgeslim.codegen.nn._ops import Ctx, LowerFn, _attr, _need_const, _unsupported
from edgeslim.ir.graph import Node

Segment = tuple[str, int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _contig(shape: tuple[int, ...]) -> list[int]:
    strides, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= shape[i]
    return strides


def _squash(seg: Segment) -> Segment:
    """Drop size-1 axes (keep at least one) and merge neighbours that are contiguous in both
    source and destination, so the C loop nest stays shallow and inner rows grow long (the
    kernel copies a contiguous innermost row with one memmove)."""
    src, so, do, shape, ss, ds = seg
    keep = [i for i, d in enumerate(shape) if d != 1] or [0]
    dims = [(shape[i], ss[i], ds[i]) for i in keep]
    merged = [dims[0]]
    for n, s, d in dims[1:]:
        pn, ps, pd = merged[-1]
        if ps == s * n and pd == d * n:  # the outer axis steps over exactly one inner run
            merged[-1] = (pn * n, s, d)
        else:
            merged.append((n, s, d))
    return (
        src,
        so,
        do,
        tuple(m[0] for m in merged),
        tuple(m[1] for m in merged),
        tuple(m[2] for m in merged),
    )


def _emit_copy(ctx: Ctx, node: Node, segments: list[Segment], fill: float | None = None) -> None:
    y = node.outputs[0] if len(node.outputs) == 1 else ""
    srcs = []
    for s in segments:
        if s[0] not in srcs:
            srcs.append(s[0])
    segs = [_squash(s) for s in segments]
    if any(len(s[3]) > 6 for s in segs):
        raise _unsupported(node, "more than 6 dimensions")
    outs = tuple(o for o in node.outputs if o)
    ctx.emit(
        node,
        "copy",
        tuple(srcs),
        outs,
        segments=tuple(
            (srcs.index(s[0]), outs.index(y) if y else i, *s[1:]) for i, s in enumerate(segs)
        ),
        fill=fill,
        n=int(ctx.env[outs[0]].size),
    )


def transpose(ctx: Ctx, node: Node) -> None:
    xs = ctx.shape(node.inputs[0])
    perm = [int(p) for p in _attr(node, "perm", list(range(len(xs)))[::-1])]
    src = _contig(xs)
    out_shape = tuple(xs[p] for p in perm)
    seg = (node.inputs[0], 0, 0, out_shape, tuple(src[p] for p in perm), tuple(_contig(out_shape)))
    _emit_copy(ctx, node, [seg])


def slice_(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = ctx.shape(x), ctx.shape(y)
    starts = [int(v) for v in _need_const(ctx, node, 1)]
    ends = [int(v) for v in _need_const(ctx, node, 2)]
    axes = (
        [int(v) for v in _need_const(ctx, node, 3)]
        if len(node.inputs) > 3 and node.inputs[3]
        else list(range(len(starts)))
    )
    steps = (
        [int(v) for v in _need_const(ctx, node, 4)]
        if len(node.inputs) > 4 and node.inputs[4]
        else [1] * len(starts)
    )
    src = _contig(xs)
    offset, strides = 0, list(src)
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a %= len(xs)
        first = slice(s, e, st).indices(xs[a])[0]
        offset += first * src[a]
        strides[a] = src[a] * st
    _emit_copy(ctx, node, [(x, offset, 0, ys, tuple(strides), tuple(_contig(ys)))])


def gather(ctx: Ctx, node: Node) -> None:
    x = node.inputs[0]
    xs = ctx.shape(x)
    idx = _need_const(ctx, node, 1).astype(np.int64)
    axis = int(_attr(node, "axis", 0)) % len(xs)
    src = _contig(xs)
    flat = [int(i) % xs[axis] for i in idx.reshape(-1)]
    inner = xs[axis + 1 :]
    outer = xs[:axis]
    segs = []
    out_shape = (*outer, len(flat), *inner)
    dst = _contig(out_shape)
    for j, i in enumerate(flat):
        shape = (*outer, *inner)
        ss = (*src[:axis], *src[axis + 1 :])
        ds = (*dst[:axis], *dst[axis + 1 :])
        segs.append((x, i * src[axis], j * dst[axis], shape, ss, ds))
    _emit_copy(ctx, node, segs)


def concat(ctx: Ctx, node: Node) -> None:
    y = node.outputs[0]
    ys = ctx.shape(y)
    axis = int(_attr(node, "axis", 0)) % len(ys)
    dst = _contig(ys)
    segs, at = [], 0
    for t in node.inputs:
        ts = ctx.shape(t)
        if t in ctx.const:
            t = ctx.add_const(t, ctx.env[t])
        segs.append((t, 0, at * dst[axis], ts, tuple(_contig(ts)), tuple(dst)))
        at += ts[axis]
    _emit_copy(ctx, node, segs)


def pad(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = ctx.shape(x), ctx.shape(y)
    if str(_attr(node, "mode", "constant")) != "constant":
        raise _unsupported(node, "pad mode other than constant")
    pads = [int(v) for v in _need_const(ctx, node, 1)]
    value = 0.0
    if len(node.inputs) > 2 and node.inputs[2]:
        cv = _need_const(ctx, node, 2)
        value = float(cv.reshape(-1)[0]) if cv.size else 0.0
    axes = (
        [int(v) % len(xs) for v in _need_const(ctx, node, 3)]
        if len(node.inputs) > 3 and node.inputs[3]
        else list(range(len(xs)))
    )
    begin = [0] * len(xs)
    for i, a in enumerate(axes):
        begin[a] = pads[i]
    if any(b < 0 for b in begin) or any(int(p) < 0 for p in pads):
        raise _unsupported(node, "negative pads")
    dst = _contig(ys)
    offset = sum(b * s for b, s in zip(begin, dst, strict=True))
    _emit_copy(ctx, node, [(x, 0, offset, xs, tuple(_contig(xs)), tuple(dst))], fill=value)


def split(ctx: Ctx, node: Node) -> None:
    x = node.inputs[0]
    xs = ctx.shape(x)
    axis = int(_attr(node, "axis", 0)) % len(xs)
    src = _contig(xs)
    segs, at = [], 0
    for i, o in enumerate(node.outputs):
        os_ = ctx.shape(o) if o else xs
        if o:
            segs.append((x, at * src[axis], 0, os_, tuple(src), tuple(_contig(os_))))
        at += os_[axis]
        del i
    outs = tuple(o for o in node.outputs if o)
    ctx.emit(
        node,
        "copy",
        (x,),
        outs,
        segments=tuple((0, i, *_squash(s)[1:]) for i, s in enumerate(segs)),
        fill=None,
        n=int(ctx.env[outs[0]].size),
    )


LOWER: dict[str, LowerFn] = {
    "Transpose": transpose,
    "Slice": slice_,
    "Gather": gather,
    "Concat": concat,
    "Pad": pad,
    "Split": split,
}
