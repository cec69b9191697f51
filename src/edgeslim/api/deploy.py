"""Deploy a graph as C99: export the library, run it on the host or an emulated Cortex-M, measure.

::

    art = export_c(graph, out_dir, target="cortex-m4")       # model.h/.c, Makefile, README
    y = run_host(art, x, sanitize=True)                        # compiled with cc, ASan/UBSan
    rep = measure_mcu(art, x, workdir)                         # QEMU: instructions, flash, RAM
    rep.metrics                                                # Metric records with provenance

Outputs are compared with :func:`edgeslim.ir.interp.run` (the reference) sample by sample:
float within a relative tolerance of 1e-5 of the output's scale, integers bit-exact. QDQ graphs
get int8 kernels (:mod:`edgeslim.codegen.nn._qlower`); their reference is the integer execution
:func:`edgeslim.passes.quantize._integer.run_integer` with the same rounding (for ``"single"``
it gives the interpreter's codes) and they must match bit for bit unless a float reduction
(a float conv, RNN cell, softmax) sits between quantized layers.

Layouts (``layout="auto"``): each int8 Conv/Gemm has three algorithms, ``direct`` (weights
[cout][cin][kh][kw], no scratch), ``im2col`` (an int16 column per output pixel, weights as
rows; with SIMD reordered for SXTB16/SMLAD) and ``im2col2`` (im2col over a zero-padded int16
copy of ``x - zx`` built once per layer: more arena, cheaper columns). ``auto`` measures
them on an emulated MCU target and keeps the one with fewer instructions per layer;
:func:`choose_layouts` reports every choice with its counts.

Model I/O (``io``): ``"float"`` (default) takes and returns float32 as the graph does;
``"int8"`` (a QDQ graph whose input feeds one QuantizeLinear and whose output comes from a
DequantizeLinear) takes and returns the int8 codes, as TFLite Micro models do: the C and
:func:`reference` run :func:`edgeslim.codegen.nn._io.int8_io` of the graph, and
:func:`measure_deploy` quantizes float inputs with the model's QuantizeLinear first
(:func:`quantize_inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, ExportError
from edgeslim._core.records import Metric, Provenance
from edgeslim.backends import host_c
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.nn import Program, QOptions, RenderOptions, context, lower, render
from edgeslim.codegen.nn._io import check_io, int8_io, quantize_inputs
from edgeslim.codegen.nn._qlower import ALGOS
from edgeslim.ir import Graph, interp, load_graph
from edgeslim.ir._tflite import is_tflite, load_tflite
from edgeslim.ir._tflite_qdq import packed_inputs, to_qdq
from edgeslim.targets import TargetProfile, load_target

FLOAT_RTOL = 1e-5
PAINT_BYTES = 8192


@dataclass(frozen=True, slots=True)
class CArtifact:
    """A generated C library: its folder, files, lowered program and API prefix."""

    out_dir: Path
    files: tuple[Path, ...]
    program: Program
    prefix: str
    target: str

    @property
    def source(self) -> Path:
        return self.out_dir / f"{self.prefix}.c"


@dataclass(frozen=True, slots=True)
class DeployReport:
    """What one measurement of a generated library found."""

    target: str
    metrics: tuple[Metric, ...]
    max_error: float  # max |c - reference| / max(1, |reference|); 0 for bit-exact
    exact: bool
    layers: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    choices: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    options: dict[str, Any] = field(default_factory=dict)
    outputs: np.ndarray | None = field(default=None, repr=False)  # the C's, one row a sample

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "max_error": self.max_error,
            "exact": self.exact,
            "options": dict(self.options),
            "metrics": [m.to_dict() for m in self.metrics],
            "layers": list(self.layers),
            "layout_choices": list(self.choices),
        }


def load_model(path: str | Path) -> Graph:
    """An ONNX file as a verified graph (an :class:`EdgeslimError` names a bad file)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"model file {p} does not exist")
    if is_tflite(p):  # int8 TFLite: QDQ form, streaming state packed into input and output
        return to_qdq(load_tflite(p), pack_state=True)
    return load_graph(p)


