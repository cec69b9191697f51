"""Generated C vs anchors: Cortex-M4 instructions, flash, arena vs TFLM's planner, host latency.

Run: ``python bench/mcu_vs_anchors.py [--out table.md] [--cmsis-nn GITDIR]``.

int8 section: QDQ models (static per-channel int8 quantization) compiled with edgeslim's int8
kernels, plain and SIMD (SXTB16/SMLAD), on the emulated Cortex-M4 (the anchor nets also with
int8 input and output codes, ``--io int8``, as the anchor's own C takes them), beside the
CMSIS-NN anchor of ``../shared/anchors/cmsisnn_anchor`` (the same digits CNN, 460,416 MACs,
and the depthwise-separable block 16x16x32 -> dw 3x3 -> pw 64). With ``--cmsis-nn GITDIR``
(or ``CMSIS_NN_GIT``; e.g. the bare repository the project's fetch tool returns for
ARM-software/CMSIS-NN) the anchor is built and run in the same run; otherwise its recorded
numbers from ANCHORS.md are printed.

Float32 section: models of the zoo on the digits shape (CNN, DS-CNN) and a series shape
(GRU, TCN). Host latency columns: the C library (host flags ``-O3 -march=native``) called
through ctypes and onnxruntime's ``sess.run`` from Python (the user-visible batch-1 call), plus
the C timed in a C loop (``harness_host --time``); best of 15 rounds of 300 calls, C and
onnxruntime rounds interleaved (the machine may be shared); int8 host rows compare the int8
kernels with onnxruntime on the same QDQ model. ``--only-float`` skips the int8 M4 section.
Goals (issue): arena <= TFLM's; host batch-1 latency of the generated C <= onnxruntime
under 1M MACs; GRU/TCN run on M4.
The TFLM column is TFLM's greedy-by-size algorithm reimplemented here (no in-place sharing,
as in TFLM's GreedyMemoryPlanner); tflite-micro's PyPI interpreter is not installed. TFLM holds
the input and output tensors in its arena; the generated C reads the caller's input and writes
the caller's output in place where it can (``Program.external``), so its arena leaves them out:
the "arena + I/O B" column adds those caller buffers back for the comparison with TFLM.
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeslim.api.deploy import export_c, measure_mcu, reference
from edgeslim.backends.host_c import SharedLibrary, compile_shared
from edgeslim.codegen.nn._lower import _fold, _lifetimes  # noqa: F401  (bench-only internals)
from edgeslim.codegen.planner import Buffer, plan_memory
from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
from edgeslim.targets import load_target

MODELS = [
    ("cnn", Layout.IMAGE, (1, 8, 8)),
    ("dscnn", Layout.IMAGE, (1, 8, 8)),
    ("gru", Layout.SERIES, (6, 32)),
    ("tcn", Layout.SERIES, (6, 32)),
]


def _graph(kind: str, layout: Layout, shape: tuple[int, ...], folder: Path):
    import torch

    from edgeslim.ir import export_torch, load_graph
    from edgeslim.models import build_model, default_config, with_normalization

    torch.manual_seed(0)
    spec = DataSpec("b", Task.CLASSIFICATION, layout, shape, num_classes=10, output_dim=10)
    model = build_model(default_config(kind), spec)
    norm = Normalization((0.0,) * shape[0], (1.0,) * shape[0], 0)
    path = folder / f"{kind}.onnx"
    export_torch(with_normalization(model, norm, shape), shape, path)
    return load_graph(path), path


def tflm_greedy_arena(program) -> int:
    """TFLM's GreedyMemoryPlanner strategy on the same lifetimes, without in-place sharing;
    the input and output buffers are in it (``_lifetimes`` lists them, external or not)."""
    buffers = _lifetimes(
        list(program.steps), dict(program.values), list(program.inputs), list(program.outputs)
    )
    plain = [Buffer(b.name, b.size, b.first, b.last, b.alignment) for b in buffers]
    return plan_memory(plain, "greedy").arena_bytes


def arena_with_io(program) -> int:
    """Our arena plus the caller's input and output bytes that the C uses in place (outside
    the arena): the RAM to set against TFLM's arena, which holds both tensors."""
    return program.arena_bytes + program.external_bytes("input") + program.external_bytes("output")


