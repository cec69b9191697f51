"""Per-op lowering: one function per ONNX op turns a node into kernel :class:`Step` s.

Each function reads static shapes from ``ctx.env`` (values of a batch-1 run) and constants from
``ctx.const``; it appends steps to ``ctx.steps``. Unsupported attribute values raise
:class:`UnsupportedOpError` naming the node. ``LOWER`` maps ONNX op names to these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim._core.errors import UnsupportedOpError
from edgeslim.codegen.nn._program import Step, Value
from edgeslim.ir.graph import Graph, Node

WHERE = "the C code generator"
ACT_NONE, ACT_CLIP = 0, 1
FUSABLE = frozenset({"conv2d", "dense", "binary"})


@dataclass
class Ctx:
    graph: Graph
    env: dict[str, np.ndarray]
    const: set[str]
    values: dict[str, Value]
    steps: list[Step]
    consumers: dict[str, int] = field(default_factory=dict)
    extra_consts: dict[str, np.ndarray] = field(default_factory=dict)
    _n: int = 0

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.env[name].shape)

    def add_const(self, base: str, value: np.ndarray) -> str:
        """A new constant (a transformed weight); returns its name."""
        self._n += 1
        name = f"{base}__c{self._n}"
        self.env[name] = np.ascontiguousarray(value)
        self.const.add(name)
        return name

    def emit(
        self,
        node: Node,
        kernel: str,
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
        macs: int = 0,
        inplace: bool = False,
        **params: Any,
    ) -> None:
        self.steps.append(
            Step(
                node.name,
                node.op,
                kernel,
                inputs,
                outputs,
                MappingProxyType(params),
                inplace,
                macs,
            )
        )

    def finish(self) -> None:
        """Drop values no step reads or writes (fused intermediates)."""
        used = {t for s in self.steps for t in (*s.inputs, *s.outputs)}
        used |= {t.name for t in self.graph.inputs} | {t.name for t in self.graph.outputs}
        views = {v.buffer for k, v in self.values.items() if k in used}
        for k in list(self.values):
            if k not in used and self.values[k].buffer not in views:
                del self.values[k]


def _attr(node: Node, key: str, default: Any) -> Any:
    v = node.attrs.get(key)
    return default if v is None else v


def _unsupported(node: Node, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.op, node.name, f"{WHERE} ({why})")


def _need_const(ctx: Ctx, node: Node, i: int) -> np.ndarray:
    name = node.inputs[i] if i < len(node.inputs) else ""
    if name and name not in ctx.const:
        raise _unsupported(node, f"input {i} must be a constant")
    return ctx.env[name] if name else np.zeros(0)


def conv_geometry(
    ctx: Ctx, node: Node, x: str, y: str, kernel: tuple[int, ...]
) -> dict[str, Any] | None:
    """The 2-D geometry of a Conv node (a 1-D conv is a 2-D conv of height 1) as the kernels'
    parameters, or None for what they do not cover (3-D and up, ``auto_pad`` SAME)."""
    xs, ys = ctx.shape(x), ctx.shape(y)
    nd = len(xs) - 2
    if nd not in (1, 2) or str(_attr(node, "auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        return None
    k = list(kernel)
    strides = [int(s) for s in _attr(node, "strides", [1] * nd)]
    dil = [int(s) for s in _attr(node, "dilations", [1] * nd)]
    pads = [int(s) for s in _attr(node, "pads", [0] * 2 * nd)]
    if nd == 1:
        k, strides, dil = [1, *k], [1, *strides], [1, *dil]
        pads = [0, pads[0], 0, pads[1]]
        xs, ys = (*xs[:2], 1, xs[2]), (*ys[:2], 1, ys[2])
    return {
        "cin": xs[1],
        "h": xs[2],
        "w": xs[3],
        "cout": ys[1],
        "kh": k[0],
        "kw": k[1],
        "sh": strides[0],
        "sw": strides[1],
        "dh": dil[0],
        "dw": dil[1],
        "pt": pads[0],
        "pl": pads[1],
        "oh": ys[2],
        "ow": ys[3],
        "groups": int(_attr(node, "group", 1)),
    }


def pack_rows8(w: np.ndarray) -> np.ndarray:
    """Rows of ``w`` (axis 0) in blocks of 8, interleaved: ``[rows/8][rest...][8]`` (zero rows
    pad the last block), the weight layout of the float kernels that compute 8 outputs per pass
    (``es_conv2d_f32_oc8``, ``es_dense_f32``, ``es_mv8_f32``)."""
    rows = w.shape[0]
    pad = -rows % 8
    wp = np.concatenate([w, np.zeros((pad, *w.shape[1:]), w.dtype)]) if pad else w
    wp = wp.reshape(-1, 8, *w.shape[1:])
    return np.ascontiguousarray(np.moveaxis(wp, 1, -1))


def _scratch(ctx: Ctx, name: str, size: int) -> str:
    """A float32 work buffer of ``size`` elements in the arena, live during its step."""
    ctx.env[name] = np.zeros(size, np.float32)
    ctx.values[name] = Value(name, "float32", (size,), name)
    return name


def conv(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    w = _need_const(ctx, node, 1).astype(np.float32)
    g = conv_geometry(ctx, node, x, y, w.shape[2:])
    if g is None:
        raise _unsupported(node, f"{len(ctx.shape(x)) - 2}-D convolution or auto_pad")
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    # groups 1: 8 output channels per pass over weights packed [cout/8][cin][kh][kw][8];
    # grouped (depthwise): kernel taps outside, output pixels inside
    loop = "oc8" if g["groups"] == 1 else "taps"
    wname = ctx.add_const(node.inputs[1], pack_rows8(w) if loop == "oc8" else w)
    inputs = (x, wname) + ((bias,) if bias else ())
    macs = g["cout"] * g["oh"] * g["ow"] * (g["cin"] // g["groups"]) * g["kh"] * g["kw"]
    outputs: tuple[str, ...] = (y,)
    if loop == "taps":  # the zero-padded input plane of es_conv2d_f32_taps
        ph = (g["oh"] - 1) * g["sh"] + (g["kh"] - 1) * g["dh"] + 1
        pw = (g["ow"] - 1) * g["sw"] + (g["kw"] - 1) * g["dw"] + 1
        outputs += (_scratch(ctx, f"{node.name}__pad", ph * pw),)
    ctx.emit(
        node,
        "conv2d",
        inputs,
        outputs,
        macs,
        **g,
        loop=loop,
        has_bias=bool(bias),
        act=ACT_NONE,
        lo=float("-inf"),
        hi=float("inf"),
    )


def gemm(ctx: Ctx, node: Node) -> None:
    a, y = node.inputs[0], node.outputs[0]
    if int(_attr(node, "transA", 0)) or a in ctx.const:
        raise _unsupported(node, "transA or a constant A")
    b = _need_const(ctx, node, 1).astype(np.float64)
    if (node.op == "Gemm" and not int(_attr(node, "transB", 0))) or node.op == "MatMul":
        b = b.T
    alpha, beta = float(_attr(node, "alpha", 1.0)), float(_attr(node, "beta", 1.0))
    m, kdim = ctx.shape(a)[0] if len(ctx.shape(a)) == 2 else 1, b.shape[1]
    if len(ctx.shape(a)) != 2:
        raise _unsupported(node, "A must be 2-D")
    n = b.shape[0]
    wname = ctx.add_const(node.inputs[1], pack_rows8((alpha * b).astype(np.float32)))
    inputs: tuple[str, ...] = (a, wname)
    c = _need_const(ctx, node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
    if c is not None:
        if c.size not in (1, n):
            raise _unsupported(node, "bias C must broadcast along N")
        bias = np.broadcast_to(beta * c.reshape(-1).astype(np.float64), (n,))
        inputs += (ctx.add_const(node.inputs[2], bias.astype(np.float32)),)
    ctx.emit(
        node,
        "dense",
        inputs,
        (y,),
        m * n * kdim,
        m=m,
        n=n,
        k=kdim,
        has_bias=c is not None,
        act=ACT_NONE,
        lo=float("-inf"),
        hi=float("inf"),
    )


def _try_fuse(ctx: Ctx, node: Node, lo: float, hi: float) -> bool:
    x = node.inputs[0]
    if not ctx.steps or ctx.consumers.get(x, 0) != 1:
        return False
    last = ctx.steps[-1]
    # output 0 is the fused tensor; a conv's scratch plane (output 1) stays
    if last.kernel not in FUSABLE or last.outputs[:1] != (x,) or last.params["act"] != ACT_NONE:
        return False
    params = dict(last.params, act=ACT_CLIP, lo=lo, hi=hi)
    ctx.steps[-1] = Step(
        last.node,
        last.op,
        last.kernel,
        last.inputs,
        (*node.outputs[:1], *last.outputs[1:]),
        MappingProxyType(params),
        last.inplace,
        last.macs,
    )
    return True


def clip(ctx: Ctx, node: Node) -> None:
    if node.op == "Relu":
        lo, hi = 0.0, float("inf")
    else:
        lo_a = _need_const(ctx, node, 1) if len(node.inputs) > 1 and node.inputs[1] else None
        hi_a = _need_const(ctx, node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
        lo = float(lo_a) if lo_a is not None else float(_attr(node, "min", float("-inf")))
        hi = float(hi_a) if hi_a is not None else float(_attr(node, "max", float("inf")))
    if _try_fuse(ctx, node, lo, hi):
        return
    n = int(ctx.env[node.inputs[0]].size)
    ctx.emit(node, "clip", (node.inputs[0],), node.outputs, inplace=True, n=n, lo=lo, hi=hi)


def unary(ctx: Ctx, node: Node) -> None:
    n = int(ctx.env[node.inputs[0]].size)
    ctx.emit(node, node.op.lower(), (node.inputs[0],), node.outputs, inplace=True, n=n)


def _strides(shape: tuple[int, ...], full: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast to ``full`` (0 along broadcast axes)."""
    shape = (1,) * (len(full) - len(shape)) + shape
    strides, acc = [0] * len(full), 1
    for i in range(len(full) - 1, -1, -1):
        strides[i] = acc if shape[i] != 1 else 0
        acc *= shape[i]
    return strides


