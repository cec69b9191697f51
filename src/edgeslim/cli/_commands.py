"""train, import, measure, runs, report, datasets, targets (and mounted sub-apps)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from edgeslim._core.errors import EdgeslimError, RecipeError
from edgeslim.cli import _ui
from edgeslim.cli._app import _show_results, app
from edgeslim.cli._options import ForceOpt, Format, FormatOpt, OutOpt, StoreOpt, _store_url
from edgeslim.cli.deploy import IOArg, IOOpt, LayoutArg, LayoutOpt, SimdArg


def _parse_value(text: str) -> Any:
    value = yaml.safe_load(text)
    if isinstance(value, str) and "," in value:
        return [yaml.safe_load(v) for v in value.split(",")]
    return value


def _parse_sets(items: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"option {option} takes KEY=VALUE; got {item!r}")
        out[key.strip()] = _parse_value(value)
    return out


def _run_single(doc: dict[str, Any], store: str, out: Path, fmt: Format, force: bool) -> None:
    from edgeslim import api

    specs = api.parse_recipe(yaml.safe_dump(doc), source="command line")
    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        results = api.run(specs, store=db, out_dir=out, force=force, progress=progress)
    _show_results(results, fmt, doc["name"])
    if fmt is Format.table:
        for r in results:
            for kind, path in r.artifacts.items():
                _ui.console.print(f"{kind}: {path}")


DataOpt = Annotated[
    str, typer.Option("--data", "-d", help="Dataset name (edgeslim datasets) or .npz/.csv file.")
]
LabelOpt = Annotated[str | None, typer.Option("--label", help="Label column of a .csv file.")]


@app.command()
def train(
    data: DataOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo kind: mlp, cnn, gru, ...")],
    sets: Annotated[
        list[str], typer.Option("--set", help="Model parameter KEY=VALUE (repeatable).")
    ] = [],  # noqa: B006
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 3e-3,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    label: LabelOpt = None,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Train a zoo model, save its checkpoint and ONNX export, measure and store them.

    Example: edgeslim train --data digits --model cnn --set channels=8,16 --epochs 15
    """
    run_name = name or f"{Path(data).stem}-{model}"
    doc = {
        "name": run_name,
        "seed": seed,
        "data": {"name": data, "label": label},
        "model": {"kind": model, **_parse_sets(sets, "--set")},
        "train": {"epochs": epochs, "lr": lr, "batch_size": batch_size},
    }
    _run_single(doc, store, out, fmt, force)


@app.command()
def measure(
    model: Annotated[Path, typer.Argument(help="Model: .onnx, TorchScript, or checkpoint .pt")],
    data: DataOpt,
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    label: LabelOpt = None,
    threads: Annotated[str, typer.Option(help="Thread counts, 0 = all cores.")] = "1,0",
    repeats: Annotated[int, typer.Option(help="Timed repeats per latency.")] = 100,
    target: Annotated[
        str | None,
        typer.Option(
            help="Compile to C and measure on a target (host, cortex-m0plus, cortex-m4, "
            "cortex-m7; see edgeslim targets) instead of torch/onnxruntime."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(help="Test samples run on --target.")] = 20,
    simd: SimdArg = None,
    layout: LayoutArg = LayoutOpt.default,
    io: IOArg = IOOpt.float32,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Measure a model's exported artifact on a dataset: accuracy, size, MACs, latency, memory.

    With --target the model is compiled to C and run on that target (Cortex-M in QEMU): flash,
    RAM, arena, stack, instructions per inference and per layer, estimated energy and latency.

    Example: edgeslim measure edgeslim-out/digits-cnn/model.onnx --data digits --target cortex-m4
    """
    if not model.exists():
        raise EdgeslimError(f"model file {model} does not exist")
    if target:
        from edgeslim.cli import deploy

        is_file = data.endswith((".npz", ".csv")) or "/" in data
        deploy.measure(
            model,
            target=target,
            data=Path(data) if is_file else None,
            dataset=None if is_file else data,
            samples=samples,
            store=store,
            simd=simd,
            layout=layout,
            io=io,
            fmt=deploy.Fmt(fmt.value),
        )
        return
    doc = {
        "name": name or f"measure-{model.stem}",
        "data": {"name": data, "label": label},
        "model": {"path": str(model)},
        "measure": {"threads": [int(t) for t in threads.split(",")], "repeats": repeats},
    }
    _run_single(doc, store, out, fmt, force)


@app.command("import")
def import_(
    model: Annotated[
        Path, typer.Argument(help="ONNX file, TFLite flatbuffer (.tflite) or TorchScript archive.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="ONNX file to write.")],
    input_shape: Annotated[
        str | None,
        typer.Option(help="Sample shape without batch, e.g. 1,8,8 (needed for TorchScript)."),
    ] = None,
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Import a model into edgeslim's IR: check every op is supported, write it as ONNX.

    Example: edgeslim import model.ts --input-shape 1,8,8 -o model.onnx
    Example: edgeslim import kws.tflite -o kws.onnx   (int8 or float; streaming state kept)
    """
    import zipfile

    import onnx

    from edgeslim import ir
    from edgeslim._core.io import atomic_write, ensure_writable
    from edgeslim.measure import structure_metrics

    shape = tuple(int(s) for s in input_shape.split(",")) if input_shape else None
    path = ensure_writable(output, force)
    archive = zipfile.is_zipfile(model)  # TorchScript is exported to `path` by import_model
    graph = ir.import_model(
        model, input_shape=shape, onnx_path=path if archive else None, force=True
    )
    if not archive:  # an ONNX source is checked, then written as edgeslim read it
        with atomic_write(path) as tmp:
            onnx.save(ir.to_onnx(graph), str(tmp))
    metrics = structure_metrics(graph)
    ops = sorted({n.op for n in graph.nodes})
    if fmt is Format.json:
        _ui.print_json(
            {"path": str(path), "ops": ops, "metrics": {m.key: m.to_dict() for m in metrics}}
        )
        return
    _ui.out.print(_ui.metrics_table([(model.name, metrics)], f"imported {model}"))
    _ui.out.print(f"ops: {', '.join(ops)}\nwrote {path}")


runs_app = typer.Typer(help="List, show and delete stored runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(store: StoreOpt = "", fmt: FormatOpt = Format.table) -> None:
    """List stored runs. Example: edgeslim runs list --format json"""
    from edgeslim import api

    runs = api.open_store(_store_url(store)).list_runs()
    if fmt is Format.json:
        _ui.print_json({"runs": [_summary_dict(r) for r in runs]})
        return
    from rich.table import Table

    table = Table(title="runs")
    for col in ("id", "name", "status", "created"):
        table.add_column(col)
    for r in runs:
        d = _summary_dict(r)
        table.add_row(str(d["id"]), str(d["name"]), str(d["status"]), str(d["created_at"]))
    _ui.out.print(table)


def _summary_dict(r: Any) -> dict[str, Any]:
    keys = ("id", "name", "status", "created_at", "finished_at")
    return {k: getattr(r, k, None) for k in keys}


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="Run id or name.")],
    store: StoreOpt = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one run's metrics. Example: edgeslim runs show digits-cnn"""
    from edgeslim import api

    rec = api.open_store(_store_url(store)).get_run(run)
    if fmt is Format.json:
        _ui.print_json(
            {"name": rec.name, "id": rec.id, "metrics": {m.key: m.to_dict() for m in rec.metrics}}
        )
        return
    from rich.table import Table

    table = Table(title=f"run {rec.name} ({rec.status})")
    for col in ("metric", "value", "unit", "provenance"):
        table.add_column(col)
    for m in rec.metrics:
        table.add_row(m.key, f"{m.value:.6g}", m.unit, m.provenance.value)
    _ui.out.print(table)


@runs_app.command("delete")
def runs_delete(
    run: Annotated[str, typer.Argument(help="Run id or name.")], store: StoreOpt = ""
) -> None:
    """Delete a run and its metrics (artifact files stay). Example: edgeslim runs delete 3"""
    from edgeslim import api

    api.open_store(_store_url(store)).delete_run(run)
    _ui.console.print(f"deleted run {run}")


@app.command()
def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "edgeslim-report.html"
    ),
    runs: Annotated[
        str | None, typer.Option(help="Comma-separated run ids or names (default: all).")
    ] = None,
    store: StoreOpt = "",
    force: ForceOpt = False,
) -> None:
    """Write one self-contained HTML report (plotly) and a markdown twin from the store.

    Example: edgeslim report -o report.html --runs digits-cnn,motions-gru
    """
    from edgeslim import api

    db = api.open_store(_store_url(store))
    chosen = [r for r in runs.split(",") if r] if runs else None
    path = api.report(db, output, runs=chosen, force=force)
    _ui.console.print(f"report: {path}")