def _time_pair(fa, fb, reps: int = 300, rounds: int = 15) -> tuple[float, float]:
    """Best seconds per call of ``fa`` and ``fb``, their rounds interleaved so that both see
    the same machine load (this machine is shared)."""
    fa(), fb()
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((fa, fb)):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t) / reps)
    return best[0], best[1]


def host_latency(art, onnx_path: Path, x: np.ndarray, work: Path) -> tuple[float, float, float]:
    """Batch-1 seconds per call: (C via ctypes, C timed inside a C loop, onnxruntime's
    ``sess.run`` on ``onnx_path``, 1 thread); the C is built with the host target's flags."""
    import subprocess

    import onnxruntime as ort

    from edgeslim.backends.host_c import compile_executable
    from edgeslim.codegen._c import CWriter, RenderedFile
    from edgeslim.codegen.nn import RenderOptions
    from edgeslim.codegen.nn._render import context

    prog = art.program
    xin, xout = prog.value(prog.inputs[0]), prog.value(prog.outputs[0])
    so = compile_shared([art.source], work / "m.so", include_dirs=[art.out_dir])
    arena = (ctypes.c_float * (prog.arena_bytes // 4 + 4))()
    ctx = ctypes.create_string_buffer(32)
    out = np.zeros(xout.size, xout.dtype)
    xi = np.ascontiguousarray(x[0].reshape(-1), dtype=xin.dtype)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name, feed = sess.get_inputs()[0].name, x[:1]
    with SharedLibrary(so) as lib:
        init = lib.function("model_init", ctypes.c_int, [ctypes.c_void_p] * 2 + [ctypes.c_size_t])
        run = lib.function("model_run", ctypes.c_int, [ctypes.c_void_p] * 3)
        init(ctx, arena, ctypes.sizeof(arena))
        pi, po = xi.ctypes.data, out.ctypes.data
        c_s, ort_s = _time_pair(lambda: run(ctx, pi, po), lambda: sess.run(None, {name: feed}))
    w = CWriter()
    harness = context(prog, RenderOptions(prefix=art.prefix, target=art.target))
    w.write([RenderedFile("harness.c", w.render("nn/harness_host.c.j2", harness))], work)
    exe = compile_executable(
        [art.source, work / "harness.c"], work / "timer", include_dirs=[art.out_dir]
    )
    timed = subprocess.run(
        [str(exe), "--time", "300"], input=xi.tobytes(), capture_output=True, check=True
    )
    inc_s = float(timed.stdout) * 1e-9
    return c_s, inc_s, ort_s


def ort_floor(shape: tuple[int, ...]) -> float:
    """Seconds per ``sess.run`` of a one-node Identity model on a batch-1 input of ``shape``:
    the fixed Python and session overhead inside the onnxruntime column."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "floor",
        [info("x", TensorProto.FLOAT, [1, *shape])], [info("y", TensorProto.FLOAT, [1, *shape])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    feed = {"x": np.zeros((1, *shape), np.float32)}
    floor, _ = _time_pair(lambda: sess.run(None, feed), lambda: None)
    return floor


def host_int8_rows(tmp: Path) -> list[str]:
    """int8 QDQ zoo models: edgeslim's int8 kernels (plain variant) on the host vs
    onnxruntime running the same QDQ model."""
    import onnx

    from edgeslim import ir
    from edgeslim.codegen.nn import QOptions
    from edgeslim.passes.quantize import _qdq
    from edgeslim.passes.quantize._static import static_quantize

    rows = [
        "| model | MACs | host C us (ctypes) | in-C us | ORT us (sess.run) | C/ORT | in-C/ORT |",
        "|" + "---|" * 7,
    ]
    for kind, layout, shape in MODELS:
        work = tmp / f"h8{kind}"
        work.mkdir()
        _, path = _graph(kind, layout, shape, work)
        x = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
        proto, _ = static_quantize(onnx.load(path), x, _qdq.StaticConfig())
        qpath = work / f"{kind}-qdq.onnx"
        onnx.save(proto, str(qpath))
        art = export_c(ir.from_onnx(proto), work / "c", "host", qopts=QOptions("single", False))
        c_s, inc_s, ort_s = host_latency(art, qpath, x[:1], work)
        rows.append(
            f"| {kind} | {art.program.macs} | {c_s * 1e6:.1f} | {inc_s * 1e6:.1f} | "
            f"{ort_s * 1e6:.1f} | {c_s / ort_s:.2f} | {inc_s / ort_s:.2f} |"
        )
    return rows


# CMSIS-NN anchor numbers recorded in ../shared/ANCHORS.md (CMSIS-NN 99f736a, gcc 12.2 -O2)
CMSIS_RECORDED = {
    ("digits", "dsp"): 1_056_855,
    ("digits", "nodsp"): 1_485_306,
    ("dwsep/dw3x3", "dsp_per_mac"): 8.07,
    ("dwsep/pw1x1", "dsp_per_mac"): 2.70,
}
CMSIS_CODE_FLASH = 11_900  # linked CMSIS-NN code, -O2 (ANCHORS.md); weights not included
CMSIS_SCRATCH = 1_152


def _anchor_net(kind: str, folder: Path):
    """The CMSIS-NN anchor's networks in torch (NCHW), statically quantized to QDQ int8."""
    import onnx
    import torch
    from torch import nn

    from edgeslim import ir
    from edgeslim.passes.quantize import _qdq
    from edgeslim.passes.quantize._static import static_quantize

    torch.manual_seed(0)
    if kind == "digits":  # anchors_nn.py's digits CNN
        shape = (1, 8, 8)
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
        )  # fmt: skip
    else:  # gen.py's dwsep block (+ global average and a 64x10 head: a small output)
        shape = (32, 16, 16)
        model = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU(), nn.Conv2d(32, 64, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        )  # fmt: skip
    path = folder / f"{kind}.onnx"
    torch.onnx.export(
        model.eval(), torch.zeros(1, *shape), str(path), input_names=["input"],
        output_names=["output"], opset_version=17, dynamo=False,
        dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
    )  # fmt: skip
    x = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
    proto, _ = static_quantize(onnx.load(path), x, _qdq.StaticConfig())
    return ir.from_onnx(proto), shape


def _zoo_int8(kind: str, layout: Layout, shape: tuple[int, ...], folder: Path):
    import onnx

    from edgeslim import ir
    from edgeslim.passes.quantize import _qdq
    from edgeslim.passes.quantize._static import static_quantize

    _, path = _graph(kind, layout, shape, folder)
    x = np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)
    proto, _ = static_quantize(onnx.load(path), x, _qdq.StaticConfig())
    return ir.from_onnx(proto)


