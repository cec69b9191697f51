"""Program -> C sources: builds the typed template context and renders ``templates/nn/``.

Pointers into the arena are ``(T *)(es_a + byte offset)`` from the plan, pointers into the
caller's input or output (``Program.external``) ``(T *)(es_in + byte offset)`` /
``(T *)(es_out + ...)``; constants are ``static const`` arrays named after their ONNX tensor
(sanitized, unique).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim.codegen._c import CWriter, RenderedFile, c_float, c_literal, sanitize_identifier
from edgeslim.codegen.nn._program import CTYPES, Program, Step

ROW = 8
_BINOPS = {"add": 0, "sub": 1, "mul": 2, "div": 3}
ARENA_ALIGN = 4  # the arena base needs element alignment; offsets are multiples of 16


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Name prefix of the C API (``<prefix>_run``) and the target named in the banner."""

    prefix: str = "model"
    target: str = "host"


class _Names:
    def __init__(self) -> None:
        self._used: set[str] = set()

    def make(self, raw: str, prefix: str) -> str:
        base = sanitize_identifier(f"{prefix}_{raw}")[:48]
        name, i = base, 1
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name


def _rows(values: np.ndarray, ctype: str) -> list[list[str]]:
    flat = values.reshape(-1)
    lits = [c_literal(float(v) if ctype == "float" else int(v), ctype) for v in flat]
    return [lits[i : i + ROW] for i in range(0, len(lits), ROW)]


def _arr(vals: Any, n: int = 0) -> str:
    items = [str(int(v)) for v in vals] + ["0"] * max(0, n - len(vals))
    return "{" + ", ".join(items) + "}"