@app.command()
def datasets(fmt: FormatOpt = Format.table) -> None:
    """List the bundled datasets. Example: edgeslim datasets"""
    from edgeslim import data

    names = data.dataset_names()
    if fmt is Format.json:
        _ui.print_json({n: data.describe_dataset(n) for n in names})
        return
    for n in names:
        _ui.out.print(f"[bold]{n}[/]: {data.describe_dataset(n)}")


@app.command()
def targets(fmt: FormatOpt = Format.table) -> None:
    """List target device profiles with their budgets. Example: edgeslim targets"""
    from edgeslim.targets import load_target, target_names

    profiles = [load_target(n) for n in target_names()]
    if fmt is Format.json:
        import dataclasses

        _ui.print_json([dataclasses.asdict(p) for p in profiles])
        return
    from rich.table import Table

    table = Table(title="targets")
    for col in ("name", "flash", "RAM", "clock", "FPU", "DSP"):
        table.add_column(col)
    for p in profiles:
        table.add_row(
            p.name,
            _kib(getattr(p, "flash_bytes", None)),
            _kib(getattr(p, "ram_bytes", None)),
            f"{p.clock_hz / 1e6:.0f} MHz" if p.clock_hz else "-",
            str(getattr(p, "fpu", "-")),
            str(getattr(p, "dsp", "-")),
        )
    _ui.out.print(table)


def _kib(v: Any) -> str:
    return "-" if not v else f"{int(v) // 1024} KiB"


def _mount_subapps() -> None:
    from edgeslim.cli import deploy, prune, quantize, trees
    from edgeslim.cli import search as search_cli

    app.add_typer(prune.app, name="prune", help="Prune, compare methods, show realized gains.")
    app.add_typer(trees.app, name="trees", help="Tree ensembles compiled to exact, fast C.")
    app.add_typer(quantize.app, name="quantize", help="Quantize a model and measure the artifact.")
    app.add_typer(deploy.app, name="deploy", help="Generated C for MCUs: export and measure.")
    from edgeslim.cli import compress

    app.add_typer(compress.app, name="compress", help="Distill, factorize, cluster, chain.")
    app.command("export", help=deploy.export.__doc__)(deploy.export)
    app.add_typer(search_cli.app, name="search")
    from edgeslim.cli import compare as compare_cli

    app.command("compare")(compare_cli.compare)
    from edgeslim.cli import data as data_cli

    app.add_typer(data_cli.app, name="data", help="Generate datasets built on this machine.")
    app.command("compare-report")(compare_cli.compare_report)


_mount_subapps()