def _zoo_intrnn(kind: str, folder: Path):
    import onnx

    from edgeslim import ir
    from edgeslim.passes.quantize._intrnn import integer_recurrent

    _, path = _graph(kind, Layout.SERIES, (6, 32), folder)
    x = np.random.default_rng(0).standard_normal((64, 6, 32)).astype(np.float32)
    proto, _ = integer_recurrent(onnx.load(path), x, state_bits=16, int8_rest=True)
    return ir.from_onnx(proto)


def run_cmsis_anchor(gitdir: str) -> dict[str, float]:
    """Build and run the CMSIS-NN anchor (M4 with and without DSP, -O2); totals per net."""
    import os
    import subprocess

    script = Path(__file__).resolve().parents[2] / "shared/anchors/cmsisnn_anchor/run.sh"
    env = dict(os.environ, CONFIGS="m4_dsp_O2 m4_nodsp_O2")
    out = subprocess.run(
        ["bash", str(script), gitdir], env=env, capture_output=True, text=True, check=True
    ).stdout
    return parse_cmsis_report(out)


def parse_cmsis_report(out: str) -> dict[str, float]:
    """Totals of the anchor's report: ``digits`` / ``digits_nodsp`` instructions per inference,
    ``digits_flash`` / ``digits_nodsp_flash`` (linked CMSIS-NN bytes + parameter bytes)."""
    import re

    totals: dict[str, float] = {}
    net = ""
    for line in out.splitlines():
        m = re.match(r"^### (\w+)", line)
        if m:
            net = m.group(1)
        elif net and line.startswith("| **total**"):
            nums = [float(v) for v in re.findall(r"\d+(?:\.\d+)?", line)]
            totals[net], totals[f"{net}_nodsp"] = nums[1], nums[3]
        m = re.match(
            r"^\| (\w+) \| m4_(dsp|nodsp)_O2 \| (\d+) \| \d+ \| \d+ \| \d+ \| (\d+) \|", line
        )
        if m:
            key = m.group(1) + ("" if m.group(2) == "dsp" else "_nodsp") + "_flash"
            totals[key] = float(m.group(3)) + float(m.group(4))
    return totals


