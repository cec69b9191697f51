"""Deploy a graph as C99: export the library, run it on the host or an emulated Cortex-M, measure.

::

    art = export_c(graph, out_dir, target="cortex-m4")       # model.h/.c, Makefile, README
    y = run_host(art, x, sanitize=True)                        # compiled with cc, ASan/UBSan
    rep = measure_mcu(art, x, workdir)                         # QEMU: instructions, flash, RAM
    rep.metrics                                                # Metric records with provenance

Outputs are compared with :func:`edgeslim.ir.interp.run` (the reference) sample by sample:
float within a relative tolerance of 1e-5 of the output's scale, integers bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, ExportError
from edgeslim._core.records import Metric, Provenance
from edgeslim.backends import host_c
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.nn import Program, RenderOptions, context, lower, render
from edgeslim.ir import Graph, interp, load_graph
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "max_error": self.max_error,
            "exact": self.exact,
            "metrics": [m.to_dict() for m in self.metrics],
            "layers": list(self.layers),
        }


def load_model(path: str | Path) -> Graph:
    """An ONNX file as a verified graph (an :class:`EdgeslimError` names a bad file)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"model file {p} does not exist")
    return load_graph(p)


def export_c(
    graph: Graph,
    out_dir: str | Path,
    target: str = "host",
    prefix: str = "model",
    plan: str = "auto",
    force: bool = False,
) -> CArtifact:
    """Write ``<prefix>.h``, ``<prefix>.c``, ``Makefile`` and ``README.md`` into ``out_dir``."""
    load_target(target)  # unknown target: an error before any work
    out = Path(out_dir)
    program = lower(graph, plan)
    files = render(program, RenderOptions(prefix=prefix, target=target))
    existing = [f.name for f in files if (out / f.name).exists()]
    if existing and not force:
        raise ExportError(f"{out / existing[0]} exists; pass force=True (--force) to overwrite")
    paths = CWriter().write(files, out)
    return CArtifact(out, tuple(paths), program, files[0].name[:-2], target)


def reference(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The interpreter's outputs for each sample of ``x`` (first graph output), stacked."""
    name = graph.inputs[0].name
    return np.concatenate(
        [interp.run(graph, {name: x[i : i + 1]})[graph.outputs[0].name] for i in range(len(x))]
    ).reshape(len(x), -1)


def compare(got: np.ndarray, ref: np.ndarray) -> tuple[float, bool]:
    """(error relative to the output scale, acceptable?) - integers must be bit-exact."""
    got, ref = got.reshape(ref.shape), ref
    if np.issubdtype(ref.dtype, np.integer):
        err = float(np.abs(got.astype(np.int64) - ref.astype(np.int64)).max(initial=0))
        return err, err == 0
    scale = max(1.0, float(np.abs(ref).max(initial=0)))
    err = float(np.abs(got.astype(np.float64) - ref).max(initial=0)) / scale
    return err, err <= FLOAT_RTOL


def _ctx(art: CArtifact) -> dict[str, Any]:
    return context(art.program, RenderOptions(prefix=art.prefix, target=art.target))


def _check_x(art: CArtifact, x: np.ndarray) -> np.ndarray:
    v = art.program.value(art.program.inputs[0])
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
    err, ok = compare(got, ref) if ref is not None else (float("nan"), True)
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
        target.name, _metrics(art, target, sizes, per, stack, err), err, ok, layers
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


def measure_deploy(
    graph: Graph,
    x: np.ndarray,
    target: str,
    workdir: str | Path,
    prefix: str = "model",
    plan: str = "auto",
) -> DeployReport:
    """Export, run on ``target`` (host: compiled + ASan/UBSan check; MCU: QEMU) and compare."""
    prof = load_target(target)
    work = Path(workdir)
    art = export_c(graph, work / "c", target, prefix, plan, force=True)
    ref = reference(graph, x)
    if prof.is_mcu:
        return measure_mcu(art, x, work / "mcu", prof, ref)
    got = run_host(art, x, sanitize=True, workdir=work / "host")
    err, ok = compare(got, ref)
    ms = (
        Metric("arena_bytes", art.program.arena_bytes, "B", Provenance.COMPUTED, target),
        Metric("macs", art.program.macs, "MAC", Provenance.COMPUTED, target),
        Metric("c_max_rel_error", err, "1", Provenance.MEASURED, target),
    )
    return DeployReport(target, ms, err, ok)