def tflite_inputs(path: str | Path, frames: np.ndarray) -> np.ndarray:
    """Inputs of a ``.tflite`` model's generated C for a stream of frames (n, frame values):
    each frame followed by the streaming state it meets (see :func:`ir._tflite_qdq.to_qdq`)."""
    return packed_inputs(load_tflite(path), frames)


def export_c(
    graph: Graph,
    out_dir: str | Path,
    target: str = "host",
    prefix: str = "model",
    plan: str = "auto",
    force: bool = False,
    qopts: QOptions | None = None,
    io: str = "float",
) -> CArtifact:
    """Write ``<prefix>.h``, ``<prefix>.c``, ``Makefile`` and ``README.md`` into ``out_dir``.

    ``qopts`` (QDQ graphs): requantization rounding, SIMD variant, per-layer algorithms.
    ``io="int8"``: ``<prefix>_run`` takes and returns int8 codes (see the module docstring).
    """
    load_target(target)  # unknown target: an error before any work
    out = Path(out_dir)
    program = lower(graph, plan, qopts or default_qoptions(target), io)
    files = render(program, RenderOptions(prefix=prefix, target=target))
    existing = [f.name for f in files if (out / f.name).exists()]
    if existing and not force:
        raise ExportError(f"{out / existing[0]} exists; pass force=True (--force) to overwrite")
    paths = CWriter().write(files, out)
    return CArtifact(out, tuple(paths), program, files[0].name[:-2], target)


def reference(graph: Graph, x: np.ndarray, program: Program | None = None) -> np.ndarray:
    """The reference outputs for each sample of ``x`` (first graph output), stacked: the
    interpreter, or for an int8 ``program`` the integer execution with its rounding. A
    ``program`` with int8 I/O runs the graph without its edge Q/DQ: ``x`` and the outputs are
    int8 codes (float ``x`` is quantized by the model's QuantizeLinear first)."""
    if program is not None and program.io == "int8":
        x = quantize_inputs(graph, x)
        graph = int8_io(graph).graph
    name, out = graph.inputs[0].name, graph.outputs[0].name
    custom = any(n.op.startswith("edgeslim.") for n in graph.nodes)  # integer RNN cells
    if program is not None and program.int8 and not custom:
        from edgeslim.passes.quantize._integer import run_integer

        rounding = program.qopts.rounding
        rows = [run_integer(graph, x[i : i + 1], rounding=rounding)[out] for i in range(len(x))]
        return np.concatenate(rows).reshape(len(x), -1)
    return np.concatenate(
        [interp.run(graph, {name: x[i : i + 1]})[out] for i in range(len(x))]
    ).reshape(len(x), -1)


def compare(got: np.ndarray, ref: np.ndarray, exact: bool = False) -> tuple[float, bool]:
    """(error relative to the output scale, acceptable?) - integers, and ``exact`` (int8)
    programs, must be bit-exact."""
    got, ref = got.reshape(ref.shape), ref
    if np.issubdtype(ref.dtype, np.integer):
        err = float(np.abs(got.astype(np.int64) - ref.astype(np.int64)).max(initial=0))
        return err, err == 0
    scale = max(1.0, float(np.abs(ref).max(initial=0)))
    err = float(np.abs(got.astype(np.float64) - ref).max(initial=0)) / scale
    return err, err == 0 if exact else err <= FLOAT_RTOL


def _ctx(art: CArtifact) -> dict[str, Any]:
    return context(art.program, RenderOptions(prefix=art.prefix, target=art.target))