def int8_rows(tmp: Path, cmsis: dict[str, float] | None) -> list[str]:
    from edgeslim.api.deploy import measure_deploy
    from edgeslim.codegen.nn import QOptions

    head = (
        "| model | MACs | variant | M4 instr/inference | instr/MAC | flash B (model.o) | arena B "
        "| stack B | CMSIS-NN instr | instr edgeslim/CMSIS | CMSIS-NN flash B (code+params) "
        "| flash edgeslim/CMSIS | exact |"
    )
    rows = [head, "|" + "---|" * 13]
    nets: list[tuple[str, object, tuple[int, ...]]] = []
    for kind in ("digits", "dwsep"):
        g, shape = _anchor_net(kind, tmp)
        nets.append((f"anchor-{kind}", g, shape))
    for kind, layout, shape in MODELS:
        nets.append((f"zoo-{kind}", _zoo_int8(kind, layout, shape, tmp / f"z{kind}"), shape))
    for kind in ("gru", "lstm"):  # integer cells (edgeslim.IntGRU/IntLSTM) + int8 head
        nets.append((f"zoo-{kind}-intcell", _zoo_intrnn(kind, tmp / f"i{kind}"), (6, 32)))
    for name, graph, shape in nets:
        x = np.random.default_rng(1).standard_normal((1, *shape)).astype(np.float32)
        variants = [("plain", QOptions("single", False), "default", "float")]
        variants += [("SIMD", QOptions("single", True), "default", "float")]
        variants += [("SIMD im2col2", QOptions("single", True), "im2col2", "float")]
        variants += [("SIMD auto", QOptions("single", True), "auto", "float")]
        if name.startswith("anchor"):  # int8 codes in and out, as the CMSIS-NN anchor takes them
            variants += [("SIMD auto, int8 I/O", QOptions("single", True), "auto", "int8")]
        for label, q, layout, io in variants:
            rep = measure_deploy(
                graph, x, "cortex-m4", tmp / f"{name}-{label}", qopts=q, layout=layout, io=io
            )  # type: ignore[arg-type]
            m = {k.name: k.value for k in rep.metrics}
            anchor, ratio, aflash, fratio = "-", "-", "-", "-"
            net = name.removeprefix("anchor-")
            key = net if q.simd else f"{net}_nodsp"
            ref = (cmsis or {}).get(key)
            if ref is None and net == "digits":
                ref = CMSIS_RECORDED[("digits", "dsp" if q.simd else "nodsp")]
            if name.startswith("anchor") and ref:
                src = "run" if cmsis else "recorded"
                anchor, ratio = f"{ref:,.0f} ({src})", f"{m['instructions'] / ref:.2f}"
                fl = (cmsis or {}).get(f"{key}_flash")
                if fl:
                    aflash, fratio = f"{fl:,.0f}", f"{m['flash_bytes'] / fl:.2f}"
            rows.append(
                f"| {name} | {m['macs']:.0f} | {label} | {m['instructions']:,.0f} | "
                f"{m['instructions_per_mac']:.2f} | {m['flash_bytes']:.0f} | "
                f"{m['arena_bytes']:.0f} | {m['stack_bytes']:.0f} | {anchor} | {ratio} | "
                f"{aflash} | {fratio} | {'yes' if rep.exact else 'NO'} |"
            )
            if name.startswith("anchor") and label.startswith("SIMD auto"):
                for layer in rep.layers:
                    if layer["macs"]:
                        per = layer["instructions"] / layer["macs"]
                        print(f"  {name} {label} {layer['kernel']:<10} {layer['node']:<28} "
                              f"MACs {layer['macs']:>7} instr/MAC {per:.2f}")  # fmt: skip
    note = (
        f"CMSIS-NN recorded: digits M4+DSP {CMSIS_RECORDED[('digits', 'dsp')]:,} instr (2.30/MAC),"
        f" M4 no DSP {CMSIS_RECORDED[('digits', 'nodsp')]:,} (3.23/MAC); per kernel with DSP: "
        f"3x3 depthwise {CMSIS_RECORDED[('dwsep/dw3x3', 'dsp_per_mac')]}/MAC, 1x1 pointwise "
        f"{CMSIS_RECORDED[('dwsep/pw1x1', 'dsp_per_mac')]}/MAC; linked CMSIS-NN code "
        f"{CMSIS_CODE_FLASH:,} B + weights, scratch {CMSIS_SCRATCH:,} B (../shared/ANCHORS.md)."
    )
    return [*rows, "", note]


