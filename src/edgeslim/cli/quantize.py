"""``edgeslim quantize``: quantize a trained checkpoint or ONNX model (``apply``), compare runs.

``apply`` runs the pipeline with a quantization pass (the artifact it measures and stores is the
quantized ONNX) and adds the guarantees against the float model; ``compare`` prints accuracy,
size, latency and guarantees of stored runs side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from edgeslim._core.errors import RecipeError
from edgeslim._core.records import Metric
from edgeslim.cli._options import ForceOpt, Format, FormatOpt, OutOpt, StoreOpt

app = typer.Typer(
    help="Quantize models (int8 PTQ, dynamic, float16, int4/int2, QAT, binary, mixed).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COLUMNS = (
    ("accuracy", "accuracy", ""),
    ("agree float", "prediction_agreement", "float"),
    ("max |dev|", "output_max_abs_diff", "float"),
    ("mean |dev|", "output_mean_abs_diff", "float"),
    ("bound", "output_deviation_bound", "float"),
    ("ONNX bytes", "artifact_bytes", ""),
    ("ort p50 (s)", "latency_p50", "onnxruntime,t1,b1"),
)


def _store(url: str) -> Any:
    from edgeslim import api

    return api.open_store(url or os.environ.get("EDGESLIM_STORE", "") or "edgeslim.db")


def _sets(items: list[str]) -> tuple[tuple[str, Any], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"option --set takes KEY=VALUE; got {item!r}")
        out.append((key.strip(), yaml.safe_load(value)))
    return tuple(out)


def _find(metrics: tuple[Metric, ...], name: str, context: str) -> Metric | None:
    return next((m for m in metrics if m.name == name and m.context == context), None)


def _rows(named: list[tuple[str, tuple[Metric, ...]]]) -> list[dict[str, Any]]:
    rows = []
    for name, metrics in named:
        row: dict[str, Any] = {"run": name}
        for title, metric, ctx in _COLUMNS:
            m = _find(metrics, metric, ctx)
            row[title] = None if m is None else m.value
        rows.append(row)
    return rows


def _print(rows: list[dict[str, Any]], fmt: str, title: str) -> None:
    import json

    if fmt == "json":
        typer.echo(json.dumps({"runs": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="left" if key == "run" else "right")
    for row in rows:
        cells = [
            "-" if v is None else (v if isinstance(v, str) else f"{v:.4g}") for v in row.values()
        ]
        table.add_row(*cells)
    Console(width=160).print(table)


@app.command()
def apply(
    model: Annotated[
        Path,
        typer.Argument(
            help="Float checkpoint (.pt from 'edgeslim train') or float ONNX model (raw "
            "inputs; post-training methods ptq, ptq-w4, dynamic, fp16, int4, int2 only)."
        ),
    ],
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or .npz/.csv file.")],
    method: Annotated[
        str, typer.Option("--method", help="ptq, ptq-w4, dynamic, fp16, int4, int2, qat, ...")
    ] = "ptq",
    sets: Annotated[
        list[str], typer.Option("--set", help="Pass parameter KEY=VALUE (repeatable).")
    ] = [],  # noqa: B006
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    lr: Annotated[float, typer.Option(help="Fine-tuning learning rate (QAT).")] = 1e-3,
    threads: Annotated[str, typer.Option(help="Thread counts, 0 = all cores.")] = "1",
    repeats: Annotated[int, typer.Option(help="Timed repeats per latency.")] = 50,
    store: Annotated[str, typer.Option(help="Result store (SQLite path or URL).")] = "",
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for artifacts.")] = Path(
        "edgeslim-out"
    ),
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
) -> None:
    """Quantize MODEL, export the quantized ONNX, measure it and store the numbers.

    Example: edgeslim quantize apply out/digits-cnn/model.pt --data digits --method ptq
    --set calibrator=mse --set equalize=true --set bias_correction=true

    An ONNX model works too (post-training methods):
    edgeslim quantize apply out/digits-cnn/model.onnx --data digits --method dynamic
    """
    from edgeslim.api.quantize import QuantizeRequest, quantize

    request = QuantizeRequest(
        model=model,
        data=data,
        method=method,
        params=_sets(sets),
        name=name,
        seed=seed,
        train=(("lr", lr),),
        measure=(("threads", [int(t) for t in threads.split(",")]), ("repeats", repeats)),
    )
    result = quantize(request, store=_store(store), out_dir=out, force=force)
    _print(_rows([(result.name, result.metrics)]), fmt, f"quantize {method}")
    if fmt != "json":
        for w in result.warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(f"onnx: {result.artifacts['onnx']}")


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="Stored run names or ids.")],
    store: Annotated[str, typer.Option(help="Result store (SQLite path or URL).")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Show accuracy, agreement, deviation, bound, size and latency of stored runs.

    Example: edgeslim quantize compare digits-cnn model-ptq model-fp16
    """
    db = _store(store)
    named = []
    for r in runs:
        rec = db.get_run(int(r) if r.isdigit() else r)
        named.append((rec.name, tuple(rec.metrics)))
    _print(_rows(named), fmt, "quantization comparison")


@app.command("int-rnn")
def int_rnn(
    model: Annotated[Path, typer.Argument(help="Float GRU/LSTM checkpoint (.pt) or ONNX model.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or .npz/.csv file.")],
    state_bits: Annotated[int, typer.Option(help="Hidden state: 16 (int16) or 8 (int8).")] = 16,
    calibrator: Annotated[
        str, typer.Option(help="Range of the cell input: percentile or minmax.")
    ] = "percentile",
    float_head: Annotated[
        bool, typer.Option("--float-head", help="Keep the other layers float (default int8).")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Export MODEL with integer GRU/LSTM cells and compare it with the float model.

    The cells get int8 weights, int16 or int8 state and fixed-point gates; the exported model
    runs on edgeslim's interpreter (onnxruntime has no integer recurrent cell).

    Example: edgeslim quantize int-rnn out/bm-gru/model.pt --data basic-motions --state-bits 8
    """
    from edgeslim.api.quantize_rnn import IntegerRnnRequest, integer_rnn

    request = IntegerRnnRequest(
        model=model,
        data=data,
        state_bits=state_bits,
        calibrator=calibrator,
        int8_rest=not float_head,
        name=name,
        seed=seed,
    )
    result = integer_rnn(request, store=_store(store), out_dir=out, force=force)
    rows = _rows([(result.name, result.metrics)])
    interp_acc = _find(result.metrics, "accuracy", "interp")
    rows[0]["accuracy"] = None if interp_acc is None else interp_acc.value
    rows[0].pop("ort p50 (s)", None)
    _print(rows, str(fmt), f"integer recurrent cells, int{state_bits} state")
    if fmt != Format.json:
        typer.echo(f"onnx: {result.artifacts['onnx']}")
