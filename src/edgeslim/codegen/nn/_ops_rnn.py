"""GRU and LSTM nodes (ONNX semantics, default activations) as one kernel call per direction."""

from __future__ import annotations

import numpy as np

from edgeslim.codegen.nn._ops import Ctx, LowerFn, _attr, _need_const, _unsupported, pack_rows8
from edgeslim.ir.graph import Node

_DEFAULT_ACTS = {"GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def _check(ctx: Ctx, node: Node, nd: int) -> None:
    acts = [str(a) for a in _attr(node, "activations", [])]
    want = _DEFAULT_ACTS[node.op] * nd
    if acts and [a.lower() for a in acts] != [a.lower() for a in want]:
        raise _unsupported(node, f"activations {acts}")
    if _attr(node, "clip", None) is not None or int(_attr(node, "layout", 0)):
        raise _unsupported(node, "clip or layout=1")
    if int(_attr(node, "input_forget", 0)):
        raise _unsupported(node, "input_forget")
    if len(node.inputs) > 4 and node.inputs[4]:
        lens = _need_const(ctx, node, 4)
        if np.any(lens != ctx.shape(node.inputs[0])[0]):
            raise _unsupported(node, "sequence_lens shorter than the sequence")
    peep = node.op == "LSTM" and len(node.inputs) > 7 and bool(node.inputs[7])
    if peep and np.any(_need_const(ctx, node, 7) != 0):
        raise _unsupported(node, "peepholes")


def rnn(ctx: Ctx, node: Node) -> None:
    gates = 3 if node.op == "GRU" else 4
    x = node.inputs[0]
    seq, batch, isz = ctx.shape(x)
    if batch != 1:
        raise _unsupported(node, "batch other than 1")
    w = _need_const(ctx, node, 1).astype(np.float32)
    r = _need_const(ctx, node, 2).astype(np.float32)
    nd, hid = w.shape[0], r.shape[2]
    _check(ctx, node, nd)
    b = (
        _need_const(ctx, node, 3).astype(np.float32)
        if len(node.inputs) > 3 and node.inputs[3]
        else np.zeros((nd, 2 * gates * hid), np.float32)
    )
    direction = str(_attr(node, "direction", "forward"))
    # per direction, W by 8 rows; R by 8 rows, for a GRU the z and r rows apart from the h rows
    # (the kernel multiplies r * h before the h rows when linear_before_reset is 0)
    wp = [pack_rows8(w[d]) for d in range(nd)]
    split = [2 * hid] if node.op == "GRU" else []
    rp = [
        np.concatenate([pack_rows8(q).reshape(-1) for q in np.split(r[d], split)])
        for d in range(nd)
    ]
    inputs = [
        x,
        ctx.add_const(node.inputs[1], np.concatenate([q.reshape(-1) for q in wp])),
        ctx.add_const(node.inputs[2], np.concatenate(rp)),
        ctx.add_const(node.name + "_B", b),
    ]
    states = []
    for k in range(gates - 2 if node.op == "LSTM" else 1):
        i = 5 + k
        name = node.inputs[i] if len(node.inputs) > i else ""
        if name and name in ctx.const:
            init = ctx.env[name].astype(np.float32)
            name = "" if not np.any(init) else ctx.add_const(name, init)
        states.append(name)
    inputs += [s for s in states if s]
    outs = list(node.outputs) + [""] * (3 - len(node.outputs))
    scratch = f"{node.name}__scratch"
    size = (3 + 2 * gates) * hid  # state vectors and the gate products of one step
    ctx.env[scratch] = np.zeros(size, np.float32)
    from edgeslim.codegen.nn._program import Value

    ctx.values[scratch] = Value(scratch, "float32", (size,), scratch)
    for o in node.outputs:
        if o and o not in ctx.values:
            ctx.values[o] = Value(o, "float32", ctx.shape(o), o)
    macs = seq * nd * gates * hid * (isz + hid)
    ctx.emit(
        node,
        node.op.lower(),
        tuple(inputs),
        (*(o for o in node.outputs if o), scratch),
        macs,
        seq=seq,
        isz=isz,
        hid=hid,
        nd=nd,
        reverse=[
            direction == "reverse" or (direction == "bidirectional" and d == 1) for d in range(nd)
        ],
        lbr=bool(int(_attr(node, "linear_before_reset", 0))),
        woff=[d * wp[0].size for d in range(nd)],
        roff=[d * rp[0].size for d in range(nd)],
        has_h0=bool(states[0]),
        has_c0=len(states) > 1 and bool(states[1]),
        y=outs[0],
        yh=outs[1],
        yc=outs[2],
    )


LOWER: dict[str, LowerFn] = {"GRU": rnn, "LSTM": rnn}