def _check_x(art: CArtifact, x: np.ndarray) -> np.ndarray:
    v = art.program.value(art.program.inputs[0])
    if art.program.io == "int8" and np.asarray(x).dtype != np.int8:
        raise DataError(
            f"{art.source.name} takes int8 codes (io int8); got {np.asarray(x).dtype} inputs: "
            "quantize them with edgeslim.api.deploy.quantize_inputs"
        )
    x = np.ascontiguousarray(x, dtype=v.dtype)
    if x.ndim < 1 or int(np.prod(x.shape[1:])) != v.size:
        raise DataError(f"inputs must be (n, {v.size} values); got shape {x.shape}")
    return x


def run_host(
    art: CArtifact, x: np.ndarray, sanitize: bool = False, workdir: Path | None = None
) -> np.ndarray:
    """Compile the library with a stdin/stdout harness (strict flags) and run ``x`` through it."""
    x = _check_x(art, x)
    work = Path(workdir or art.out_dir / "build-host")
    w = CWriter()
    w.write([RenderedFile("harness_host.c", w.render("nn/harness_host.c.j2", _ctx(art)))], work)
    exe = host_c.compile_executable(
        [art.source, work / "harness_host.c"],
        work / ("model_asan" if sanitize else "model_host"),
        include_dirs=[art.out_dir],
        sanitize=sanitize,
    )
    out = host_c.run_program(exe, stdin=x.tobytes())
    xo = art.program.value(art.program.outputs[0])
    return np.frombuffer(out, dtype=xo.dtype).reshape(len(x), -1)


def _mcu_source(art: CArtifact, x: np.ndarray, work: Path) -> Path:
    ctx = _ctx(art)
    ctx.update(n=len(x), rows=[r.reshape(-1).tolist() for r in x], paint_bytes=PAINT_BYTES)
    w = CWriter()
    w.write([RenderedFile("harness_mcu.c", w.render("nn/harness_mcu.c.j2", ctx))], work)
    return work / "harness_mcu.c"


def _mcu_outputs(lines: list[str], dtype: str, n: int) -> np.ndarray:
    rows = []
    for ln in lines[:n]:
        words = [int(v, 16) for v in ln.split()[1:]]
        bits = np.asarray(words, dtype=np.uint32)
        rows.append(
            bits.view(np.float32)
            if dtype == "float32"
            else bits.astype(np.uint8).view(np.int8)
            if dtype == "int8"
            else bits.view(np.int32)
        )
    return np.stack(rows)


def measure_mcu(
    art: CArtifact,
    x: np.ndarray,
    workdir: Path,
    target: TargetProfile,
    ref: np.ndarray | None = None,
) -> DeployReport:
    """Cross-compile for ``target``, run ``x`` under QEMU and read sizes, counts and outputs."""
    from edgeslim.backends.qemu import CortexMRunner

    x = _check_x(art, x)
    runner = CortexMRunner(target, workdir)
    harness = _mcu_source(art, x, Path(workdir))
    elf = runner.build(
        [art.source, harness], include_dirs=[art.out_dir], defines=["ES_LAYER_HOOK=es_layer_hook"]
    )
    res = runner.run(elf)
    if res.payload("es_status") != ["0"]:
        raise ExportError(f"{art.source.name} on {target.name}: status {res.payload('es_status')}")
    xo = art.program.value(art.program.outputs[0])
    got = _mcu_outputs(res.payload("es_out"), xo.dtype, len(x))
    err, ok = compare(got, ref, art.program.exact) if ref is not None else (float("nan"), True)
    sizes = runner.object_size(art.source, include_dirs=[art.out_dir])
    per = res.instructions("run") / len(x)
    stack = int(res.payload("es_stack")[0])
    layers = tuple(
        {
            "index": i,
            "node": s.node,
            "op": s.op,
            "kernel": s.kernel,
            "macs": s.macs,
            "instructions": res.instructions(f"layer{i}"),
        }
        for i, s in enumerate(art.program.steps)
    )
    return DeployReport(
        target.name, _metrics(art, target, sizes, per, stack, err), err, ok, layers, outputs=got
    )