def main() -> None:
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--cmsis-nn", default=os.environ.get("CMSIS_NN_GIT", ""))
    ap.add_argument("--only-int8", action="store_true")
    ap.add_argument("--only-float", action="store_true", help="skip the int8 M4 section")
    args = ap.parse_args()
    cmsis = run_cmsis_anchor(args.cmsis_nn) if args.cmsis_nn else None
    m4 = load_target("cortex-m4")
    head = (
        "| model | MACs | M4 instr/inference | instr/MAC | flash B | arena B | arena + I/O B "
        "| TFLM-greedy arena B | stack B | host C us (ctypes) | in-C us | ORT us (sess.run) "
        "| C/ORT |"
    )
    rows = [head, "|" + "---|" * 13]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, layout, shape in [] if args.only_int8 else MODELS:
            work = Path(tmp) / kind
            work.mkdir()
            graph, path = _graph(kind, layout, shape, work)
            x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
            art = export_c(graph, work / "c", "cortex-m4")
            rep = measure_mcu(art, x, work / "mcu", m4, reference(graph, x))
            m = {k.name: k.value for k in rep.metrics}
            c_s, inc_s, ort_s = host_latency(art, path, x, work)
            rows.append(
                f"| {kind} | {art.program.macs} | {m['instructions']:.0f} | "
                f"{m['instructions_per_mac']:.2f} | {m['flash_bytes']:.0f} | "
                f"{art.program.arena_bytes} | {arena_with_io(art.program)} | "
                f"{tflm_greedy_arena(art.program)} | "
                f"{m['stack_bytes']:.0f} | {c_s * 1e6:.1f} | {inc_s * 1e6:.1f} | "
                f"{ort_s * 1e6:.1f} | {c_s / ort_s:.2f} |" + ("" if rep.exact else " MISMATCH")
            )
        if not args.only_int8:
            floor = ort_floor((1, 8, 8)) * 1e6
            rows += [
                "",
                f"onnxruntime floor: sess.run of a 1-node Identity model takes {floor:.1f} us "
                "(Python + session overhead inside the ORT column); the C column's overhead is "
                "ctypes minus in-C.",
            ]
            rows += [
                "",
                "int8 on the host (batch 1, 1 thread; same QDQ model in onnxruntime):",
                "",
            ]
            rows += host_int8_rows(Path(tmp))
        if not args.only_float:
            rows += ["", "int8 on Cortex-M4 (QEMU, exact instruction counts):", ""]
            rows += int8_rows(Path(tmp), cmsis)
    table = "\n".join(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
