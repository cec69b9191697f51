"""``edgeslim compare``: one model on CPU, GPU, MCU and FPGA in one table (stored), and the
``edgeslim compare report`` page with the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgeslim.cli import _ui
from edgeslim.cli._options import ForceOpt, Format, FormatOpt, StoreOpt, _store_url


def _ints(text: str, option: str) -> list[int]:
    from edgeslim._core.errors import RecipeError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RecipeError(
            f"option {option} takes comma-separated integers; got {text!r}"
        ) from None


def compare(
    model: Annotated[
        Path,
        typer.Argument(
            help="ONNX model (a .pt checkpoint beside it adds torch) or tree bundle .npz"
        ),
    ],
    platforms: Annotated[
        str,
        typer.Option(help="Comma-separated: cpu, gpu, mcu:<target>, fpga:ice40[-up5k|-hx8k]."),
    ] = "cpu,gpu,mcu:cortex-m4,fpga:ice40",
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Dataset name or .npz/.csv (default: the checkpoint's)."
        ),
    ] = None,
    batches: Annotated[str, typer.Option(help="Batch sizes for CPU/GPU timing.")] = "1,256",
    threads: Annotated[str, typer.Option(help="CPU thread counts, 0 = all cores.")] = "1,0",
    repeats: Annotated[int, typer.Option(help="Timed calls per batch-1 latency.")] = 50,
    mcu_samples: Annotated[int, typer.Option(help="Test samples run under QEMU.")] = 20,
    fpga_samples: Annotated[
        int, typer.Option(help="Test samples simulated with Verilator.")
    ] = 1000,
    synth: Annotated[
        bool, typer.Option("--synth/--no-synth", help="Run Yosys + nextpnr for FPGA rows.")
    ] = True,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep generated C/Verilog and tool outputs here.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name in the store.")] = None,
    store: StoreOpt = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """Compare a model across platforms: latency, throughput, energy/power, memory, accuracy,
    with the provenance of each number; platforms a model cannot use are listed as n/a.

    Example: edgeslim compare edgeslim-out/demo/digits-cnn/model.onnx
    --platforms cpu,gpu,mcu:cortex-m4,fpga:ice40
    """
    from edgeslim import api
    from edgeslim.api.compare import compare as run_compare
    from edgeslim.report.platforms import table_rows

    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        cmp = run_compare(
            model,
            platforms,
            data,
            batches=_ints(batches, "--batches"),
            threads=_ints(threads, "--threads"),
            repeats=repeats,
            mcu_samples=mcu_samples,
            fpga_samples=fpga_samples,
            synthesize=synth,
            workdir=workdir,
            store=db,
            name=name,
            progress=progress,
        )
    if fmt is Format.json:
        _ui.print_json(cmp.to_dict())
        return
    from rich.table import Table

    header, rows = table_rows([r.to_dict() for r in cmp.rows])
    table = Table(title=f"compare {model} (run {cmp.run})")
    for h in header:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*r)
    _ui.out.print(table)
    _ui.out.print("provenance: m measured, s simulated, e estimated, c computed")


def compare_report(
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "edgeslim-platforms.html"
    ),
    runs: Annotated[
        str | None, typer.Option(help="Comma-separated compare runs (default: all).")
    ] = None,
    store: StoreOpt = "",
    force: ForceOpt = False,
) -> None:
    """Write the platform page: tables and plots of latency vs batch size and vs model size.

    Example: edgeslim compare-report -o platforms.html --runs compare-digits-cnn-model
    """
    from edgeslim import api
    from edgeslim.report.platforms import build_platform_report

    db = api.open_store(_store_url(store))
    chosen = [r for r in runs.split(",") if r] if runs else None
    path = build_platform_report(db, chosen, output, force=force)
    _ui.console.print(f"platform report: {path}")
