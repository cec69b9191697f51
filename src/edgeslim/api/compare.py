"""``edgeslim compare``: one model on every platform, measured the same way, in one table.

::

    cmp = compare(Path("model.onnx"), parse_platforms("cpu,gpu,mcu:cortex-m4,fpga:ice40"))
    cmp.rows      # one PlatformRow per (platform, engine, setting); "n/a" rows say why

Platforms and what runs there:

* ``cpu`` - neural nets: torch eager (when a checkpoint ``.pt`` sits next to the ONNX file),
  onnxruntime and the generated C (gcc -O2, one thread, batch 1); 1 thread and all threads,
  batch 1 and a large batch. Tree bundles: the generated C and the numpy reference predictor.
* ``gpu`` - :mod:`edgeslim.backends.gpu` (eager, compiled, fp16/bf16), "n/a" without CUDA.
* ``mcu:<target>`` - the generated C under QEMU (instructions, flash, RAM; latency and energy
  estimated from the target profile).
* ``fpga:ice40`` (or ``fpga:ice40-up5k`` / ``fpga:ice40-hx8k``) - Verilog for tree ensembles
  and Linear/ReLU MLPs (int8), simulated with Verilator on the test set (bit-exact against the
  Python reference, cycles counted) and synthesized with Yosys + nextpnr (LUTs, FFs, BRAM,
  fmax); latency = cycles / fmax (estimated).

Every number is a :class:`Metric` whose context is ``<platform>;<engine>;<setting>``; the
comparison is stored as one run (a ``compare`` step holds the rows, n/a reasons included).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, EdgeslimError, RecipeError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.progress import NullProgress, Progress

MEASURED, SIMULATED = Provenance.MEASURED, Provenance.SIMULATED
ESTIMATED, COMPUTED = Provenance.ESTIMATED, Provenance.COMPUTED
FPGA_PARTS = {"ice40": "auto", "ice40-up5k": "up5k", "ice40-hx8k": "hx8k"}
DEFAULT_PLATFORMS = "cpu,gpu,mcu:cortex-m4,fpga:ice40"
TABLE_METRICS = ("latency", "throughput", "energy", "power", "memory", "accuracy")


@dataclass(frozen=True, slots=True)
class PlatformRow:
    """One engine on one platform with one setting (threads, batch), or why it cannot run."""

    platform: str
    engine: str
    setting: str = ""
    status: str = "ok"  # "ok", "n/a" or "failed"
    reason: str = ""
    metrics: tuple[Metric, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def context(self) -> str:
        return f"{self.platform};{self.engine};{self.setting}"

    def value(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "engine": self.engine,
            "setting": self.setting,
            "status": self.status,
            "reason": self.reason,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    model: str
    kind: str  # "onnx" or "trees"
    rows: tuple[PlatformRow, ...]
    model_metrics: tuple[Metric, ...]
    run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "run": self.run,
            "model_metrics": {m.name: m.to_dict() for m in self.model_metrics},
            "rows": [r.to_dict() for r in self.rows],
        }


def parse_platforms(text: str) -> list[str]:
    """``"cpu,gpu,mcu:cortex-m4,fpga:ice40"`` -> checked platform names."""
    from edgeslim.targets import load_target

    out = []
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        kind, _, arg = raw.partition(":")
        if kind in ("cpu", "gpu") and not arg:
            out.append(kind)
        elif kind == "mcu" and arg:
            if not load_target(arg).is_mcu:
                raise RecipeError(f"--platforms: {arg!r} is not a microcontroller target")
            out.append(raw)
        elif kind == "fpga" and arg in FPGA_PARTS:
            out.append(raw)
        else:
            raise RecipeError(
                f"--platforms: unknown platform {raw!r}; use cpu, gpu, mcu:<target> "
                f"(edgeslim targets) or fpga:{'|'.join(FPGA_PARTS)}"
            )
    if not out:
        raise RecipeError("--platforms names no platform")
    return out


# ----------------------------------------------------------------------------- model loading
@dataclass
class _Subject:
    """What is compared: the model in every form we have, and its test data."""

    path: Path
    kind: str
    x: np.ndarray
    y: np.ndarray | None
    x_train: np.ndarray
    classes: int
    graph: Any = None
    onnx: Path | None = None
    module: Any = None  # raw-input torch module (normalization inside), when a checkpoint exists
    checkpoint: Any = None
    bundle: Any = None
    notes: list[str] = field(default_factory=list)


def _load_subject(model: Path, data: str | Path | None, seed: int) -> _Subject:
    if not model.is_file():
        raise DataError(f"model file {model} does not exist")
    if model.suffix == ".npz":
        return _load_trees(model, data)
    onnx_path = model if model.suffix == ".onnx" else model.with_suffix(".onnx")
    ckpt_path = model if model.suffix == ".pt" else model.with_suffix(".pt")
    if not onnx_path.is_file():
        raise DataError(f"{model}: compare needs the ONNX export next to it ({onnx_path})")
    from edgeslim.api.deploy import load_model

    graph = load_model(onnx_path)
    ckpt = None
    if ckpt_path.is_file():
        from edgeslim.models.checkpoint import load_checkpoint

        ckpt = load_checkpoint(ckpt_path)
    dataset = _dataset(data, ckpt, model, seed)
    module = None
    if ckpt is not None:
        from edgeslim.models.zoo import with_normalization

        module = with_normalization(ckpt.model, ckpt.normalization, ckpt.spec.input_shape).eval()
    y = dataset.y_test
    classes = int(dataset.spec.num_classes or 0)
    return _Subject(
        model, "onnx", dataset.x_test, y, dataset.x_train, classes, graph, onnx_path, module, ckpt
    )


def _dataset(data: str | Path | None, ckpt: Any, model: Path, seed: int) -> Any:
    from edgeslim.data import load_dataset, load_user_file

    if data is None:
        if ckpt is None:
            raise DataError(f"{model}: give --data (no checkpoint next to it names its dataset)")
        data = ckpt.spec.name
    p = Path(str(data))
    if str(data).endswith((".npz", ".csv")) or p.is_file():
        return load_user_file(p, seed=seed)
    return load_dataset(str(data), seed=seed)


def _load_trees(model: Path, data: str | Path | None) -> _Subject:
    from edgeslim.trees._io import load_bundle

    bundle = load_bundle(model)
    arrays = dict(bundle.data)
    if data is not None:
        try:
            with np.load(Path(str(data)), allow_pickle=False) as z:
                for k in ("x_train", "x_test", "y_test"):
                    if k in z.files:
                        arrays[k] = z[k]
        except (OSError, ValueError) as err:
            raise DataError(f"--data {data}: a tree bundle takes an .npz file ({err})") from None
    if "x_test" not in arrays or "x_train" not in arrays:
        raise DataError(
            f"{model}: the tree bundle needs x_train and x_test (import it with --data)"
        )
    ens = bundle.ensemble
    y = None
    if "y_test" in arrays and ens.classes:
        lookup = {c: i for i, c in enumerate(ens.classes)}
        y = np.array(
            [lookup.get(v.item() if hasattr(v, "item") else v, -1) for v in arrays["y_test"]]
        )
    x = np.asarray(arrays["x_test"], dtype=np.float32)
    return _Subject(
        model, "trees", x, y, np.asarray(arrays["x_train"]), ens.n_classes, bundle=bundle
    )


# ----------------------------------------------------------------------------- helpers
def _accuracy(pred: np.ndarray, y: np.ndarray | None) -> float | None:
    if y is None or len(pred) == 0:
        return None
    return float(np.mean(np.asarray(pred).reshape(len(pred)) == np.asarray(y)[: len(pred)]))


def _batch_of(x: np.ndarray, b: int) -> np.ndarray:
    reps = -(-b // len(x))
    return np.ascontiguousarray(np.concatenate([x] * reps)[:b])


def _timing(
    run: Callable[[np.ndarray], Any], x: np.ndarray, repeats: int, warmup: int = 3
) -> float:
    """Median seconds of ``run(x)``."""
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        run(x)
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) * 1e-9


def _speed_rows(
    platform: str,
    engine: str,
    make: Callable[[int | None], Callable[[np.ndarray], np.ndarray]],
    sub: _Subject,
    threads: Sequence[int],
    batches: Sequence[int],
    repeats: int,
    memory: float | None,
) -> list[PlatformRow]:
    rows = []
    for t in threads:
        run = make(t or None)
        acc = None
        if sub.y is not None and sub.classes:
            acc = _accuracy(np.argmax(run(sub.x).reshape(len(sub.x), -1), axis=1), sub.y)
        for b in batches:
            xb = _batch_of(sub.x, b)
            setting = f"{'t' + str(t) if t else 'tall'},b{b}"
            ctx = f"{platform};{engine};{setting}"
            lat = _timing(run, xb, repeats if b == 1 else max(3, repeats // 10))
            ms = [
                Metric("latency", lat, "s", MEASURED, ctx),
                Metric("throughput", b / lat, "samples/s", MEASURED, ctx),
            ]
            if memory is not None:
                ms.append(Metric("memory", memory, "B", COMPUTED, ctx))
            if acc is not None:
                ms.append(Metric("accuracy", acc, "1", MEASURED, ctx))
            rows.append(PlatformRow(platform, engine, setting, metrics=tuple(ms)))
    return rows


def _na(platform: str, engine: str, reason: str) -> PlatformRow:
    return PlatformRow(platform, engine, status="n/a", reason=reason)


# ----------------------------------------------------------------------------- CPU
def _cpu_nn(sub: _Subject, opts: _Options, work: Path) -> list[PlatformRow]:
    from edgeslim.backends import get_backend

    rows: list[PlatformRow] = []
    assert sub.onnx is not None
    size = float(sub.onnx.stat().st_size)

    def ort(threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
        return get_backend("onnxruntime", threads=threads).load(str(sub.onnx)).run

    rows += _speed_rows(
        "cpu", "onnxruntime", ort, sub, opts.threads, opts.batches, opts.repeats, size
    )
    if sub.module is not None:

        def eager(threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
            return get_backend("torch", threads=threads).load(sub.module).run

        rows += _speed_rows(
            "cpu", "torch eager", eager, sub, opts.threads, opts.batches, opts.repeats, size
        )
    else:
        rows.append(
            _na(
                "cpu",
                "torch eager",
                f"no checkpoint {sub.path.with_suffix('.pt').name} next to the ONNX file",
            )
        )
    rows.append(_c_host(sub, work / "c-host", opts))
    return rows


def _c_host(sub: _Subject, work: Path, opts: _Options) -> PlatformRow:
    """The generated C library on the host (gcc -O2, batch 1 in a loop): per-sample time from
    the difference of a long and a short run of the same program."""
    from edgeslim.api.deploy import _ctx, export_c
    from edgeslim.backends import host_c
    from edgeslim.codegen._c import CWriter, RenderedFile

    ctx_name = "cpu;generated C;t1,b1"
    try:
        art = export_c(sub.graph, work, "host", force=True)
        w = CWriter()
        w.write(
            [RenderedFile("harness_host.c", w.render("nn/harness_host.c.j2", _ctx(art)))], work
        )
        exe = host_c.compile_executable(
            [art.source, work / "harness_host.c"], work / "model_host", include_dirs=[work]
        )
    except EdgeslimError as err:
        return PlatformRow("cpu", "generated C", "t1,b1", "failed", str(err)[:300])
    v = art.program.value(art.program.inputs[0])
    x = np.ascontiguousarray(sub.x, dtype=v.dtype)
    out = host_c.run_program(exe, stdin=x.tobytes())
    vo = art.program.value(art.program.outputs[0])
    got = np.frombuffer(out, dtype=vo.dtype).reshape(len(x), -1)
    n_long = max(opts.c_samples, len(x))
    x_long = _batch_of(x, n_long).tobytes()
    x_short = x[:1].tobytes()
    t_long = min(_wall(lambda: host_c.run_program(exe, stdin=x_long)) for _ in range(3))
    t_short = min(_wall(lambda: host_c.run_program(exe, stdin=x_short)) for _ in range(3))
    lat = max(t_long - t_short, 1e-9) / (n_long - 1)
    ms = [
        Metric("latency", lat, "s", MEASURED, ctx_name),
        Metric("throughput", 1.0 / lat, "samples/s", MEASURED, ctx_name),
        Metric(
            "memory", float(art.program.arena_bytes + 4 * _n_params(sub)), "B", COMPUTED, ctx_name
        ),
    ]
    acc = _accuracy(np.argmax(got, axis=1), sub.y) if sub.classes else None
    if acc is not None:
        ms.append(Metric("accuracy", acc, "1", MEASURED, ctx_name))
    return PlatformRow(
        "cpu",
        "generated C",
        "t1,b1",
        metrics=tuple(ms),
        details={"timing": "difference of runs with 1 and N samples", "n": n_long},
    )


def _wall(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _n_params(sub: _Subject) -> int:
    from edgeslim.measure import structure_metrics

    for m in structure_metrics(sub.graph):
        if m.name == "params":
            return int(m.value)
    return 0


def _cpu_trees(sub: _Subject, opts: _Options, work: Path) -> list[PlatformRow]:
    from edgeslim.codegen.trees._options import CTreeOptions
    from edgeslim.codegen.trees.measure import measure_host
    from edgeslim.codegen.trees.pipeline import ExportConfig, prepare, reference, render
    from edgeslim.trees import predict_index

    ens = sub.bundle.ensemble
    rows: list[PlatformRow] = []
    ref = reference(ens, sub.x, None)
    ref = type(ref)(ref.x, ref.pred, ref.proba, sub.y)
    prep = prepare(ens, ExportConfig(), sub.x_train)
    art = render(prep, CTreeOptions(name="model"))
    m = measure_host(art, ref, reps=opts.repeats // 5 or 1)
    ctx = "cpu;generated C;t1,b1"
    lat = m.value("host_latency_per_sample")
    ms = [
        Metric("latency", lat, "s", MEASURED, ctx),
        Metric("throughput", 1.0 / lat, "samples/s", MEASURED, ctx),
        Metric("memory", float(len(art.files[-1].text)), "B", COMPUTED, ctx),
    ]
    if any(x.name == "accuracy" for x in m.metrics):
        ms.append(Metric("accuracy", m.value("accuracy"), "1", MEASURED, ctx))
    rows.append(
        PlatformRow(
            "cpu",
            "generated C",
            "t1,b1",
            metrics=tuple(ms),
            details={"memory": "bytes of the generated C source"},
        )
    )
    for b in opts.batches:
        xb = _batch_of(sub.x, b)
        ctx = f"cpu;numpy reference;t1,b{b}"
        lat = _timing(lambda v: predict_index(ens, v), xb, max(3, opts.repeats // 10))
        ms = [
            Metric("latency", lat, "s", MEASURED, ctx),
            Metric("throughput", b / lat, "samples/s", MEASURED, ctx),
        ]
        acc = _accuracy(predict_index(ens, sub.x), sub.y)
        if acc is not None:
            ms.append(Metric("accuracy", acc, "1", MEASURED, ctx))
        rows.append(PlatformRow("cpu", "numpy reference", f"t1,b{b}", metrics=tuple(ms)))
    reason = (
        "tree bundles run as generated C or the numpy reference; "
        "edgeslim has no ONNX/torch form of them"
    )
    rows += [_na("cpu", "onnxruntime", reason), _na("cpu", "torch eager", reason)]
    return rows


# ----------------------------------------------------------------------------- GPU
def _gpu(sub: _Subject, opts: _Options) -> list[PlatformRow]:
    from edgeslim.backends import gpu

    reason = gpu.gpu_unavailable_reason()
    if reason:
        return [_na("gpu", "torch cuda", reason)]
    if sub.kind == "trees":
        return [_na("gpu", "torch cuda", "no GPU path for tree ensembles in edgeslim")]
    if sub.module is None:
        return [_na("gpu", "torch cuda", "needs the torch checkpoint (.pt) next to the ONNX file")]
    rows = []
    for variant in gpu.variants(sparse=False):
        engine = f"torch {variant.label}"
        try:
            m = gpu.prepare(sub.module, variant)
            _acc_ms, out = gpu.time_gpu(m, sub.x, variant, repeats=5, context="")
            acc = _accuracy(np.argmax(out.reshape(len(sub.x), -1), axis=1), sub.y)
            for b in opts.batches:
                ctx = f"gpu;{engine};b{b}"
                ms, _ = gpu.time_gpu(
                    m, _batch_of(sub.x, b), variant, repeats=opts.repeats // 2 or 1, context=ctx
                )
                extra = [Metric("accuracy", acc, "1", MEASURED, ctx)] if acc is not None else []
                rows.append(
                    PlatformRow(
                        "gpu",
                        engine,
                        f"b{b}",
                        metrics=(*ms, *extra),
                        details={"device": gpu.gpu_name()},
                    )
                )
        except Exception as err:
            rows.append(PlatformRow("gpu", engine, status="failed", reason=str(err)[:300]))
    return rows


# ----------------------------------------------------------------------------- MCU
def _mcu(sub: _Subject, target: str, opts: _Options, work: Path) -> list[PlatformRow]:
    from edgeslim.backends.qemu import mcu_toolchain_available
    from edgeslim.targets import load_target

    prof = load_target(target)
    platform = f"mcu:{target}"
    if not mcu_toolchain_available(prof):
        return [
            _na(
                platform, "generated C", f"needs {prof.cc}, arm-none-eabi-size and qemu-system-arm"
            )
        ]
    n = min(opts.mcu_samples, len(sub.x))
    ctx = f"{platform};generated C;b1"
    try:
        if sub.kind == "trees":
            ms = _mcu_trees(sub, prof, n, ctx)
        else:
            ms = _mcu_nn(sub, target, n, ctx, work)
    except EdgeslimError as err:
        return [PlatformRow(platform, "generated C", "b1", "failed", str(err)[:400])]
    return [
        PlatformRow(
            platform,
            "generated C",
            "b1",
            metrics=tuple(ms),
            details={"samples": n, "test_samples": len(sub.x)},
        )
    ]


def _mcu_nn(sub: _Subject, target: str, n: int, ctx: str, work: Path) -> list[Metric]:
    from edgeslim.api.deploy import measure_deploy, reference

    rep = measure_deploy(sub.graph, sub.x[:n], target, work / "mcu")
    by = {m.name: m for m in rep.metrics}
    ms = []
    for name, new in (("latency", "latency"), ("energy", "energy")):
        if name in by:
            ms.append(Metric(new, by[name].value, by[name].unit, by[name].provenance, ctx))
    if "latency" in by:
        ms.append(Metric("throughput", 1.0 / by["latency"].value, "samples/s", ESTIMATED, ctx))
    mem = by["flash_bytes"].value + by["static_ram_bytes"].value + by["arena_bytes"].value
    ms.append(Metric("memory", mem, "B", COMPUTED, ctx))
    ms.append(Metric("instructions", by["instructions"].value, "instr", SIMULATED, ctx))
    ms.append(Metric("flash", by["flash_bytes"].value, "B", COMPUTED, ctx))
    if sub.classes and sub.y is not None and rep.exact:
        ref = reference(sub.graph, sub.x[:n])
        ms.append(
            Metric(
                "accuracy",
                _accuracy(np.argmax(ref, axis=1), sub.y[:n]) or 0.0,
                "1",
                SIMULATED,
                ctx,
            )
        )
    return ms


def _mcu_trees(sub: _Subject, prof: Any, n: int, ctx: str) -> list[Metric]:
    from edgeslim.codegen.trees._options import CTreeOptions
    from edgeslim.codegen.trees.compiled import CompiledTrees
    from edgeslim.codegen.trees.measure import measure_mcu
    from edgeslim.codegen.trees.pipeline import ExportConfig, prepare, reference, render

    ens = sub.bundle.ensemble
    ref = reference(ens, sub.x[:n], None)
    art = render(prepare(ens, ExportConfig(), sub.x_train), CTreeOptions(name="model"))
    with CompiledTrees.build(art) as c:
        x_in = c.encode(ref.x)
    m = measure_mcu(art, prof, ref, x_in)
    instr = m.value("instructions_per_sample")
    ms = [Metric("instructions", instr, "instr", SIMULATED, ctx)]
    if prof.clock_hz:
        ms.append(Metric("latency", instr / prof.clock_hz, "s", ESTIMATED, ctx))
        ms.append(Metric("throughput", prof.clock_hz / instr, "samples/s", ESTIMATED, ctx))
    if prof.energy.joules_per_cycle is not None:
        ms.append(Metric("energy", instr * prof.energy.joules_per_cycle, "J", ESTIMATED, ctx))
    ms.append(Metric("memory", m.value("flash") + m.value("ram"), "B", COMPUTED, ctx))
    ms.append(Metric("flash", m.value("flash"), "B", COMPUTED, ctx))
    if sub.y is not None and m.value("agreement") == 1.0:
        from edgeslim.trees import predict_index

        acc = _accuracy(predict_index(ens, sub.x[:n]), sub.y[:n])
        ms.append(Metric("accuracy", acc or 0.0, "1", SIMULATED, ctx))
    return ms


# ----------------------------------------------------------------------------- FPGA
def _fpga(sub: _Subject, platform: str, opts: _Options, work: Path) -> list[PlatformRow]:
    from edgeslim.backends import fpga

    part = FPGA_PARTS[platform.partition(":")[2]]
    engine = "verilog"
    if not fpga.simulator_available():
        return [
            _na(platform, engine, "needs verilator and a C++ compiler (apt install verilator)")
        ]
    try:
        hw = _fpga_design(sub, opts)
    except EdgeslimError as err:
        return [_na(platform, engine, str(err))]
    art, codes, ref_y, ref_cls, host_pred = hw
    src = work / "fpga" / art.name
    art.write(src, force=True)
    n = min(opts.fpga_samples, len(codes))
    sim = fpga.simulate(
        src, art.name, art.pack_inputs(codes[:n]), (art.out_width + 31) // 32, src / "sim"
    )
    got = art.unpack_outputs(sim.words)
    exact = bool(
        np.array_equal(got, ref_y[:n])
        and (not art.has_cls or np.array_equal(sim.cls, ref_cls[:n]))
    )
    ctx = f"{platform};{engine};b1"
    lat_cycles = float(np.max(sim.latency)) if len(sim.latency) else float("nan")
    ii = (sim.span - lat_cycles) / (n - 1) if art.pipelined and n > 1 else lat_cycles + 1
    ms = [
        Metric("cycles", lat_cycles, "cycles", SIMULATED, ctx),
        Metric("initiation_interval", ii, "cycles", SIMULATED, ctx),
        Metric("exact", float(exact), "1", SIMULATED, ctx),
    ]
    pred = host_pred(got)
    float_pred = _float_prediction(sub, n)
    if float_pred is not None:
        agree = float(np.mean(np.asarray(pred) == float_pred))
        ms.append(Metric("agreement", agree, "1", SIMULATED, ctx))
    acc = _accuracy(pred, sub.y[:n] if sub.y is not None else None)
    if acc is not None:
        ms.append(Metric("accuracy", acc, "1", SIMULATED, ctx))
    details: dict[str, Any] = {
        "samples": n,
        "test_samples": len(codes),
        "design": dict(art.info),
        "part_request": part,
    }
    status, reason = "ok", ""
    if not exact:
        status, reason = "failed", "simulation differs from the Python reference"
    if not opts.synthesize:
        reason = reason or "synthesis not run (--no-synth)"
    elif fpga.synthesis_available():
        syn = fpga.synthesize(src, art.name, src / "synth", part)
        details["synthesis"] = syn.to_dict()
        ms += [
            Metric("luts", syn.luts, "LUT", COMPUTED, ctx),
            Metric("ffs", syn.ffs, "FF", COMPUTED, ctx),
            Metric("brams", syn.brams, "BRAM", COMPUTED, ctx),
        ]
        if syn.fits and syn.fmax_hz:
            ms += [
                Metric("fmax", syn.fmax_hz, "Hz", ESTIMATED, ctx),
                Metric("latency", lat_cycles / syn.fmax_hz, "s", ESTIMATED, ctx),
                Metric("throughput", syn.fmax_hz / ii, "samples/s", ESTIMATED, ctx),
            ]
            platform_row = f"{platform}-{syn.part}" if part == "auto" else platform
            return [PlatformRow(platform_row, engine, "b1", status, reason, tuple(ms), details)]
        reason = reason or f"does not fit an iCE40 part ({syn.message})"
    else:
        reason = reason or "synthesis skipped: needs yosys and nextpnr-ice40"
    return [PlatformRow(platform, engine, "b1", status, reason, tuple(ms), details)]


def _float_prediction(sub: _Subject, n: int) -> np.ndarray | None:
    """Class predictions of the float model on the first ``n`` test samples."""
    if not sub.classes:
        return None
    if sub.kind == "trees":
        from edgeslim.trees import predict_index

        return np.asarray(predict_index(sub.bundle.ensemble, sub.x[:n]))
    if sub.module is None:
        return None
    import torch

    with torch.inference_mode():
        out = sub.module(torch.from_numpy(np.ascontiguousarray(sub.x[:n], dtype=np.float32)))
    return np.asarray(out.numpy().reshape(n, -1).argmax(axis=1))


def _fpga_design(
    sub: _Subject, opts: _Options
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    if sub.kind == "trees":
        from edgeslim.codegen.verilog import tree_verilog

        hw = tree_verilog(sub.bundle.ensemble, sub.x_train, name="trees", leaf_bits=16)
        codes = hw.encode(sub.x)
        ref_y, ref_cls = hw.reference(codes)
        return hw.artifact, codes, ref_y, ref_cls, hw.predict_index
    from edgeslim._core.errors import ModelError
    from edgeslim.codegen.verilog.mlp import mlp_verilog, quantize_mlp

    if sub.checkpoint is None:
        raise EdgeslimError(
            "the FPGA MLP path needs the torch checkpoint (.pt) next to the ONNX file"
        )
    try:
        mlp = quantize_mlp(sub.checkpoint.model, sub.x_train[:512], sub.checkpoint.normalization)
    except ModelError as err:
        ops = sorted({n.op for n in sub.graph.nodes})
        raise EdgeslimError(
            f"the FPGA generators take tree ensembles and Linear/ReLU MLPs; {err} "
            f"(graph ops: {', '.join(ops)})"
        ) from None
    codes = mlp.encode(sub.x)
    ref_y, ref_cls = mlp.reference(codes)
    return mlp_verilog(mlp, name="mlp"), codes, ref_y, ref_cls, lambda y: np.argmax(y, axis=1)


# ----------------------------------------------------------------------------- the verb
@dataclass(frozen=True, slots=True)
class _Options:
    threads: tuple[int, ...] = (1, 0)
    batches: tuple[int, ...] = (1, 256)
    repeats: int = 50
    mcu_samples: int = 20
    fpga_samples: int = 1000
    c_samples: int = 2000
    synthesize: bool = True


def compare(
    model: str | Path,
    platforms: Sequence[str] | str = DEFAULT_PLATFORMS,
    data: str | Path | None = None,
    *,
    batches: Sequence[int] = (1, 256),
    threads: Sequence[int] = (1, 0),
    repeats: int = 50,
    mcu_samples: int = 20,
    fpga_samples: int = 1000,
    synthesize: bool = True,
    workdir: str | Path | None = None,
    store: Any = None,
    name: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Comparison:
    """Run ``model`` (ONNX with an optional ``.pt`` beside it, or a tree bundle ``.npz``) on
    each platform; store the comparison as a run when ``store`` is given."""
    plats = parse_platforms(platforms) if isinstance(platforms, str) else list(platforms)
    if any(b < 1 for b in batches) or not batches:
        raise RecipeError(f"--batches must be positive integers; got {list(batches)}")
    if any(t < 0 for t in threads) or not threads:
        raise RecipeError(f"--threads must be integers >= 0 (0 = all cores); got {list(threads)}")
    opts = _Options(
        tuple(threads),
        tuple(batches),
        max(repeats, 3),
        mcu_samples,
        fpga_samples,
        synthesize=synthesize,
    )
    path = Path(model)
    sub = _load_subject(path, data, seed)
    progress = progress or NullProgress()
    task = progress.task(f"compare {path.name}", len(plats))
    rows: list[PlatformRow] = []
    with tempfile.TemporaryDirectory(prefix="edgeslim-compare-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        for plat in plats:
            kind = plat.partition(":")[0]
            if kind == "cpu":
                rows += (
                    _cpu_trees(sub, opts, work)
                    if sub.kind == "trees"
                    else _cpu_nn(sub, opts, work)
                )
            elif kind == "gpu":
                rows += _gpu(sub, opts)
            elif kind == "mcu":
                rows += _mcu(sub, plat.partition(":")[2], opts, work)
            else:
                rows += _fpga(sub, plat, opts, work)
            task.advance()
    task.done()
    model_ms = _model_metrics(sub)
    cmp = Comparison(str(path), sub.kind, tuple(rows), model_ms)
    if store is not None:
        run = _store(store, name or f"compare-{path.parent.name}-{path.stem}", cmp, plats)
        cmp = Comparison(cmp.model, cmp.kind, cmp.rows, cmp.model_metrics, run)
    return cmp


def _model_metrics(sub: _Subject) -> tuple[Metric, ...]:
    size = float(os.path.getsize(sub.path))
    ms = [Metric("model_bytes", size, "B", COMPUTED, "")]
    if sub.kind == "trees":
        ens = sub.bundle.ensemble
        ms += [
            Metric("params", float(ens.n_nodes), "nodes", COMPUTED, ""),
            Metric("n_trees", float(ens.n_trees), "1", COMPUTED, ""),
        ]
    else:
        ms.append(Metric("params", float(_n_params(sub)), "1", COMPUTED, ""))
    return tuple(ms)


def _store(store: Any, name: str, cmp: Comparison, plats: Sequence[str]) -> str:
    run = store.create_run(name, model={"path": cmp.model, "kind": cmp.kind})
    try:
        step = store.add_step(
            run.id,
            "compare",
            "platforms",
            {
                "platforms": list(plats),
                "model": cmp.model,
                "kind": cmp.kind,
                "rows": [r.to_dict() for r in cmp.rows],
            },
        )
        store.add_metrics(run.id, list(cmp.model_metrics))
        store.add_metrics(
            run.id,
            [dataclass_replace(m, r.context) for r in cmp.rows for m in r.metrics],
            step=step,
        )
        store.add_artifact(run.id, "model", cmp.model)
    except Exception:
        store.finish_run(run.id, "failed")
        raise
    store.finish_run(run.id, "finished")
    return str(run.name)


def dataclass_replace(m: Metric, context: str) -> Metric:
    return Metric(m.name, m.value, m.unit, m.provenance, context)
