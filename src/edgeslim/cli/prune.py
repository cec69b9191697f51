"""``edgeslim prune``: prune a model with one method, compare methods, analyse layer sensitivity.

MODEL is a zoo kind (trained first on ``--data``), an edgeslim checkpoint (``.pt`` from
``edgeslim train``), or, for ``compare``, a recipe YAML with a ``compare`` section. Every pruned
model is exported, measured on the artifact and stored like any run; the table and the report
carry the realized-gain warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from edgeslim._core.errors import EdgeslimError, RecipeError
from edgeslim.cli import _ui
from edgeslim.cli._options import ForceOpt, Format, FormatOpt, OutOpt, StoreOpt, _store_url

app = typer.Typer(
    help="Prune models: unstructured, N:M, blocks, channels (CNN, ResNet, GRU/LSTM, TCN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelArg = Annotated[str, typer.Argument(help="Zoo kind, checkpoint .pt, or (compare) recipe.")]
DataOpt = Annotated[str | None, typer.Option("--data", "-d", help="Dataset name or file.")]
SetOpt = Annotated[
    list[str], typer.Option("--set", help="Model parameter KEY=VALUE of a zoo kind (repeatable).")
]
EpochsOpt = Annotated[int, typer.Option(help="Training epochs of a zoo model.")]
FineTuneOpt = Annotated[
    int, typer.Option("--fine-tune-epochs", help="Fine-tuning budget, the same for every method.")
]
RepeatsOpt = Annotated[int, typer.Option(help="Timed repeats per latency measurement.")]


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise RecipeError(
            f"option {option} takes numbers separated by commas; got {text!r}"
        ) from None


def _sets(items: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"option {option} takes KEY=VALUE; got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str) and "," in parsed:
            parsed = [yaml.safe_load(v) for v in parsed.split(",")]
        out[key.strip()] = parsed
    return out


def _base(
    model: str,
    data: str | None,
    sets: list[str],
    epochs: int,
    seed: int,
    name: str | None,
    label: str | None,
    repeats: int,
) -> Any:
    from edgeslim.api.prune import base_spec

    if not data:
        raise RecipeError("option --data is needed (a dataset name or a .npz/.csv file)")
    measure = {"threads": [1], "repeats": repeats, "warmup": min(5, repeats)}
    return base_spec(
        model,
        data,
        name=name,
        epochs=epochs,
        seed=seed,
        label=label,
        model_params=_sets(sets, "--set"),
        measure=measure,
    )


_COLUMNS = (
    ("accuracy", "accuracy", ""),
    ("params", "params", ""),
    ("MACs", "macs", ""),
    ("ONNX B", "artifact_bytes", ""),
    ("sparse B", "sparse_artifact_bytes", ""),
    ("ort p50", "latency_p50", "onnxruntime,t1,b1"),
)


def _table(title: str, rows: list[tuple[str, str, str, tuple[Any, ...], tuple[str, ...]]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("run", "method", "sparsity", *(c[0] for c in _COLUMNS), "warnings"):
        table.add_column(col, justify="left" if col in ("run", "method", "warnings") else "right")
    for run, method, sparsity, metrics, warnings in rows:
        cells = []
        for _, name, ctx in _COLUMNS:
            m = next((m for m in metrics if m.name == name and m.context == ctx), None)
            cells.append(_ui._fmt(m) if m is not None else "-")
        table.add_row(run, method, sparsity, *cells, "\n".join(warnings) or "-")
    _ui.out.print(table)


def _show(result: Any, fmt: Format, title: str) -> None:
    if fmt is Format.json:
        _ui.print_json(result.to_dict())
        return
    rows: list[tuple[str, str, str, tuple[Any, ...], tuple[str, ...]]] = [
        (result.base.name, "unpruned", "0", result.base.metrics, ())
    ]
    rows += [
        (r.result.name, r.method, f"{r.sparsity:g}", r.result.metrics, r.warnings)
        for r in result.runs
    ]
    _table(title, rows)
    if result.report is not None:
        _ui.console.print(f"report: {result.report}")


@app.command()
def compare(
    model: ModelArg,
    data: DataOpt = None,
    methods: Annotated[
        str, typer.Option(help="Methods, comma-separated (edgeslim prune methods).")
    ] = "",
    sparsity: Annotated[
        str, typer.Option(help="Sparsity levels, comma-separated.")
    ] = "0.5,0.7,0.9",
    fine_tune_epochs: FineTuneOpt = 3,
    sets: SetOpt = [],  # noqa: B006
    epochs: EpochsOpt = 15,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="Name of the reference run.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of a .csv file.")] = None,
    repeats: RepeatsOpt = 50,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the report.")] = False,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Run every method at every sparsity with one fine-tuning budget; measure and report.

    Example: edgeslim prune compare cnn --data digits --methods magnitude,channel-l2
    --sparsity 0.5,0.7,0.9 --fine-tune-epochs 3
    """
    from edgeslim import api
    from edgeslim.api import prune as prune_api
    from edgeslim.passes.prune._methods import DEFAULT_METHODS, resolve_method

    if model.endswith((".yaml", ".yml")):
        spec = prune_api.load_compare_recipe(model)
    else:
        names = [m.strip() for m in methods.split(",") if m.strip()] or list(DEFAULT_METHODS)
        spec = prune_api.CompareSpec(
            _base(model, data, sets, epochs, seed, name, label, repeats),
            tuple(resolve_method(m) for m in names),
            _floats(sparsity, "--sparsity"),
            fine_tune_epochs,
        )
    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        result = prune_api.compare(
            spec, store=db, out_dir=out, force=force, progress=progress, report=not no_report
        )
    _show(result, fmt, f"edgeslim prune compare {model}")


