"""``edgeslim compress``: distill, factorize, separate, cluster, sparse-train, and chain them.

``apply`` runs one compression pass on a checkpoint or a zoo model trained first; ``chain``
runs stages in order (earlier sparsity kept and checked; every stage's metrics stored);
``methods`` lists what ``apply`` offers. Every run goes through the pipeline: the exported
artifact is measured and stored like any other run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from edgeslim._core.errors import RecipeError
from edgeslim.cli._options import Format, FormatOpt, StoreOpt, _store_url

app = typer.Typer(
    help="Distillation, low-rank/Tucker, separable convs, clustering, RigL, chains.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COLUMNS = (
    ("accuracy", "accuracy", ""),
    ("params", "params", ""),
    ("MACs", "macs", ""),
    ("sparsity", "sparsity", ""),
    ("param bytes", "param_storage_bytes", ""),
    ("ONNX bytes", "artifact_bytes", ""),
    ("ort p50 (s)", "latency_p50", "onnxruntime,t1,b1"),
)

ModelArg = Annotated[
    str, typer.Argument(help="Checkpoint (.pt from 'edgeslim train') or a zoo kind (cnn, gru...).")
]
DataOpt = Annotated[str, typer.Option("--data", "-d", help="Dataset name or .npz/.csv file.")]
SetOpt = Annotated[list[str], typer.Option("--set", help="Pass parameter KEY=VALUE (repeatable).")]
ZooOpt = Annotated[
    list[str], typer.Option("--model-set", help="Zoo parameter KEY=VALUE when MODEL is a kind.")
]
NameOpt = Annotated[str | None, typer.Option(help="Run name.")]
SeedOpt = Annotated[int, typer.Option(help="Seed.")]
EpochsOpt = Annotated[int, typer.Option(help="Training epochs of a zoo MODEL.")]
LrOpt = Annotated[float, typer.Option(help="Learning rate (training and fine-tuning).")]
RepeatsOpt = Annotated[int, typer.Option(help="Timed repeats per latency.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for artifacts.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]


def _value(key: str, value: str) -> tuple[str, Any]:
    return key.strip(), yaml.safe_load(value)


def sets(items: list[str], option: str = "--set") -> tuple[tuple[str, Any], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"option {option} takes KEY=VALUE; got {item!r}")
        out.append(_value(key, value))
    return tuple(out)


def parse_stage(text: str) -> tuple[str, dict[str, Any]]:
    """``"prune.magnitude sparsity=0.6 fine_tune_epochs=3"`` -> (name, params)."""
    parts = text.split()
    if not parts or "=" in parts[0]:
        raise RecipeError(f"option --stage takes 'PASS KEY=VALUE ...'; got {text!r}")
    return parts[0], dict(sets(parts[1:], "--stage"))


def _request(**kw: Any) -> Any:
    from edgeslim.api.compress import CompressRequest

    return CompressRequest(**kw)


def _run(request: Any, store: str, out: Path, force: bool, fmt: Format, title: str) -> None:
    from edgeslim import api
    from edgeslim.api.compress import compress

    result = compress(request, store=api.open_store(_store_url(store)), out_dir=out, force=force)
    metrics = {(m.name, m.context): m.value for m in result.metrics}
    row: dict[str, Any] = {"run": result.stored_as or result.name}
    row |= {title_: metrics.get((name, ctx)) for title_, name, ctx in _COLUMNS}
    stages = sorted(
        {ctx for (_, ctx) in metrics if ctx.startswith("stage")},
        key=lambda c: int(c[5:].split(":")[0]),
    )
    if fmt is Format.json:
        typer.echo(
            json.dumps(
                {
                    "run": row,
                    "stages": {
                        c: {n: v for (n, cc), v in metrics.items() if cc == c} for c in stages
                    },
                },
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in row:
        table.add_column(key, justify="left" if key == "run" else "right")
    table.add_row(
        *["-" if v is None else v if isinstance(v, str) else f"{v:.4g}" for v in row.values()]
    )
    console = Console(width=160)
    console.print(table)
    if stages:
        st = Table(title="stages (validation accuracy on the torch model)")
        for col in ("stage", "accuracy", "params", "nonzero weights", "sparsity"):
            st.add_column(col, justify="left" if col == "stage" else "right")
        for c in stages:
            vals = [
                metrics.get((n, c)) for n in ("accuracy", "params", "nonzero_weights", "sparsity")
            ]
            st.add_row(c, *["-" if v is None else f"{v:.4g}" for v in vals])
        console.print(st)
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"onnx: {result.artifacts['onnx']}")


@app.command()
def apply(
    model: ModelArg,
    data: DataOpt,
    method: Annotated[
        str,
        typer.Option("--method", help="distill, lowrank, tucker, svd, separable, cluster, rigl"),
    ] = "lowrank",
    params: SetOpt = [],  # noqa: B006
    model_params: ZooOpt = [],  # noqa: B006
    name: NameOpt = None,
    seed: SeedOpt = 0,
    epochs: EpochsOpt = 20,
    lr: LrOpt = 3e-3,
    repeats: RepeatsOpt = 20,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Compress MODEL with one method, export, measure the artifact and store the numbers.

    Example: edgeslim compress apply cnn --data digits --method cluster --set clusters=16
    --set epochs=3
    """
    request = _request(
        model=model,
        data=data,
        method=method,
        params=sets(params),
        model_params=sets(model_params, "--model-set"),
        name=name,
        seed=seed,
        train=(("epochs", epochs), ("lr", lr)),
        measure=(("threads", [1]), ("repeats", repeats)),
    )
    _run(request, store, out, force, fmt, f"compress {method}")


@app.command()
def chain(
    model: ModelArg,
    data: DataOpt,
    stage: Annotated[
        list[str], typer.Option("--stage", help="'PASS KEY=VALUE ...' (repeatable, in order).")
    ],
    model_params: ZooOpt = [],  # noqa: B006
    name: NameOpt = None,
    seed: SeedOpt = 0,
    epochs: EpochsOpt = 20,
    lr: LrOpt = 3e-3,
    repeats: RepeatsOpt = 20,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Run compression stages in order; each keeps the earlier sparsity (checked).

    Example: edgeslim compress chain cnn --data digits --stage 'prune.magnitude sparsity=0.6
    fine_tune_epochs=3' --stage 'compress.distill epochs=5' --stage 'quantize.qat epochs=2'
    """
    request = _request(
        model=model,
        data=data,
        method="chain",
        stages=tuple(parse_stage(s) for s in stage),
        model_params=sets(model_params, "--model-set"),
        name=name,
        seed=seed,
        train=(("epochs", epochs), ("lr", lr)),
        measure=(("threads", [1]), ("repeats", repeats)),
    )
    _run(request, store, out, force, fmt, "compress chain")


@app.command("methods")
def list_methods(fmt: FormatOpt = Format.table) -> None:
    """List the methods of 'compress apply' and the passes behind them.

    Example: edgeslim compress methods --format json
    """
    from edgeslim.api.compress import methods

    rows = methods()
    if fmt is Format.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="compression methods")
    for key in rows[0]:
        table.add_column(key)
    for r in rows:
        table.add_row(*r.values())
    Console(width=160).print(table)
