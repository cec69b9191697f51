"""``edgeslim export`` and ``edgeslim deploy measure``: C99 for microcontrollers, measured.

``export MODEL.onnx --target cortex-m4 -o out/`` writes model.h, model.c, Makefile, README.md.
``--io int8`` (QDQ models): ``model_run`` takes and returns int8 codes, as TFLite Micro models do.
``measure MODEL.onnx --target cortex-m4 --data test.npz`` (or ``--dataset digits``) exports to a
work folder, runs the test inputs on the target (host: ASan/UBSan build; MCU: QEMU), checks the
outputs against the numpy reference and stores the metrics as a run. User errors are
:class:`EdgeslimError` subclasses (one line, exit 2 from the main CLI).
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from edgeslim._core.errors import DataError, EdgeslimError

app = typer.Typer(
    help="Generated C for microcontrollers: export and measure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Fmt(enum.StrEnum):
    table = "table"
    json = "json"


class PlanOpt(enum.StrEnum):
    auto = "auto"
    greedy = "greedy"
    exact = "exact"


class LayoutOpt(enum.StrEnum):
    default = "default"
    auto = "auto"
    direct = "direct"
    im2col = "im2col"
    im2col2 = "im2col2"


class IOOpt(enum.StrEnum):
    float32 = "float"
    int8 = "int8"


class RoundingOpt(enum.StrEnum):
    single = "single"
    double = "double"


ModelArg = Annotated[
    Path,
    typer.Argument(
        help="ONNX model: float32, or int8 QDQ (edgeslim quantize apply); or int8 .tflite."
    ),
]
SimdArg = Annotated[
    bool | None,
    typer.Option(
        "--simd/--no-simd",
        help="int8 SIMD variant (SXTB16/SMLAD); default: on where the target has DSP.",
    ),
]
RoundingArg = Annotated[
    RoundingOpt,
    typer.Option(
        "--rounding",
        help="int8 requantization: single (onnxruntime codes) or double (TFLite/gemmlowp).",
    ),
]
LayoutArg = Annotated[
    LayoutOpt,
    typer.Option(
        "--layout",
        help="int8 Conv/Gemm algorithm: default (im2col with SIMD, else direct), direct, "
        "im2col, im2col2 (padded int16 copy once per layer), or auto (measured per layer on "
        "the emulated target).",
    ),
]
IOArg = Annotated[
    IOOpt,
    typer.Option(
        "--io",
        help="Model input/output type: float (as the graph), or int8 (QDQ models whose input "
        "feeds a QuantizeLinear and whose output comes from a DequantizeLinear): model_run "
        "takes and returns the int8 codes, model.h gives their scales and zero points.",
    ),
]
TargetOpt = Annotated[
    str, typer.Option("--target", help="host, cortex-m0plus, cortex-m4, cortex-m7")
]
PlanArg = Annotated[PlanOpt, typer.Option("--plan", help="Arena planner: auto, greedy, exact")]
FmtArg = Annotated[Fmt, typer.Option("--format", help="table or json")]


def _arena_row(program: Any) -> str:
    """Arena bytes, plan, and the caller's buffers used in place (not in the arena)."""
    ext = [f"{k} {program.external_bytes(k)} B" for k in ("input", "output")]
    ext = [e for e in ext if not e.endswith(" 0 B")]
    extra = f"; in place, not in it: {', '.join(ext)}" if ext else ""
    return f"{program.arena_bytes} B ({program.plan.method} plan{extra})"


def _print(data: dict[str, Any], fmt: Fmt, rows: list[tuple[str, str]]) -> None:
    if fmt is Fmt.json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    width = max((len(k) for k, _ in rows), default=0)
    for k, v in rows:
        typer.echo(f"{k.ljust(width)}  {v}")


