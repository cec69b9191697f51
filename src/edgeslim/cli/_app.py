"""The command table. Each command parses strings, calls :mod:`edgeslim.api`, renders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeslim import __version__
from edgeslim.cli import _ui
from edgeslim.cli._options import (
    ForceOpt,
    Format,
    FormatOpt,
    OutOpt,
    StoreOpt,
    _store_url,
)

app = typer.Typer(
    name="edgeslim",
    help="Make ML models small, fast and frugal for small devices, and prove it by measuring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgeslim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """edgeslim: compress, export, measure, store, report."""


def _show_results(results: list, fmt: Format, title: str) -> None:
    if fmt is Format.json:
        _ui.print_json({"runs": [r.to_dict() for r in results]})
        return
    _ui.out.print(_ui.metrics_table([(r.name, r.metrics) for r in results], title))
    for r in results:
        for w in r.warnings:
            _ui.console.print(f"[yellow]warning[/] {r.name}: {w}")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Run a recipe: data, model (train or import), passes, export, measure, store.

    Example: edgeslim run recipes/digits-cnn.yaml --format json
    """
    from edgeslim import api

    specs = api.load_recipe(recipe)
    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        results = api.run(specs, store=db, out_dir=out, force=force, progress=progress)
    _show_results(results, fmt, f"edgeslim run {recipe}")


@app.command()
def demo(
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out/demo"),
    report_path: Annotated[Path, typer.Option("--report", help="HTML report to write.")] = Path(
        "edgeslim-out/demo/report.html"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="2 epochs, few repeats.")] = False,
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Train six small models on digits and basic-motions, measure, store, report.

    A CNN, DS-CNN and MLP on digits and a GRU, LSTM and TCN on basic-motions are trained,
    exported to ONNX, measured on the exported artifact, stored, printed as a table and written
    to an HTML report.

    Example: edgeslim demo --force
    """
    from edgeslim import api

    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        results = api.run(
            api.demo_specs(quick), store=db, out_dir=out, force=force, progress=progress
        )
    path = api.report(db, report_path, runs=[str(r.run_id) for r in results], force=force)
    _show_results(results, fmt, "edgeslim demo")
    if fmt is Format.table:
        _ui.console.print(f"report: {path}")


from edgeslim.cli import _commands  # noqa: E402  (registers the remaining commands)

_ = _commands