@app.command()
def apply(
    model: ModelArg,
    data: DataOpt = None,
    method: Annotated[
        str, typer.Option(help="Method name (edgeslim prune methods).")
    ] = "channel-l2",
    sparsity: Annotated[float, typer.Option(help="Target sparsity in (0, 1).")] = 0.5,
    params: Annotated[
        list[str],
        typer.Option("--param", help="Pass parameter KEY=VALUE (repeatable), e.g. schedule=agp."),
    ] = [],  # noqa: B006
    fine_tune_epochs: FineTuneOpt = 3,
    sets: SetOpt = [],  # noqa: B006
    epochs: EpochsOpt = 15,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="Name of the reference run.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of a .csv file.")] = None,
    repeats: RepeatsOpt = 50,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Prune with one method, fine-tune, export, measure against the unpruned model, store.

    Example: edgeslim prune apply lstm --data basic-motions --set layers=2 --set
    bidirectional=true --method channel-l2 --sparsity 0.5
    """
    from dataclasses import replace

    from edgeslim import api
    from edgeslim.api import prune as prune_api
    from edgeslim.passes.prune._methods import resolve_method

    chosen = resolve_method(method)
    if params:
        chosen = replace(chosen, params={**chosen.params, **_sets(params, "--param")})
    spec = prune_api.CompareSpec(
        _base(model, data, sets, epochs, seed, name, label, repeats),
        (chosen,),
        (sparsity,),
        fine_tune_epochs,
    )
    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        result = prune_api.compare(
            spec, store=db, out_dir=out, force=force, progress=progress, report=False
        )
    _show(result, fmt, f"edgeslim prune apply {model} --method {method}")


@app.command()
def sensitivity(
    model: ModelArg,
    data: DataOpt = None,
    kind: Annotated[
        str, typer.Option(help="weights (one matrix at a time) or channels (one group at a time).")
    ] = "weights",
    levels: Annotated[str, typer.Option(help="Sparsity levels tried per layer.")] = (
        "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
    ),
    target: Annotated[float, typer.Option(help="Overall sparsity to allocate.")] = 0.7,
    sets: SetOpt = [],  # noqa: B006
    epochs: EpochsOpt = 15,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="Run name.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of a .csv file.")] = None,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Accuracy vs sparsity per layer, and per-layer sparsities that reach --target.

    The allocation prints as YAML for the ``layer_sparsity`` parameter of the unstructured
    passes. Example: edgeslim prune sensitivity cnn --data digits --target 0.8
    """
    from edgeslim import api
    from edgeslim.api import prune as prune_api

    if kind not in ("weights", "channels"):
        raise EdgeslimError(f"option --kind must be weights or channels; got {kind!r}")
    if not 0.0 < target < 1.0:
        raise EdgeslimError(f"option --target must be in (0, 1); got {target}")
    base = _base(model, data, sets, epochs, seed, name, label, 20)
    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        result = prune_api.sensitivity(
            base,
            kind=kind,
            levels=_floats(levels, "--levels"),
            target=target,
            store=db,
            out_dir=out,
            force=force,
            progress=progress,
        )
    if fmt is Format.json:
        _ui.print_json(result.to_dict())
        return
    _sensitivity_table(result)


def _sensitivity_table(result: Any) -> None:
    from rich.table import Table

    curves = result.curves
    table = Table(
        title=f"accuracy with one layer pruned (baseline {curves[0].baseline:.4f})"
        if curves
        else "no prunable layers"
    )
    table.add_column("layer")
    for level in curves[0].levels if curves else ():
        table.add_column(f"{level:g}", justify="right")
    table.add_column("allocated", justify="right")
    for c in curves:
        table.add_row(
            c.layer, *(f"{s:.3f}" for s in c.scores), f"{result.allocation[c.layer]:.2f}"
        )
    _ui.out.print(table)
    _ui.out.print(
        "layer_sparsity:\n" + "".join(f"  {k}: {v:.3f}\n" for k, v in result.allocation.items())
    )
    for f in result.files:
        _ui.console.print(f"report: {f}")


@app.command("methods")
def list_methods(fmt: FormatOpt = Format.table) -> None:
    """The named pruning methods and the pass each runs."""
    from rich.table import Table

    from edgeslim.passes.prune._methods import METHODS

    if fmt is Format.json:
        _ui.print_json(
            {
                k: {
                    "pass": m.pass_name,
                    "params": dict(m.params),
                    "structured": m.structured,
                    "description": m.description,
                }
                for k, m in METHODS.items()
            }
        )
        return
    table = Table(title="pruning methods")
    for col in ("method", "pass", "parameters", "description"):
        table.add_column(col)
    for key, m in METHODS.items():
        table.add_row(
            key,
            m.pass_name,
            ", ".join(f"{k}={v}" for k, v in m.params.items()) or "-",
            m.description,
        )
    _ui.out.print(table)