@app.command("export")
def export(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    target: TargetOpt = "cortex-m4",
    prefix: Annotated[str, typer.Option("--prefix", help="C API prefix")] = "model",
    plan: PlanArg = PlanOpt.auto,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    simd: SimdArg = None,
    rounding: RoundingArg = RoundingOpt.single,
    layout: LayoutArg = LayoutOpt.default,
    io: IOArg = IOOpt.float32,
    fmt: FmtArg = Fmt.table,
) -> None:
    """Write a self-contained C99 library (caller-owned arena, no malloc).

    Example: edgeslim export model_int8.onnx --target cortex-m4 -o out/ --simd --layout auto
    (add --io int8 for int8 input and output codes).
    """
    from edgeslim.api import deploy

    graph = deploy.load_model(model)
    if deploy.is_tflite(model):  # TFLite int8 requantizes with double rounding
        rounding = RoundingOpt.double
    qopts = deploy.default_qoptions(target, simd, rounding.value)
    choices: tuple[dict[str, Any], ...] = ()
    if layout is LayoutOpt.auto:
        shape = [1 if d is None else int(d) for d in graph.inputs[0].shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with tempfile.TemporaryDirectory(prefix="edgeslim-layout-") as tmp:
            qopts, choices = deploy.choose_layouts(
                graph, x, target, tmp, qopts, plan.value, io.value
            )
    elif layout is not LayoutOpt.default:
        qopts = deploy.with_algorithm(graph, plan.value, qopts, layout.value, io.value)
    art = deploy.export_c(graph, out, target, prefix, plan.value, force, qopts, io.value)
    options = deploy.program_options(art.program)
    data = {
        "files": [str(p) for p in art.files],
        "arena_bytes": art.program.arena_bytes,
        "in_place_bytes": {k: art.program.external_bytes(k) for k in ("input", "output")},
        "plan": art.program.plan.method,
        "macs": art.program.macs,
        "steps": len(art.program.steps),
        "options": options,
        "layout_choices": list(choices),
    }
    rows = [
        ("files", ", ".join(p.name for p in art.files)),
        ("arena", _arena_row(art.program)),
        ("MACs", str(art.program.macs)),
        ("folder", str(out)),
    ]
    if art.program.int8:
        rows.append(("int8", _int8_row(options)))
    if art.program.io == "int8":
        rows.append(("io", _io_row(art.program)))
    rows += [(f"layout {c['node']}", _choice_row(c)) for c in choices]
    _print(data, fmt, rows)


def _io_row(program: Any) -> str:
    i, o = program.io_inputs[0], program.io_outputs[0]
    return (
        f"int8 codes: input scale {i.scale:.6g} zero point {i.zero_point}, "
        f"output scale {o.scale:.6g} zero point {o.zero_point}"
    )


def _int8_row(o: dict[str, Any]) -> str:
    algos = ", ".join(sorted(set(o["algorithms"].values()))) or "-"
    simd = "SIMD" if o["simd"] else "plain"
    return f"{simd}, {o['rounding']} rounding, algorithms: {algos}"


def _choice_row(c: dict[str, Any]) -> str:
    counts = ", ".join(f"{a} {c[a]:.0f}" for a in ("direct", "im2col", "im2col2") if a in c)
    return f"{c['chosen']} (instructions: {counts})"


def _inputs(
    data: Path | None, dataset: str | None, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Test inputs and, where the file or dataset has them, their labels."""
    y = None
    if data is not None:
        if not data.is_file():
            raise DataError(f"data file {data} does not exist")
        with np.load(data) as z:
            key = "x_test" if "x_test" in z else "x" if "x" in z else None
            if key is None:
                raise DataError(f"{data}: needs an array named x_test or x")
            x = np.asarray(z[key], dtype=np.float32)
            ykey = {"x_test": "y_test", "x": "y"}[key]
            y = np.asarray(z[ykey]) if ykey in z else None
    elif dataset is not None:
        from edgeslim import data as data_mod

        ds = data_mod.load_dataset(dataset, seed=seed)
        x, y = ds.x_test.astype(np.float32), ds.y_test
    else:
        raise DataError("measure needs test inputs: pass --data FILE.npz or --dataset NAME")
    if y is not None and (y.ndim != 1 or not np.issubdtype(y.dtype, np.integer)):
        y = None  # accuracy only for class indices
    return x[:samples], None if y is None else y[:samples]


def _store(store: str, model: Path, report: Any) -> int:
    from edgeslim.store import open_store

    db = open_store(store or os.environ.get("EDGESLIM_STORE", "") or "edgeslim.db")
    try:
        run = db.create_run(
            f"deploy-{model.stem}-{report.target}",
            model={"path": str(model), "target": report.target},
        )
        step = db.add_step(run.id, "measure", f"c-{report.target}", report.to_dict())
        db.add_metrics(run.id, report.metrics, step)
        db.finish_run(run.id)
        return int(run.id)
    finally:
        db.close()


@app.command("measure")
def measure(
    model: ModelArg,
    target: TargetOpt = "cortex-m4",
    data: Annotated[Path | None, typer.Option("--data", help="Test inputs (.npz, x_test)")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Registered dataset")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Test samples to run")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    plan: PlanArg = PlanOpt.auto,
    store: Annotated[str, typer.Option("--store", help="Store URL or SQLite path")] = "",
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the run")] = False,
    simd: SimdArg = None,
    rounding: RoundingArg = RoundingOpt.single,
    layout: LayoutArg = LayoutOpt.default,
    io: IOArg = IOOpt.float32,
    fmt: FmtArg = Fmt.table,
) -> None:
    """Flash, RAM, arena, stack, instructions (total, per layer), energy; outputs checked;
    accuracy of the C's outputs where the test data has class labels.

    With --io int8 the float test inputs are quantized by the model's QuantizeLinear (round half
    to even, saturate) and the C and the reference run on the int8 codes.

    Example: edgeslim deploy measure model_int8.onnx --dataset digits --target cortex-m4 --simd
    """
    from edgeslim.api import deploy

    graph = deploy.load_model(model)
    x, y = _inputs(data, dataset, samples, seed)
    if deploy.is_tflite(model):  # frames -> frames + streaming state; TFLite's rounding
        x, rounding, y = deploy.tflite_inputs(model, x), RoundingOpt.double, None
    qopts = deploy.default_qoptions(target, simd, rounding.value)
    with tempfile.TemporaryDirectory(prefix="edgeslim-deploy-") as tmp:
        report = deploy.measure_deploy(
            graph,
            x,
            target,
            tmp,
            plan=plan.value,
            qopts=qopts,
            layout=layout.value,
            io=io.value,
            labels=y,
        )
    if not report.exact:
        raise EdgeslimError(
            f"generated C differs from the reference on {target}: error {report.max_error:.3g}"
        )
    out = report.to_dict()
    if not no_store:
        out["run_id"] = _store(store, model, report)
    rows = [(m.key, f"{m.value:.6g} {m.unit} ({m.provenance.value})") for m in report.metrics]
    rows.append(("outputs", f"match reference (error {report.max_error:.2e})"))
    if report.options.get("int8"):
        rows.append(("int8", _int8_row(report.options)))
    if report.options.get("io") == "int8":
        rows.append(("io", "int8 codes in and out (inputs quantized by the model's Q node)"))
    rows += [(f"layout {c['node']}", _choice_row(c)) for c in report.choices]
    _print(out, fmt, rows)
