"""int8 lowering of QDQ graphs: the patterns recognized and the integer kernel steps they become.

A QDQ graph (``edgeslim quantize apply --method ptq``, or a TFLite int8 model imported as QDQ)
carries int8 codes between ``QuantizeLinear`` (Q) and ``DequantizeLinear`` (DQ) nodes. The
lowering keeps activations as int8 codes wherever a pattern below matches and falls back to the
float kernels elsewhere, with exact int8 <-> float32 conversions at the edges.

Patterns (``x~`` = DQ of int8 codes with a per-tensor scale ``s_x`` and zero point ``z_x``;
``w~`` = DQ of constant int8 weights, zero point 0, per-tensor or per-output-channel scale;
``b~`` = DQ of a constant int32 bias with zero point 0; every intermediate has one consumer):

* ``Conv(x~, w~[, b~]) [-> Relu] -> Q`` and ``Gemm/MatMul(x~, w~[, b~]) [-> Relu] -> Q``:
  ``qconv`` (conv2d, depthwise, pointwise, 1-D with dilation) and ``qdense``. int32 accumulation
  of ``(x - z_x) * w + b``, then requantization by ``M = s_x * s_w / s_y`` as a Q31 multiplier
  ``M0`` and ``shift``, rounded as the ``rounding`` option says (``"single"``: one round half up,
  as onnxruntime's codes and ``run_integer(rounding="single")``; ``"double"``: TFLite/gemmlowp
  ``MultiplyByQuantizedMultiplier``), ``+ z_y``, saturation; Relu clamps at ``z_y``. With
  ``"single"`` the shift array holds ``rsh = -2 - shift`` (>= 0: the high-word fast path).
  A following ``Q -> DQ -> MaxPool -> Q`` with the same parameters (pool kernel == stride, no
  padding) is fused into the im2col/im2col2 conv (``pkh``/``pkw``): the largest accumulator
  of each window is requantized once (requantization is monotone non-decreasing). A SIMD
  im2col2 conv with ``kdim <= 16`` and no pool (``small``: e.g. a first 3x3 conv of one
  channel) holds one channel's weight words in registers against a batch of columns. A SIMD
  3x3 depthwise conv with stride 1 across (``dwpack``) takes its weights as the words of
  :func:`dw33_pack` (pairs, the bias of the raw codes, the requantization constants).
* ``x~ -> [elementwise unary ops: Relu, Clip, Tanh, Sigmoid, LeakyRelu, ...] -> Q``: a 256-entry
  lookup table computed by the reference interpreter itself (``qlut``; also requantization
  between two scales).
* ``x~ -> view ops (Reshape, Flatten, ...) -> Q`` with the same scale and zero point: an alias.
* ``MaxPool / GlobalMaxPool / Concat / Pad / Transpose / Slice / Gather / Split`` of ``x~`` with
  every output going to a Q of the same scale and zero point: the same kernel on the codes.
* ``GlobalAveragePool(x~) [-> views] -> Q``: ``qgavg``, the reference's float64 mean, exactly
  (``split``: an int32 sum of the codes, the residual table summed only when its bounds leave
  the output code open, the code found among thresholds computed here; see :func:`gavg_split`,
  :func:`gavg_thresholds`).
* ``Add/Sub/Mul(a~, b~) [-> Relu] -> Q`` (same shapes): ``qbinary``, float32 arithmetic as the
  reference does it, then quantization (round half to even): bit-exact by construction.
* ``Q(float)`` and ``DQ(codes)`` elsewhere: ``quantize`` / ``dequantize`` kernels.

Everything else (GRU/LSTM with DQ weights, Softmax, float Conv) runs the float kernels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim.codegen.nn._ops import LOWER, Ctx, _attr, conv_geometry
from edgeslim.codegen.nn._program import Value
from edgeslim.ir.graph import Graph, Node
from edgeslim.ir.interp import OPS
from edgeslim.passes.quantize._integer import quantize_multiplier

ROUNDINGS = ("single", "double")
PW_MAX_K2 = 4095  # es_qconv_pw's column reset is a MOVW of 4 * k2
SMALL_CHUNK = 64  # pixels per column batch of es_qconv_small<k2> (ES_SMALL_CHUNK in the C)
ALGOS = ("direct", "im2col", "im2col2")
UNARY = frozenset(
    {"Relu", "Clip", "Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Neg"}
)
VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
MOVES = frozenset({"Concat", "Pad", "Transpose", "Slice", "Gather", "Split"})
LINEAR = frozenset({"Conv", "Gemm", "MatMul"})
INT8_KERNELS = frozenset(
    {"qconv", "qdense", "qlut", "qbinary", "qgavg", "quantize", "dequantize", "qrnn"}
    | {"dequantize_i16"}
    | {"pool2d_i8", "gpool_i8", "copy_i8"}
)


@dataclass(frozen=True, slots=True)
class QOptions:
    """int8 code generation: requantization rounding, SIMD variant, per-layer algorithm."""

    rounding: str = "single"
    simd: bool = False
    algos: tuple[tuple[str, str], ...] = ()  # (node name, "direct" | "im2col" | "im2col2")

    def algo(self, node: str, default: str) -> str:
        return dict(self.algos).get(node, default)


@dataclass(frozen=True, slots=True)
class _QInfo:
    codes: str  # the value holding the int8 codes
    scale: float
    zp: int
    dq: Node  # the DequantizeLinear node (per-tensor)


@dataclass
class QState:
    """Pending dequantizations and consumed nodes while lowering one QDQ graph."""

    ctx: Ctx
    graph: Graph
    options: QOptions
    activation: Any  # callable(name) -> Value
    pending: dict[str, _QInfo] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    users: dict[str, list[Node]] = field(default_factory=dict)
    producer: dict[str, Node] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    int8_steps: int = 0

    def __post_init__(self) -> None:
        for node in self.graph.nodes:
            for t in node.inputs:
                if t:
                    self.users.setdefault(t, []).append(node)
            for t in node.outputs:
                self.producer[t] = node
        self.outputs = {t.name for t in self.graph.outputs}

    # ---- helpers -------------------------------------------------------------------------
    def _only_user(self, name: str) -> Node | None:
        us = self.users.get(name, [])
        if len(us) != 1 or name in self.outputs:
            return None
        return us[0]

    def _const(self, name: str) -> np.ndarray | None:
        return self.ctx.env[name] if name and name in self.ctx.const else None

    def _qparams(self, node: Node) -> tuple[float, int] | None:
        """Per-tensor int8 (scale, zero point) of a Q or DQ node with constant parameters."""
        s = self._const(node.inputs[1]) if len(node.inputs) > 1 else None
        z = self._const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        if s is None or s.size != 1 or z is None or z.size != 1 or z.dtype != np.int8:
            return None
        return float(s.reshape(())), int(z.reshape(()))

    def _q_after(self, name: str, qp: tuple[float, int] | None = None) -> Node | None:
        """The single consumer of ``name`` if it is an int8 per-tensor Q (with params ``qp``)."""
        q = self._only_user(name)
        if q is None or q.op != "QuantizeLinear":
            return None
        got = self._qparams(q)
        if got is None or (qp is not None and got != qp):
            return None
        return q

    def _codes_value(self, name: str, like: str) -> Value:
        """An int8 value ``name`` with the shape of ``like``."""
        self.ctx.env[name] = np.zeros(self.ctx.env[like].shape, np.int8)
        return self.activation(name)

    def _emit(
        self,
        node: Node,
        kernel: str,
        ins: tuple[str, ...],
        outs: tuple[str, ...],
        macs: int = 0,
        inplace: bool = False,
        **params: Any,
    ) -> None:
        self.ctx.emit(node, kernel, ins, outs, macs, inplace, **params)
        self.int8_steps += 1

    # ---- entry points ---------------------------------------------------------------------
    def materialize(self, names: tuple[str, ...] | list[str]) -> None:
        """Dequantize pending codes that a float kernel (or the caller) reads."""
        for t in names:
            info = self.pending.get(t)
            if info is None or t in self.ctx.values:
                continue
            self.activation(t)
            n = int(self.ctx.env[t].size)
            self._emit(info.dq, "dequantize", (info.codes,), (t,), n=n, s=info.scale, z=info.zp)

    def handle(self, node: Node) -> bool:
        """Lower ``node`` (and the nodes of its pattern) as int8; False: use the float path."""
        op = node.op
        x = node.inputs[0] if node.inputs else ""
        if op == "DequantizeLinear":
            return self._dequantize(node)
        if op == "QuantizeLinear":
            return self._quantize(node)
        if op in ("edgeslim.IntGRU", "edgeslim.IntLSTM"):
            return self._intrnn(node)
        if x not in self.pending:
            return False
        if op in VIEWS:
            return self._view(node)
        if op in LINEAR:
            return self._linear(node)
        if op in UNARY or op == "QuantizeLinear":
            return self._lut(node)
        if op in ("MaxPool", "GlobalMaxPool") or op in MOVES:
            return self._move(node)
        if op == "GlobalAveragePool":
            return self._gavg(node)
        if op in ("Add", "Sub", "Mul"):
            return self._binary(node)
        return False

    # ---- patterns -------------------------------------------------------------------------
    def _dequantize(self, node: Node) -> bool:
        src = node.inputs[0]
        v = self.ctx.values.get(src)
        if v is not None and v.dtype == "int16":  # integer RNN state codes: dequantize now
            return self._dequantize16(node)
        qp = self._qparams(node)
        if qp is None or v is None or v.dtype != "int8":
            return False
        self.pending[node.outputs[0]] = _QInfo(src, qp[0], qp[1], node)
        return True

    def _dequantize16(self, node: Node) -> bool:
        s = self._const(node.inputs[1]) if len(node.inputs) > 1 else None
        z = self._const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
        if s is None or s.size != 1 or (z is not None and z.size != 1):
            return False
        y = node.outputs[0]
        self.activation(y)
        n = int(self.ctx.env[y].size)
        zp = 0 if z is None else int(z.reshape(()))
        self._emit(
            node, "dequantize_i16", (node.inputs[0],), (y,), n=n, s=float(s.reshape(())), z=zp
        )
        return True

    def _intrnn(self, node: Node) -> bool:
        """``edgeslim.IntGRU`` / ``edgeslim.IntLSTM`` (:mod:`edgeslim.ir.interp._intrnn`) as one
        integer kernel call: int8 weights, int16 (or int8) state, table activations."""
        from edgeslim.ir.interp._intrnn import table

        x = node.inputs[0]
        v = self.ctx.values.get(x)
        consts = [self._const(t) for t in node.inputs[1:8]]
        if (
            v is None
            or v.dtype != "int8"
            or any(c is None for c in consts)
            or len(node.inputs) > 8
        ):
            return False
        seq, batch, isz = self.ctx.shape(x)
        lstm = node.op.endswith("LSTM")
        gates = 4 if lstm else 3
        r = consts[1]
        hid = int(r.shape[-1])  # type: ignore[union-attr]
        if batch != 1:
            return False
        outs = [*node.outputs, "", "", ""][:3]
        for o in outs:
            if o:
                self.activation(o)
        if hid > 512:  # int32 accumulation of R h (|h| < 2^15, |r| < 2^7) needs H <= 512
            return False
        ins = [x]
        dtypes = ("int8", "int8", "int32", "int32", "int32", "int32", "int32")
        for k, (name, c, dt) in enumerate(zip(node.inputs[1:8], consts, dtypes, strict=True)):
            arr = np.asarray(c).astype(dt)
            if k < 2:  # W (G*H, I), R (G*H, H): int8 rows, or the SIMD layout
                arr = arr.reshape(gates * hid, -1)
                arr = simd_pack(arr) if self.options.simd else arr
            ins.append(self.ctx.add_const(name, arr.reshape(-1)))
        ins.append(self.ctx.add_const("es_sigmoid_q15", table("sigmoid").astype(np.int16)))
        ins.append(self.ctx.add_const("es_tanh_q15", table("tanh").astype(np.int16)))
        scratch = f"{node.name}__state"
        size = 2 * gates * hid + 2 * hid
        self.ctx.env[scratch] = np.zeros(size, np.int32)
        self.ctx.values[scratch] = Value(scratch, "int32", (size,), scratch)
        cols = self._scratch(node, isz + hid + 4)  # int16 (x - zx) and h for the SIMD dots
        self._emit(
            node,
            "qrnn",
            tuple(ins),
            (*(o for o in outs if o), cols, scratch),
            seq * gates * hid * (isz + hid),
            seq=seq,
            isz=isz,
            hid=hid,
            bits=int(_attr(node, "state_bits", 16)),
            frac=int(_attr(node, "cell_frac", 12)),
            lstm=lstm,
            zx=int(_attr(node, "x_zero_point", 0)),
            y=outs[0],
            yh=outs[1],
            yc=outs[2],
        )
        return True

    def _quantize(self, node: Node) -> bool:
        x, y = node.inputs[0], node.outputs[0]
        qp = self._qparams(node)
        if qp is None:
            return False
        info = self.pending.get(x)
        if info is not None:
            if (info.scale, info.zp) == qp:
                src = self.ctx.values[info.codes]
                self.ctx.values[y] = Value(y, "int8", self.ctx.shape(y), src.buffer, src.offset)
                return True
            return self._lut(node)
        if x not in self.ctx.values or self.ctx.values[x].dtype != "float32":
            return False
        self.activation(y)
        n = int(self.ctx.env[y].size)
        self._emit(node, "quantize", (x,), (y,), inplace=False, n=n, s=qp[0], z=qp[1])
        return True

    def _view(self, node: Node) -> bool:
        info = self.pending[node.inputs[0]]
        out = node.outputs[0]
        src = self.ctx.values[info.codes]
        name = f"{out}__q"
        self.ctx.env[name] = np.zeros(self.ctx.env[out].shape, np.int8)
        self.ctx.values[name] = Value(name, "int8", self.ctx.shape(out), src.buffer, src.offset)
        self.pending[out] = _QInfo(name, info.scale, info.zp, info.dq)
        return True

    def _lut(self, node: Node) -> bool:
        """``x~ -> unary* -> Q`` as a 256-entry table computed by the interpreter."""
        info = self.pending[node.inputs[0]]
        chain: list[Node] = []
        cur = node
        while cur.op != "QuantizeLinear":
            if cur.op not in UNARY or any(t and t not in self.ctx.const for t in cur.inputs[1:]):
                return False
            chain.append(cur)
            nxt = self._only_user(cur.outputs[0])
            if nxt is None:
                return False
            cur = nxt
        qp = self._qparams(cur)
        if qp is None:
            return False
        opset = self.graph.opset
        codes = np.arange(-128, 128, dtype=np.int8)
        dq = info.dq
        v = OPS.get("DequantizeLinear")(
            dq, [codes, *(self.ctx.env[t] for t in dq.inputs[1:])], opset
        )[0]
        for n in chain:
            v = OPS.get(n.op)(
                n, [v, *(self.ctx.env[t] if t else None for t in n.inputs[1:])], opset
            )[0]
        table = OPS.get("QuantizeLinear")(
            cur, [v, *(self.ctx.env[t] for t in cur.inputs[1:])], opset
        )[0]
        table = np.asarray(table, np.int8).reshape(256)
        y = cur.outputs[0]
        self.activation(y)
        lut = self.ctx.add_const(f"{node.name}_lut", table)
        size = int(self.ctx.env[y].size)
        self._emit(node, "qlut", (info.codes, lut), (y,), inplace=True, n=size)
        self.done.update(c.name for c in [*chain, cur])
        return True

    def _move(self, node: Node) -> bool:
        """Max pooling and data movement on the codes when every output is re-quantized
        with the same parameters (the values pass through unchanged)."""
        data = list(node.inputs) if node.op == "Concat" else node.inputs[:1]
        infos = [self.pending.get(t) for t in data]
        if any(i is None for i in infos):
            return False
        qp = (infos[0].scale, infos[0].zp)  # type: ignore[union-attr]
        if any((i.scale, i.zp) != qp for i in infos):  # type: ignore[union-attr]
            return False
        qs = [self._q_after(o, qp) for o in node.outputs if o]
        if any(q is None for q in qs) or not qs:
            return False
        rest = node.inputs[len(data) :]
        renamed = dataclasses.replace(
            node,
            inputs=(*(i.codes for i in infos), *rest),  # type: ignore[union-attr]
            outputs=tuple(q.outputs[0] for q in qs),  # type: ignore[union-attr]
        )
        for q in qs:
            self.activation(q.outputs[0])  # type: ignore[union-attr]
        before = len(self.ctx.steps)
        LOWER[node.op](self.ctx, renamed)
        for i in range(before, len(self.ctx.steps)):
            st = self.ctx.steps[i]
            params = dict(st.params)
            if params.get("fill") is not None:
                code = np.rint(np.float32(params["fill"]) / np.float32(qp[0])) + qp[1]
                params["fill"] = int(np.clip(code, -128, 127))
            self.ctx.steps[i] = dataclasses.replace(
                st, kernel=f"{st.kernel}_i8", params=MappingProxyType(params)
            )
            self.int8_steps += 1
        self.done.update(q.name for q in qs)  # type: ignore[union-attr]
        return True

    def _gavg(self, node: Node) -> bool:
        info = self.pending[node.inputs[0]]
        cur = self._only_user(node.outputs[0])
        views = []
        while cur is not None and cur.op in VIEWS:
            views.append(cur)
            cur = self._only_user(cur.outputs[0])
        if cur is None or cur.op != "QuantizeLinear" or (qp := self._qparams(cur)) is None:
            return False
        xs = self.ctx.shape(node.inputs[0])
        y = cur.outputs[0]
        self.activation(y)
        hw = int(np.prod(xs[2:]))
        terms, exp2 = gavg_terms(info.scale, info.zp)
        ins: tuple[str, ...] = (info.codes,)
        split = gavg_split(terms, hw)
        rlo = rhi = 0
        if split is None:
            ins += (self.ctx.add_const(f"{node.name}_terms", terms),)
        else:  # terms = a * q + b + r[q]: int32 sums of the codes (and of r when not constant)
            (a, b), r = split
            rlo, rhi = int(r.min()), int(r.max())
            if rlo == rhi:  # terms linear in the code: no rest table
                b, rlo, rhi = b + rlo, 0, 0
            else:
                ins += (self.ctx.add_const(f"{node.name}_rest", r),)
            thr = gavg_thresholds(terms, hw, exp2, qp[0], qp[1])
            est = gavg_estimate(a, b + rlo, hw, exp2, qp[0], qp[1])
            ins += (
                self.ctx.add_const(f"{node.name}_slope", np.array((a, b, *est), np.int64)),
                self.ctx.add_const(f"{node.name}_thr", thr),
            )
        self._emit(
            node,
            "qgavg",
            ins,
            (y,),
            xs[1] * hw,
            c=xs[1],
            hw=hw,
            exp2=exp2,
            sy=qp[0],
            zy=qp[1],
            split=split is not None,
            rest=split is not None and rlo != rhi,
            rlo=rlo,
            rhi=rhi,
        )
        self.done.update(n.name for n in [*views, cur])
        return True

    def _binary(self, node: Node) -> bool:
        a, b = (self.pending.get(t) for t in node.inputs[:2])
        y0 = node.outputs[0]
        shape = self.ctx.shape(y0)
        if a is None or b is None or any(self.ctx.shape(t) != shape for t in node.inputs[:2]):
            return False
        cur = self._only_user(y0)
        relu = False
        chain = []
        if cur is not None and cur.op == "Relu":
            relu, chain = True, [cur]
            cur = self._only_user(cur.outputs[0])
        if cur is None or cur.op != "QuantizeLinear" or (qp := self._qparams(cur)) is None:
            return False
        y = cur.outputs[0]
        self.activation(y)
        self._emit(
            node,
            "qbinary",
            (a.codes, b.codes),
            (y,),
            n=int(np.prod(shape)),
            op={"Add": 0, "Sub": 1, "Mul": 2}[node.op],
            sa=a.scale,
            za=a.zp,
            sb=b.scale,
            zb=b.zp,
            sy=qp[0],
            zy=qp[1],
            relu=relu,
        )
        self.done.update(n.name for n in [*chain, cur])
        return True

    # ---- Conv / Gemm / MatMul ------------------------------------------------------------
    def _const_dq(self, name: str, dtype: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(codes, scale) of a DQ of a constant with zero point 0."""
        dq = self.producer.get(name)
        if dq is None or dq.op != "DequantizeLinear":
            return None
        q, s = self._const(dq.inputs[0]), self._const(dq.inputs[1])
        z = self._const(dq.inputs[2]) if len(dq.inputs) > 2 and dq.inputs[2] else None
        if q is None or s is None or q.dtype != np.dtype(dtype):
            return None
        if z is not None and np.any(z != 0):
            return None
        return q, np.asarray(s, np.float64).reshape(-1)

    def _linear(self, node: Node) -> bool:
        info = self.pending[node.inputs[0]]
        wq = self._const_dq(node.inputs[1], "int8")
        if wq is None:
            return False
        bias = None
        if len(node.inputs) > 2 and node.inputs[2]:
            bq = self._const_dq(node.inputs[2], "int32")
            if bq is None:
                return False
            bias = bq[0].astype(np.int64).reshape(-1)
        cur = self._only_user(node.outputs[0])
        chain = []
        relu = False
        if cur is not None and cur.op == "Relu":
            relu, chain = True, [cur]
            cur = self._only_user(cur.outputs[0])
        if cur is None or cur.op != "QuantizeLinear" or (qp := self._qparams(cur)) is None:
            return False
        w, ws = wq
        if node.op == "Conv":
            return self._conv(node, info, w, ws, bias, relu, chain, cur, qp)
        return self._dense(node, info, w, ws, bias, relu, chain, cur, qp)

    def _requant(
        self, sx: float, ws: np.ndarray, sy: float, n: int
    ) -> tuple[np.ndarray, ...] | None:
        m = float(np.float64(np.float32(sx))) * np.broadcast_to(ws, (n,)) / sy
        m0, shift = quantize_multiplier(m)
        right = 31 - shift
        if np.any((right < 1) | (right > 62)):
            return None
        if self.options.rounding == "single":  # the C takes rsh = -2 - shift (>= 0: fast)
            shift = -2 - shift
        return m0.astype(np.int32), shift.astype(np.int32)

    def _finish(self, node: Node, chain: list[Node], q: Node) -> None:
        self.done.update(n.name for n in [*chain, q])

    def _conv(
        self,
        node: Node,
        info: _QInfo,
        w: np.ndarray,
        ws: np.ndarray,
        bias: np.ndarray | None,
        relu: bool,
        chain: list[Node],
        q: Node,
        qp: tuple[float, int],
    ) -> bool:
        x = info.codes
        g = conv_geometry(self.ctx, node, x, q.outputs[0], w.shape[2:])
        if g is None:
            return False
        cin, cout, groups = g["cin"], g["cout"], g["groups"]
        rq = self._requant(info.scale, ws, qp[0], cout)
        if rq is None:
            return False
        kdim = (cin // groups) * g["kh"] * g["kw"]
        depthwise = groups == cin == cout
        algo = self.options.algo(node.name, "im2col")
        if groups != 1 and not depthwise:
            algo = "direct"
        if algo == "im2col2" and depthwise:  # im2col2 is for dense convolutions only
            algo = "im2col"
        w2: np.ndarray = w.reshape(cout, kdim).astype(np.int8)
        if algo in ("im2col", "im2col2") and self.options.simd and not depthwise:
            w2 = simd_pack(w2)
        b = bias if bias is not None else np.zeros(cout, np.int64)
        lo = max(qp[1], -128) if relu else -128
        # es_qdw33_pairs (3x3 depthwise, stride 1 across, SIMD): weight pairs, bias, shifts
        pairs = algo == "im2col" and depthwise and self.options.simd
        pairs = pairs and (g["kh"], g["kw"], g["sw"], g["dh"], g["dw"]) == (3, 3, 1, 1, 1)
        qk = 0
        if pairs:
            single = self.options.rounding == "single" and lo <= -128
            w2, qk = dw33_pack(w2, b, rq[1], info.zp, qp[1], single)
        pool = self._pool_after(q, qp, g) if algo in ("im2col", "im2col2") else None
        pk = pool[0] * pool[1] if pool else 1
        # a short dot (kdim <= 16, e.g. a first 3x3 conv of one channel): weights of one
        # channel held in registers against all the columns (es_qconv_small<k2>)
        small = (kdim + 1) // 2
        small = small if algo == "im2col2" and self.options.simd and not pool else 0
        small = small if small <= 8 and not depthwise and groups == 1 else 0
        y = pool[2].outputs[0] if pool else q.outputs[0]
        self.activation(y)
        pwk = rqk = None
        fast = self.options.simd and self.options.rounding == "single" and groups == 1
        if fast and algo == "im2col" and not pool:
            pwk = pw_params(g, w.reshape(cout, kdim), b, rq, info.zp, qp[1], lo)
        if fast and algo == "im2col2" and not small and not depthwise:
            rqk = rq_words(kdim, b, rq, qp[1], lo)
            rqk = (f"{rqk[0]}_p", rqk[1]) if rqk is not None and pool else rqk
        consts: tuple[str, ...]
        words = rqk or pwk  # es_qconv_rq / es_qconv_pw: dot and requantization in one asm loop
        if words is not None:  # (pw: raw codes in the column, zx folded into the bias)
            consts = (
                self.ctx.add_const(node.inputs[1], w2),
                self.ctx.add_const(f"{node.name}_qp", words[1]),
            )
        else:
            consts = (
                self.ctx.add_const(node.inputs[1], w2),
                self.ctx.add_const(f"{node.name}_bias", pad4(b)),
                self.ctx.add_const(f"{node.name}_m0", rq[0]),
                self.ctx.add_const(f"{node.name}_shift", rq[1]),
            )
        # the zero-padded input window one channel spans
        ph = (g["oh"] - 1) * g["sh"] + (g["kh"] - 1) * g["dh"] + 1
        pw = (g["ow"] - 1) * g["sw"] + (g["kw"] - 1) * g["dw"] + 1
        outs: tuple[str, ...] = (y,)
        if algo == "im2col" and depthwise:  # a zero-padded int16 copy of one channel
            n16 = ph * pw + 2
            if pairs:  # or its pair plane and a padded int8 row (es_qdw33_pairs)
                nb = -(-g["ow"] // 4)
                n16 = max(n16, 8 * ph * nb + 2 * nb + 2)
            outs += (self._scratch(node, n16),)
        elif pwk is not None:  # the columns of four pixels
            outs += (self._scratch(node, 4 * ((kdim + 1) // 2 * 2)),)
        elif algo == "im2col":  # one column per pixel of the pool window
            outs += (self._scratch(node, pk * ((kdim + 1) // 2 * 2)),)
        elif algo == "im2col2" and small:  # the columns of 64 pixels, then the padded copy
            outs += (self._scratch(node, SMALL_CHUNK * small * 2 + cin * ph * pw),)
        elif algo == "im2col2":  # the columns, then a zero-padded int16 copy of (x - zx)
            outs += (self._scratch(node, pk * ((kdim + 1) // 2 * 2) + cin * ph * pw),)
        macs = cout * g["oh"] * g["ow"] * kdim
        fused: dict[str, Any] = {"pkh": 1, "pkw": 1, "poh": 0, "pow": 0}
        if pool:
            ys = self.ctx.shape(y)
            fused = {"pkh": pool[0], "pkw": pool[1], "poh": ys[2], "pow": ys[3]}
            macs += int(np.prod(ys)) * pk  # the comparisons the MaxPool step would count
        self._emit(
            node,
            "qconv",
            (x, *consts),
            outs,
            macs,
            **g,
            zx=info.zp,
            zy=qp[1],
            lo=lo,
            hi=127,
            kdim=kdim,
            algo=algo,
            depthwise=depthwise,
            small=small,
            pw=pwk[0] if pwk is not None else "",
            rq=rqk[0] if rqk is not None else "",
            dwpack=pairs,
            qk=qk,
            **fused,
        )
        self._finish(node, chain, q)
        if pool:
            self.done.update(n.name for n in pool[3])
        return True

    def _pool_after(
        self, q: Node, qp: tuple[float, int], g: dict[str, Any]
    ) -> tuple[int, int, Node, tuple[Node, ...]] | None:
        """``Q -> DQ -> MaxPool -> Q`` after a conv's Q, all with the conv's output parameters,
        the pool's kernel equal to its stride, no padding, no dilation, floor mode: the conv
        kernel can take the largest accumulator of each window and requantize it once
        (requantization is monotone non-decreasing: the multiplier is positive). Returns
        (kh, kw, the last Q, the nodes it replaces)."""
        dq = self._only_user(q.outputs[0])
        if dq is None or dq.op != "DequantizeLinear" or self._qparams(dq) != qp:
            return None
        mp = self._only_user(dq.outputs[0])
        if mp is None or mp.op != "MaxPool":
            return None
        if len([o for o in mp.outputs if o]) != 1 or len(self.ctx.shape(mp.inputs[0])) != 4:
            return None
        k = [int(v) for v in _attr(mp, "kernel_shape", [])]
        strides = [int(v) for v in _attr(mp, "strides", [1, 1])]
        pads = [int(v) for v in _attr(mp, "pads", [0, 0, 0, 0])]
        dil = [int(v) for v in _attr(mp, "dilations", [1, 1])]
        if len(k) != 2 or strides != k or any(pads) or dil != [1, 1]:
            return None
        if str(_attr(mp, "auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
            return None
        if int(_attr(mp, "storage_order", 0)) or int(_attr(mp, "ceil_mode", 0)):
            return None
        q2 = self._q_after(mp.outputs[0], qp)
        if q2 is None:
            return None
        ys = self.ctx.shape(q2.outputs[0])
        if ys[2:] != (g["oh"] // k[0], g["ow"] // k[1]) or min(ys[2:]) < 1:
            return None
        return k[0], k[1], q2, (dq, mp, q2)

    def _scratch(self, node: Node, n: int) -> str:
        name = f"{node.name}__col"
        self.ctx.env[name] = np.zeros(max(n, 2), np.int16)
        self.ctx.values[name] = Value(name, "int16", (max(n, 2),), name)
        return name

    def _dense(
        self,
        node: Node,
        info: _QInfo,
        w: np.ndarray,
        ws: np.ndarray,
        bias: np.ndarray | None,
        relu: bool,
        chain: list[Node],
        q: Node,
        qp: tuple[float, int],
    ) -> bool:
        x = info.codes
        xs = self.ctx.shape(x)
        if len(xs) != 2 or w.ndim != 2:
            return False
        if node.op == "Gemm":
            if int(_attr(node, "transA", 0)) or float(_attr(node, "alpha", 1.0)) != 1.0:
                return False
            if float(_attr(node, "beta", 1.0)) != 1.0:
                return False
            wt = w if int(_attr(node, "transB", 0)) else w.T
        else:
            wt = w.T
            if ws.size > 1:  # MatMul per-column scales: axis 1 of [K, N]
                dq = self.producer[node.inputs[1]]
                if int(_attr(dq, "axis", 1)) % 2 != 1:
                    return False
        n, kdim = wt.shape
        if bias is not None and bias.size not in (1, n):
            return False
        rq = self._requant(info.scale, ws, qp[0], n)
        if rq is None:
            return False
        algo = self.options.algo(node.name, "im2col")
        algo = "im2col" if algo == "im2col2" else algo  # the dense column needs no padding
        w2: np.ndarray = np.ascontiguousarray(wt).astype(np.int8)
        if algo == "im2col" and self.options.simd:
            w2 = simd_pack(w2)
        y = q.outputs[0]
        self.activation(y)
        b = np.broadcast_to(bias, (n,)) if bias is not None else np.zeros(n, np.int64)
        consts = (
            self.ctx.add_const(node.inputs[1], w2),
            self.ctx.add_const(f"{node.name}_bias", pad4(b)),
            self.ctx.add_const(f"{node.name}_m0", rq[0]),
            self.ctx.add_const(f"{node.name}_shift", rq[1]),
        )
        outs: tuple[str, ...] = (y,)
        if algo == "im2col":
            outs += (self._scratch(node, kdim + 1),)
        self._emit(
            node,
            "qdense",
            (x, *consts),
            outs,
            xs[0] * n * kdim,
            m=xs[0],
            n=n,
            k=kdim,
            zx=info.zp,
            zy=qp[1],
            lo=max(qp[1], -128) if relu else -128,
            hi=127,
            algo=algo,
        )
        self._finish(node, chain, q)
        return True


def pw_params(
    g: dict[str, Any],
    w: np.ndarray,
    bias: np.ndarray,
    rq: tuple[np.ndarray, ...],
    zx: int,
    zy: int,
    lo: int,
) -> tuple[str, np.ndarray] | None:
    """The SIMD pointwise kernel ``es_qconv_pw<key>`` of a 1x1 conv without padding, single
    rounding: (``key``, the words it reads; see :func:`rq_words`), or None where the layer
    does not fit it. The column holds the raw codes: ``zx`` is folded into the biases,
    ``b - zx * sum(w)``."""
    kdim = w.shape[1]
    if (g["kh"], g["kw"], g["pt"], g["pl"]) != (1, 1, 0, 0) or kdim > 2 * PW_MAX_K2:
        return None
    if (g["oh"] - 1) * g["sh"] >= g["h"] or (g["ow"] - 1) * g["sw"] >= g["w"]:
        return None  # an output in the bottom/right padding
    bf = np.asarray(bias, np.int64) - zx * w.astype(np.int64).sum(axis=1)
    return rq_words(kdim, bf, rq, zy, lo)


def rq_words(
    kdim: int, bias: np.ndarray, rq: tuple[np.ndarray, ...], zy: int, lo: int
) -> tuple[str, np.ndarray] | None:
    """The per-channel words of the SIMD kernels that requantize in their asm loop
    (es_qconv_pw, es_qconv_rq), single rounding: (``key``, words), or None where a channel
    does not take es_store4's fast path. The zero point is folded into SMMLA's addend:
    ``((hi32(acc * m0) >> rsh) + z2) >> 1 == (hi32(acc * m0) + Zc) >> (rsh + 1)`` with
    ``Zc = z2 << rsh`` (floor shifts; ``|Zc| < 2^30`` keeps the sum in int32). Words per block
    of four channels: the four biases, then per channel ``m0, Zc`` and ``rsh + 1`` (left out
    when every channel has the same shift: ``_s<n>`` in ``key``, an SSAT shift immediate).
    ``key``: int16 pairs per column, ``_c`` for a Relu clamp above -128, ``_s<n>`` (and
    ``_p`` added for es_qconv_rq fused with a max pool)."""
    cout = len(bias)
    m0, rsh = (np.asarray(a, np.int64) for a in rq[:2])
    if np.any(rsh < 0) or np.any(rsh > 28) or np.any(m0 <= 0):
        return None
    z2 = 2 * zy + 1
    zc = z2 * (np.int64(1) << rsh)
    bf = np.asarray(bias, np.int64)
    if np.any(np.abs(zc) >= 2**30) or np.any(np.abs(bf) >= 2**31):
        return None
    same = bool(np.all(rsh == rsh[0]))
    per = 2 if same else 3
    n4 = -(-cout // 4) * 4
    head = np.zeros((n4 // 4, 4), np.int64)
    head.reshape(-1)[:cout] = bf
    rest = np.zeros((n4, per), np.int64)
    rest[:cout, 0], rest[:cout, 1] = m0, zc
    if not same:
        rest[:cout, 2] = rsh + 1
    words = np.concatenate([head, rest.reshape(n4 // 4, 4 * per)], axis=1).reshape(-1)
    name = f"{(kdim + 1) // 2}{'_c' if lo > -128 else ''}{f'_s{int(rsh[0]) + 1}' if same else ''}"
    return name, words.astype(np.int32)


def pad4(bias: np.ndarray) -> np.ndarray:
    """int32 biases padded with zeros to a multiple of 4: the kernels read them four at a time
    (the start values of es_dot4's accumulators)."""
    b = np.asarray(bias).astype(np.int32).reshape(-1)
    return np.concatenate([b, np.zeros(-len(b) % 4, np.int32)])


def simd_pack(w: np.ndarray) -> np.ndarray:
    """int8 weight rows ``(n, k)`` as the SIMD layout: int16 values paired into 32-bit words
    (little-endian: ``w[2j]`` low half, ``w[2j + 1]`` high), interleaved four rows at a time,
    ``[ceil(n / 4)][ceil(k / 2)][4]``; rows and the last pair are padded with zeros. One word
    feeds one SMLAD against a pair of the int16 column."""
    n, k = w.shape
    n4, k2 = -(-n // 4) * 4, (k + 1) // 2
    wp = np.zeros((n4, 2 * k2), np.int64)
    wp[:n, :k] = w
    pairs = (wp.reshape(n4, k2, 2) & 0xFFFF).astype(np.uint32)
    words = pairs[..., 0] | (pairs[..., 1] << 16)
    words = words.reshape(n4 // 4, 4, k2).transpose(0, 2, 1)
    return np.ascontiguousarray(words).reshape(-1).view(np.int32)


def gavg_terms(scale: float, zp: int) -> tuple[np.ndarray, float]:
    """The reference's average pool sums ``float32((q - zp) * scale)`` in float64. Each term is
    an integer multiple of ``2^e`` (``e`` from the smallest term's last mantissa bit), so the
    sum is exact in int64: returns the 256 terms as int64 multiples (index ``q + 128``) and
    ``2^e``; the mean is ``(double)sum * 2^e / count``, the same double as the reference."""
    q = np.arange(-128, 128, dtype=np.int64)
    v = (q - zp).astype(np.float32) * np.float32(scale)
    nz = v[v != 0]
    if nz.size == 0:
        return np.zeros(256, np.int64), 1.0
    e = int(min(np.frexp(nz.astype(np.float64))[1])) - 24
    terms = np.ldexp(v.astype(np.float64), -e)
    assert np.all(terms == np.rint(terms)) and np.abs(terms).max() < 2**40
    return terms.astype(np.int64), float(np.ldexp(1.0, e))


def gavg_split(terms: np.ndarray, hw: int) -> tuple[tuple[int, int], np.ndarray] | None:
    """``terms[q + 128] = a * q + b + r[q + 128]`` (``a`` the mean slope) with int32 ``r`` small
    enough that ``hw`` codes sum ``q`` and ``r`` in int32 (the exact int64 sum is then
    ``a * sum(q) + b * hw + sum(r)``); None when ``r`` is too large."""
    q = np.arange(-128, 128, dtype=np.int64)
    a = int(np.rint((terms[-1] - terms[0]) / 255.0))
    b = int(np.rint(np.mean(terms - a * q)))
    r = terms - a * q - b
    if int(np.abs(r).max()) * max(hw, 1) >= 2**31 or 128 * max(hw, 1) >= 2**31:
        return None
    return (a, b), r.astype(np.int32)


def dw33_pack(
    w: np.ndarray, bias: np.ndarray, shift: np.ndarray, zx: int, zy: int, single: bool
) -> tuple[np.ndarray, int]:
    """The per-channel words of ``es_qdw33_pairs`` (8 int32 a channel) and its constant shift
    ``k``: int16 pairs (w0, w2), (w3, w5), (w6, w8), (w1, w4), (w7, 0), the bias of the raw
    codes ``b - zx * sum(w)``, ``s1`` and ``zs``. With ``single`` (single rounding, no clamp
    above -128) and ``0 <= shift <= 20`` the code is ``SSAT8(SMMLA(acc, m0, zs) >> s1)``: the
    weights and bias times ``2^j`` (``j = k - 1 - shift`` when they fit int16 and the largest
    accumulator int32, else 0), ``s1 = shift + 1 + j``, ``zs = (2 zy + 1) << (s1 - 1)``: the
    same integer as ``((hi(acc * m0) >> shift) + 2 zy + 1) >> 1``. Otherwise ``s1 = 0``."""
    cout = w.shape[0]
    wi = w.reshape(cout, 9).astype(np.int64)
    b_in = np.asarray(bias, np.int64)[:cout] - zx * wi.sum(1)
    k = int(np.clip(int(shift.max(initial=0)) + 1, 1, 22))
    out = np.zeros((cout, 8), np.int64)
    for c in range(cout):
        sc, j, s1, zs = int(shift[c]), 0, 0, 0
        if single and 0 <= sc <= 20:
            jj = k - 1 - sc
            bound = abs(int(b_in[c])) + 128 * int(np.abs(wi[c]).sum())
            if 0 <= jj <= 8 and bound << jj < 2**31:
                j = jj
            s1 = sc + 1 + j
            zs = (2 * zy + 1) << (s1 - 1)
        ws = wi[c] << j
        pair = [(ws[a] & 0xFFFF) | ((ws[b] & 0xFFFF) << 16) for a, b in ((0, 2), (3, 5), (6, 8))]
        pair += [(ws[1] & 0xFFFF) | ((ws[4] & 0xFFFF) << 16), ws[7] & 0xFFFF]
        out[c] = [*pair, int(b_in[c]) << j, s1, zs]
    return (out & 0xFFFFFFFF).astype(np.uint32).view(np.int32).reshape(-1), k


def gavg_code(acc: np.ndarray, hw: int, exp2: float, sy: float, zy: int) -> np.ndarray:
    """The output codes of the average of ``hw`` terms summing to ``acc`` (int64), as the C
    computes them: ``(float)((double)acc * exp2 / hw)``, divided by ``sy`` in float32, rounded
    half to even, ``+ zy``, saturated."""
    m = (np.asarray(acc, np.int64).astype(np.float64) * np.float64(exp2)) / np.float64(hw)
    q = m.astype(np.float32) / np.float32(sy)
    return np.clip(np.rint(q).astype(np.float64) + zy, -128, 127).astype(np.int64)


def gavg_estimate(a: int, b: int, hw: int, exp2: float, sy: float, zy: int) -> tuple[int, int]:
    """``(ka, kb)``: ``(sq * ka + kb) >> 32`` estimates the index of :func:`gavg_thresholds` of
    the sum ``a * sq + b * hw`` (the code + 128, rounded to nearest); (0, 128 << 32) when the
    slope is too steep for int64 (the kernel walks the thresholds from any start)."""
    ka = a * exp2 / (float(sy) * hw)  # codes per unit of sq
    kb = b * exp2 / float(sy) + zy + 128.5
    if abs(ka) >= 2.0**24 or abs(kb) >= 2.0**24:
        return 0, 128 << 32
    return round(ka * 2.0**32), round(kb * 2.0**32)


def gavg_thresholds(terms: np.ndarray, hw: int, exp2: float, sy: float, zy: int) -> np.ndarray:
    """``t[i]`` (i = 1..255): the least sum of ``hw`` terms whose code (:func:`gavg_code`,
    monotone in the sum) is at least ``i - 128``; ``t[0]`` the int64 minimum. The code of a sum
    ``acc`` is then ``max{i : t[i] <= acc} - 128``, found by a binary search in integers."""
    lo0, hi0 = hw * int(terms.min()), hw * int(terms.max()) + 1
    k = np.arange(-127, 128, dtype=np.int64)
    lo, hi = np.full(255, lo0, np.int64), np.full(255, hi0, np.int64)
    while np.any(lo < hi):  # the least acc in [lo0, hi0] with code >= k (hi0: none)
        mid = lo + (hi - lo) // 2
        ok = gavg_code(mid, hw, exp2, sy, zy) >= k
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid + 1)
    return np.concatenate([[np.iinfo(np.int64).min], lo]).astype(np.int64)


def is_qdq(graph: Graph) -> bool:
    """Whether ``graph`` has QuantizeLinear nodes on activations (an int8 candidate)."""
    return any(n.op == "QuantizeLinear" for n in graph.nodes)