def binary(ctx: Ctx, node: Node) -> None:
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    ys = ctx.shape(y)
    if len(ys) > 4:
        raise _unsupported(node, "more than 4 dimensions")
    if a in ctx.const and b not in ctx.const and node.op in ("Add", "Mul"):
        a, b = b, a
    operands = []
    for t in (a, b):
        if t in ctx.const:
            arr = ctx.env[t].astype(np.float32)
            t = ctx.add_const(t, arr)
        operands.append(t)
    full = (1,) * (4 - len(ys)) + ys
    sa, sb = _strides(ctx.shape(a), full), _strides(ctx.shape(b), full)
    same = ctx.shape(a) == ys and ctx.shape(b) == ys
    ctx.emit(
        node,
        "binary",
        tuple(operands),
        (y,),
        inplace=ctx.shape(a) == ys and a not in ctx.const,
        op=node.op.lower(),
        shape=full,
        sa=sa,
        sb=sb,
        same=same,
        n=int(np.prod(ys)),
        act=ACT_NONE,
        lo=float("-inf"),
        hi=float("inf"),
    )


def pool(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = ctx.shape(x), ctx.shape(y)
    if node.op.startswith("Global"):
        hw = int(np.prod(xs[2:]))
        ctx.emit(
            node,
            "gpool",
            (x,),
            (y,),
            xs[1] * hw,
            c=xs[1],
            hw=hw,
            is_max=node.op == "GlobalMaxPool",
        )
        return
    nd = len(xs) - 2
    k = [int(v) for v in _attr(node, "kernel_shape", [])]
    strides = [int(v) for v in _attr(node, "strides", [1] * nd)]
    pads = [int(v) for v in _attr(node, "pads", [0] * 2 * nd)]
    if any(int(d) != 1 for d in _attr(node, "dilations", [1] * nd)) or nd not in (1, 2):
        raise _unsupported(node, "dilated or 3-D pooling")
    if nd == 1:
        k, strides, pads = [1, *k], [1, *strides], [0, pads[0], 0, pads[1]]
        xs, ys = (*xs[:2], 1, xs[2]), (*ys[:2], 1, ys[2])
    ctx.emit(
        node,
        "pool2d",
        (x,),
        (y,),
        ys[1] * ys[2] * ys[3] * k[0] * k[1],
        c=xs[1],
        h=xs[2],
        w=xs[3],
        kh=k[0],
        kw=k[1],
        sh=strides[0],
        sw=strides[1],
        pt=pads[0],
        pl=pads[1],
        oh=ys[2],
        ow=ys[3],
        is_max=node.op == "MaxPool",
        include_pad=bool(int(_attr(node, "count_include_pad", 0))),
    )


def softmax(ctx: Ctx, node: Node) -> None:
    xs = ctx.shape(node.inputs[0])
    axis = int(_attr(node, "axis", -1)) % len(xs)
    if axis != len(xs) - 1:
        raise _unsupported(node, "softmax along an axis other than the last")
    ctx.emit(
        node,
        "softmax",
        (node.inputs[0],),
        node.outputs,
        outer=int(np.prod(xs[:-1])),
        n=xs[-1],
        log=node.op == "LogSoftmax",
    )


LowerFn = Callable[[Ctx, Node], None]
_BASE: dict[str, LowerFn] = {
    "Conv": conv,
    "Gemm": gemm,
    "MatMul": gemm,
    "Relu": clip,
    "Clip": clip,
    "Sigmoid": unary,
    "Tanh": unary,
    "Add": binary,
    "Sub": binary,
    "Mul": binary,
    "Div": binary,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": pool,
    "GlobalMaxPool": pool,
    "Softmax": softmax,
    "LogSoftmax": softmax,
}


def _all_ops() -> dict[str, LowerFn]:
    from edgeslim.codegen.nn import _ops_data, _ops_rnn

    return {**_BASE, **_ops_data.LOWER, **_ops_rnn.LOWER}


LOWER: MappingProxyType[str, LowerFn] = MappingProxyType(_all_ops())