def _metrics(
    art: CArtifact, target: TargetProfile, sizes: Any, per: float, stack: int, err: float
) -> tuple[Metric, ...]:
    sim, comp, est = Provenance.SIMULATED, Provenance.COMPUTED, Provenance.ESTIMATED
    ctx = target.name
    macs = max(art.program.macs, 1)
    ms = [
        Metric("flash_bytes", sizes.flash, "B", comp, ctx),
        Metric("static_ram_bytes", sizes.ram, "B", comp, ctx),
        Metric("arena_bytes", art.program.arena_bytes, "B", comp, ctx),
        Metric("stack_bytes", stack, "B", sim, ctx),
        Metric("instructions", per, "instr", sim, ctx),
        Metric("instructions_per_mac", per / macs, "instr/MAC", sim, ctx),
        Metric("macs", art.program.macs, "MAC", comp, ctx),
        Metric("c_max_rel_error", err, "1", sim, ctx),
    ]
    if target.clock_hz:
        ms.append(Metric("latency", per / target.clock_hz, "s", est, ctx))
    if target.energy.joules_per_cycle is not None:
        ms.append(Metric("energy", per * target.energy.joules_per_cycle, "J", est, ctx))
    return tuple(ms)


def default_qoptions(target: str, simd: bool | None = None, rounding: str = "single") -> QOptions:
    """int8 options for ``target``: SIMD on where the core has the DSP extension."""
    prof = load_target(target)
    return QOptions(rounding=rounding, simd=prof.dsp if simd is None else simd)


def with_algorithm(
    graph: Graph, plan: str, qopts: QOptions, algo: str, io: str = "float"
) -> QOptions:
    """``qopts`` with every int8 Conv/Gemm of ``graph`` set to ``algo``."""
    steps = lower(graph, plan, qopts, io).steps
    algos = tuple((s.node, algo) for s in steps if s.kernel in ("qconv", "qdense"))
    return replace(qopts, algos=algos)


def choose_layouts(
    graph: Graph,
    x: np.ndarray,
    target: str,
    workdir: str | Path,
    qopts: QOptions,
    plan: str = "auto",
    io: str = "float",
) -> tuple[QOptions, tuple[dict[str, Any], ...]]:
    """Per int8 Conv/Gemm, the algorithm (``direct`` or ``im2col``) with fewer instructions on
    the emulated ``target``; returns the options and one record per layer with both counts.
    Hosts and graphs without int8 layers keep the defaults (no instruction counter)."""
    prof = load_target(target)
    if not prof.is_mcu or not lower(graph, plan, qopts, io).int8:
        return qopts, ()
    work = Path(workdir)
    x = quantize_inputs(graph, x) if io == "int8" else x
    counts: dict[str, dict[str, Any]] = {}
    for algo in ALGOS:
        q = with_algorithm(graph, plan, qopts, algo, io)
        art = export_c(
            graph, work / f"layout-{algo}", target, plan=plan, force=True, qopts=q, io=io
        )
        rep = measure_mcu(art, x[:1], work / f"layout-{algo}-mcu", prof)
        for layer in rep.layers:
            if layer["kernel"] in ("qconv", "qdense"):
                step = art.program.steps[layer["index"]]
                rec = counts.setdefault(
                    layer["node"], {"node": layer["node"], "kernel": layer["kernel"]}
                )
                rec["macs"] = layer["macs"]
                rec[step.params["algo"]] = layer["instructions"]
    choices = []
    for rec in counts.values():
        avail = [a for a in ALGOS if a in rec]
        rec["chosen"] = min(avail, key=lambda a: (rec[a], a != "direct"))
        choices.append(rec)
    algos = tuple((c["node"], c["chosen"]) for c in choices)
    return replace(qopts, algos=algos), tuple(choices)