class _Builder:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.names = _Names()
        self.records: list[dict[str, str]] = []
        self.cnames = {c: self.names.make(c, "w") for c in program.constants}
        self.bases: set[str] = set()  # es_a / es_in / es_out: the byte pointers in use

    def ptr(self, name: str) -> str:
        if not name:
            return "NULL"
        if name in self.cnames:
            return self.cnames[name]
        v = self.program.value(name)
        off = v.offset * np.dtype(v.dtype).itemsize
        ext = self.program.external.get(v.buffer)
        if ext is None:
            base, off = "es_a", off + self.program.plan.offsets[v.buffer]
        else:
            base = "es_in" if ext == "input" else "es_out"
        self.bases.add(base)
        return f"(({v.ctype} *)(void *)({base} + {off}))"

    def record(self, ctype: str, step: Step, fields: list[str], tag: str = "") -> str:
        cname = self.names.make(f"{step.node}{tag}", "p")
        self.records.append(
            {"ctype": ctype, "cname": cname, "init": "{" + ", ".join(fields) + "}"}
        )
        return cname

    def step(self, i: int, step: Step) -> dict[str, Any]:
        p = dict(step.params)
        s: dict[str, Any] = {
            "index": i,
            "op": step.op,
            "kernel": step.kernel,
            "p": p,
            "node": step.node.replace("*/", "* /"),
        }
        ins = [self.ptr(t) for t in step.inputs]
        s["y"] = self.ptr(step.outputs[0])
        s["x"] = ins[0]
        getattr(self, f"_{step.kernel}", self._plain)(s, step, ins)
        return s

    def _plain(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        pass

    def _conv2d(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        s["w"], s["b"] = ins[1], ins[2] if p["has_bias"] else "NULL"
        s["xp"] = self.ptr(step.outputs[1]) if len(step.outputs) > 1 else "NULL"  # pad plane
        keys = (
            "cin",
            "h",
            "w",
            "cout",
            "kh",
            "kw",
            "sh",
            "sw",
            "dh",
            "dw",
            "pt",
            "pl",
            "oh",
            "ow",
            "groups",
        )
        fields = [str(p[k]) for k in keys] + [c_float(p["lo"]), c_float(p["hi"])]
        s["pname"] = self.record("es_conv_t", step, fields)

    def _dense(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        s["w"], s["b"] = ins[1], ins[2] if step.params["has_bias"] else "NULL"

    def _binary(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        s["a"], s["b"] = ins[0], ins[1]
        fields = [
            str(_BINOPS[p["op"]]),
            _arr(p["shape"]),
            _arr(p["sa"]),
            _arr(p["sb"]),
            c_float(p["lo"]),
            c_float(p["hi"]),
        ]
        s["pname"] = self.record("es_bcast_t", step, fields)

    def _pool2d(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        keys = ("c", "h", "w", "kh", "kw", "sh", "sw", "pt", "pl", "oh", "ow")
        fields = [str(p[k]) for k in keys] + [str(int(p["is_max"])), str(int(p["include_pad"]))]
        s["pname"] = self.record("es_pool_t", step, fields)

    def _copy(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        s["srcs"] = ins
        s["outs"] = [self.ptr(o) for o in step.outputs]
        segs = []
        for k, (src, out, soff, doff, shape, ss, ds) in enumerate(step.params["segments"]):
            fields = [
                str(len(shape)),
                str(soff),
                str(doff),
                _arr(shape, 6),
                _arr(ss, 6),
                _arr(ds, 6),
            ]
            segs.append(
                {"src": src, "out": out, "pname": self.record("es_copy_t", step, fields, f"_s{k}")}
            )
        s["segs"] = segs

    def _qconv(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        if p.get("pw") or p.get("rq"):  # weights and the per-channel words (rq_words)
            s["w"], s["b"], s["m0"], s["sh"] = ins[1], ins[2], "NULL", "NULL"
        else:
            s["w"], s["b"], s["m0"], s["sh"] = ins[1:5]
        s["col"] = self.ptr(step.outputs[1]) if len(step.outputs) > 1 else "NULL"
        keys: tuple[str, ...] = ("cin", "h", "w", "cout", "kh", "kw", "sh", "sw", "dh", "dw")
        keys += ("pt", "pl", "oh", "ow", "groups", "kdim", "zx", "zy", "lo", "hi")
        fields = [str(int(p[k])) for k in keys]
        fields += [
            str(int(p.get(k, d))) for k, d in (("pkh", 1), ("pkw", 1), ("poh", 0), ("pow", 0))
        ]
        s["pname"] = self.record("es_qconv_t", step, fields)

    def _qdense(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        s["w"], s["b"], s["m0"], s["sh"] = ins[1:5]
        s["col"] = self.ptr(step.outputs[1]) if len(step.outputs) > 1 else "NULL"
        keys = ("m", "n", "k", "zx", "zy", "lo", "hi")
        s["pname"] = self.record("es_qdense_t", step, [str(int(p[k])) for k in keys])

    def _qlut(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        s["lut"] = ins[1]

    def _qrnn(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        s["rw"] = ins[1:10]
        s["ry"], s["ryh"], s["ryc"] = (self.ptr(p[k]) for k in ("y", "yh", "yc"))
        s["scratch"] = self.ptr(step.outputs[-1])
        s["cols"] = self.ptr(step.outputs[-2])
        keys = ("seq", "isz", "hid", "bits", "frac", "lstm", "zx")
        s["pname"] = self.record("es_qrnn_t", step, [str(int(p[k])) for k in keys])

    def _qgavg(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        if not p.get("split"):
            s["terms"], s["slope"] = ins[1], "NULL"
        else:  # [rest table,] slope, thresholds; no rest table when terms are linear in q
            s["terms"] = ins[1] if p.get("rest") else "NULL"
            s["slope"], s["thr"] = ins[-2], ins[-1]

    def _qbinary(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        s["a"], s["b"] = ins[0], ins[1]
        fields = [str(p["n"]), str(p["op"]), str(int(p["relu"]))]
        fields += [c_float(p[k]) for k in ("sa", "sb", "sy")]
        fields += [str(p[k]) for k in ("za", "zb", "zy")]
        s["pname"] = self.record("es_qbin_t", step, fields)

    def _pool2d_i8(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        self._pool2d(s, step, ins)

    def _copy_i8(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        self._copy(s, step, ins)

    def _gru(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        self._rnn(s, step, ins)

    def _lstm(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        self._rnn(s, step, ins)

    def _rnn(self, s: dict[str, Any], step: Step, ins: list[str]) -> None:
        p = step.params
        gates = 3 if step.kernel == "gru" else 4
        hid, isz, nd = p["hid"], p["isz"], p["nd"]
        s["w"], s["r"], s["b"] = ins[1], ins[2], ins[3]
        rest = ins[4:]
        h0 = rest.pop(0) if p["has_h0"] else "NULL"
        c0 = rest.pop(0) if p["has_c0"] else "NULL"
        s["scratch"] = self.ptr(step.outputs[-1])
        ys = {k: self.ptr(p[k]) for k in ("y", "yh", "yc")}
        s["dirs"] = [
            {
                "woff": p["woff"][d],  # weights packed by 8 rows (codegen.nn._ops_rnn)
                "roff": p["roff"][d],
                "boff": d * 2 * gates * hid,
                "reverse": p["reverse"][d],
                "h0": h0 if h0 == "NULL" else f"{h0} + {d * hid}",
                "c0": c0 if c0 == "NULL" else f"{c0} + {d * hid}",
                "y": ys["y"] if ys["y"] == "NULL" else f"{ys['y']} + {d * hid}",
                "ystride": nd * hid,
                "yh": ys["yh"] if ys["yh"] == "NULL" else f"{ys['yh']} + {d * hid}",
                "yc": ys["yc"] if ys["yc"] == "NULL" else f"{ys['yc']} + {d * hid}",
            }
            for d in range(nd)
        ]
        s["pname"] = self.record(
            "es_rnn_t", step, [str(p["seq"]), str(isz), str(hid), str(int(p["lbr"]))]
        )


def _used(program: Program) -> set[str]:
    used = {s.kernel for s in program.steps}
    if any(s.kernel == "copy" and s.params["fill"] is not None for s in program.steps):
        used.add("fill")
    if any(s.kernel == "copy_i8" and s.params["fill"] is not None for s in program.steps):
        used.add("fill_i8")
    simd = program.qopts is not None and program.qopts.simd
    loops = {s.params["loop"] for s in program.steps if s.kernel == "conv2d"}
    if loops:  # float conv loop orders "oc8" / "taps": es_conv2d_f32_<loop>
        used.discard("conv2d")
        used |= {f"conv2d_{lp}" for lp in loops}
    for s in program.steps:
        if s.kernel in ("qconv", "qdense"):
            dw = s.kernel == "qconv" and s.params["depthwise"]
            algo = s.params["algo"]
            name = (
                ("qdwconv_pad" if algo == "im2col" else "qdwconv") if dw else f"{s.kernel}_{algo}"
            )
            if s.kernel == "qconv" and s.params.get("pw"):  # SIMD pointwise, see pw_params
                used |= {f"qconv_pw{s.params['pw']}", "smmla", "simd_ops", "dot4", "sat8"}
                continue
            if s.kernel == "qconv" and s.params.get("rq"):  # SIMD im2col2, see rq_words
                used |= {f"qconv_rq{s.params['rq']}", "smmla", "simd_ops", "dot4max"}
                used |= {"pad16", "row16", "sat8"}
                continue
            if not dw and s.params.get("pkh", 1) * s.params.get("pkw", 1) > 1:
                name += "_pool"  # conv fused with the max pool after it
            elif s.kernel == "qconv" and s.params.get("small"):
                name = f"qconv_small{s.params['small']}"  # a short dot, weights in registers
            used |= {name, "requant", "sat8"}
            used |= {"pad16", "row16"} if not dw and algo == "im2col2" else set()
            used |= {"row16"} if dw and algo == "im2col" else set()
            if dw and algo == "im2col":
                used |= {"simd_ops", "out8", "smmla"} if simd else {"out8"}
            elif name.startswith("qconv_small"):
                used |= {"simd_ops", "out8", "small_chunk"}
            elif algo in ("im2col", "im2col2"):
                used |= {"im2col"} if s.kernel == "qconv" and algo == "im2col" else set()
                dots = {"dot4max"} if name.endswith("_pool") else {"dot4"}
                dots |= {"dot8"} if name == "qconv_im2col" else set()
                used |= {"simd_ops", "store4"} | dots if simd else {"dot4_rows", "store4"}
    gavgs = [s.params.get("split", False) for s in program.steps if s.kernel == "qgavg"]
    if any(gavgs):
        used.add("qgavg32")
        if all(gavgs):
            used.discard("qgavg")
    if "store4" in used:
        used.add("out8")
    if "qrnn" in used and simd:
        used |= {"simd_ops", "dot4"}
    if used & {"quantize", "qbinary", "qgavg"}:
        used |= {"quantf", "sat8"}
    return used


def _pw_kernels(program: Program, kind: str = "pw") -> list[dict[str, Any]]:
    """The es_qconv_pw (``kind`` rq: es_qconv_rq) instances of the program: name suffix, int16
    pairs per column, Relu clamp, the shared SSAT shift (0: one per channel), fused pool."""
    names = {str(s.params.get(kind, "")) for s in program.steps if s.kernel == "qconv"} - {""}
    out = []
    for n in sorted(names):
        parts = n.split("_")
        ush = [int(t[1:]) for t in parts[1:] if t.startswith("s")]
        k2, clamp, pool = int(parts[0]), "c" in parts, "p" in parts
        kern = {"name": n, "k2": k2, "clamp": clamp, "ush": ush[0] if ush else 0, "pool": pool}
        out.append(kern)
    return out


def _dw_k(program: Program) -> int:
    """The constant requantization shift of ``es_qdw33_pairs``: the ``qk`` of the packed
    depthwise layer with the most MACs (see ``_qlower.dw33_pack``); 16 when none."""
    packed = [s for s in program.steps if s.kernel == "qconv" and s.params.get("dwpack")]
    return int(max(packed, key=lambda s: s.macs).params["qk"]) if packed else 16


def context(program: Program, options: RenderOptions) -> dict[str, Any]:
    """The template context of ``model.c`` / ``model.h`` (plain data, tested on its own)."""
    b = _Builder(program)
    steps = [b.step(i, s) for i, s in enumerate(program.steps)]
    prefix = sanitize_identifier(options.prefix.lower())
    xin, xout = program.value(program.inputs[0]), program.value(program.outputs[0])
    constants = [
        {
            "cname": b.cnames[c],
            "ctype": CTYPES[a.dtype.name],
            "size": max(a.size, 1),
            "rows": _rows(a if a.size else np.zeros(1, a.dtype), CTYPES[a.dtype.name]),
        }
        for c, a in program.constants.items()
    ]
    ext = set(program.external.values())
    io_ptrs = {
        "input_ptr": "" if "input" in ext else b.ptr(xin.name),
        "output_ptr": "" if "output" in ext else b.ptr(xout.name),
    }
    return {
        "p": prefix,
        "P": prefix.upper(),
        "model_name": program.name.replace("*/", "* /"),
        "target": options.target,
        "header": f"{prefix}.h",
        "steps": steps,
        "records": b.records,
        "constants": constants,
        "used": _used(program),
        "pw_kernels": _pw_kernels(program),
        "rq_kernels": _pw_kernels(program, "rq"),
        "arena_bytes": max(program.arena_bytes, ARENA_ALIGN),
        "arena_align": ARENA_ALIGN,
        "plan_method": program.plan.method,
        "simd": program.qopts is not None and program.qopts.simd,
        "dw_k": _dw_k(program),
        "rounding": program.qopts.rounding if program.qopts is not None else "",
        "macs": program.macs,
        "n_steps": len(steps),
        "input_size": xin.size,
        "output_size": xout.size,
        "input_ctype": xin.ctype,
        "output_ctype": xout.ctype,
        **io_ptrs,  # "": read or written in place (es_in / es_out)
        "bases": sorted(b.bases),
        "io": program.io,
        "input_quant": _io_quant(program.io_inputs),
        "output_quant": _io_quant(program.io_outputs),
    }


def _io_quant(params: tuple[Any, ...]) -> dict[str, str] | None:
    """Scale (shortest float32 decimal) and zero point of the first int8 input or output."""
    if not params:
        return None
    q = params[0]
    scale = np.format_float_positional(np.float32(q.scale), unique=True, trim="0")
    return {"scale": f"{scale}f", "zero_point": f"({q.zero_point})", "node": q.node}


def render(
    program: Program, options: RenderOptions | None = None, extra: Mapping[str, Any] | None = None
) -> list[RenderedFile]:
    """``<prefix>.h``, ``<prefix>.c``, ``Makefile`` and ``README.md`` of ``program``."""
    options = options or RenderOptions()
    ctx = context(program, options)
    ctx.update(extra or {})
    w = CWriter()
    p = ctx["p"]
    return [
        RenderedFile(f"{p}.h", w.render("nn/model.h.j2", ctx)),
        RenderedFile(f"{p}.c", w.render("nn/model.c.j2", ctx)),
        RenderedFile("Makefile", w.render("nn/Makefile.j2", ctx)),
        RenderedFile("README.md", w.render("nn/README.md.j2", ctx)),
    ]