def measure_deploy(
    graph: Graph,
    x: np.ndarray,
    target: str,
    workdir: str | Path,
    prefix: str = "model",
    plan: str = "auto",
    qopts: QOptions | None = None,
    layout: str = "default",
    io: str = "float",
    labels: np.ndarray | None = None,
) -> DeployReport:
    """Export, run on ``target`` (host: compiled + ASan/UBSan check; MCU: QEMU) and compare.

    ``layout``: ``default`` (im2col with SIMD, else direct), ``direct``, ``im2col`` or ``auto``
    (measured per layer on the target, see :func:`choose_layouts`). ``io="int8"``: float
    ``x`` is quantized by the model's QuantizeLinear, the C and the reference take the codes
    and return int8 codes. ``labels`` (class indices of ``x``): an ``accuracy`` metric of the
    C's outputs (argmax; int8 codes dequantized first).
    """
    prof = load_target(target)
    work = Path(workdir)
    if check_io(io) == "int8":
        x = quantize_inputs(graph, x)
    qopts = qopts or default_qoptions(target)
    choices: tuple[dict[str, Any], ...] = ()
    if layout == "auto":
        qopts, choices = choose_layouts(graph, x, target, work / "layouts", qopts, plan, io)
    elif layout in ALGOS:
        qopts = with_algorithm(graph, plan, qopts, layout, io)
    elif layout != "default":
        raise ExportError(f"layout must be default, auto, {', '.join(ALGOS)}; got {layout!r}")
    art = export_c(graph, work / "c", target, prefix, plan, force=True, qopts=qopts, io=io)
    ref = reference(graph, x, art.program)
    options = program_options(art.program)
    if prof.is_mcu:
        rep = measure_mcu(art, x, work / "mcu", prof, ref)
        rep = replace(rep, choices=choices, options=options)
        return _with_accuracy(rep, art.program, labels, Provenance.SIMULATED)
    got = run_host(art, x, sanitize=True, workdir=work / "host")
    err, ok = compare(got, ref, art.program.exact)
    ms = (
        Metric("arena_bytes", art.program.arena_bytes, "B", Provenance.COMPUTED, target),
        Metric("macs", art.program.macs, "MAC", Provenance.COMPUTED, target),
        Metric("c_max_rel_error", err, "1", Provenance.MEASURED, target),
    )
    rep = DeployReport(target, ms, err, ok, choices=choices, options=options, outputs=got)
    return _with_accuracy(rep, art.program, labels, Provenance.MEASURED)


def dequantize_outputs(program: Program, y: np.ndarray) -> np.ndarray:
    """The C's outputs as float32: int8 codes (io int8) dequantized as the removed
    DequantizeLinear does, ``float32(code - zero_point) * scale``; float outputs unchanged."""
    if program.io != "int8":
        return np.asarray(y, np.float32)
    q = program.io_outputs[0]
    return (np.asarray(y, np.int32) - q.zero_point).astype(np.float32) * np.float32(q.scale)


def _with_accuracy(
    rep: DeployReport, program: Program, labels: np.ndarray | None, prov: Provenance
) -> DeployReport:
    if labels is None or rep.outputs is None:
        return rep
    scores = dequantize_outputs(program, rep.outputs)
    y = np.asarray(labels).reshape(-1)
    if scores.ndim != 2 or scores.shape[1] < 2 or len(y) != len(scores):
        return rep  # not class scores of these labels
    acc = float(np.mean(np.argmax(scores, axis=1) == y))
    return replace(rep, metrics=(*rep.metrics, Metric("accuracy", acc, "1", prov, rep.target)))


def program_options(program: Program) -> dict[str, Any]:
    q = program.qopts
    io = {"io": program.io} if program.io != "float" else {}
    if q is None:
        return {"int8": False, **io}
    algos = {s.node: s.params["algo"] for s in program.steps if s.kernel in ("qconv", "qdense")}
    return {
        "int8": True,
        **io,
        "rounding": q.rounding,
        "simd": q.simd,
        "bit_exact_required": program.exact,
        "algorithms": algos,
    }
