"""``edgeslim trees``: import, export, measure and prune tree ensembles.

Every command writes its result as JSON next to its outputs and prints a table, or the JSON
itself with ``--format json``. User errors are :class:`EdgeslimError` (one line, exit 2).
"""

from __future__ import annotations

import enum
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from edgeslim._core.errors import DataError, EdgeslimError, ExportError
from edgeslim.cli._options import StoreOpt, _store_url

app = typer.Typer(
    help="Tree ensembles: exact, fast, tiny C for random forests and boosting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(width=160)


class Fmt(enum.StrEnum):
    table = "table"
    json = "json"


class LayoutOpt(enum.StrEnum):
    ifelse = "ifelse"
    array = "array"
    packed = "packed"
    auto = "auto"


class QuantOpt(enum.StrEnum):
    none = "none"
    int16 = "int16"
    int8 = "int8"


FormatArg = Annotated[Fmt, typer.Option("--format", help="table or json")]
ForceArg = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
BundleArg = Annotated[Path, typer.Argument(help="Tree bundle (.npz) written by 'trees import'.")]
TargetArg = Annotated[
    str,
    typer.Option(
        "--target", help="host, cortex-m0plus, cortex-m4 or cortex-m7 (comma-separated to measure)"
    ),
]
LayoutArg = Annotated[
    LayoutOpt,
    typer.Option(
        "--layout",
        help="ifelse (fastest), array, packed (smallest; needs --quantize), or auto "
        "(picked by measurement)",
    ),
]
QuantArg = Annotated[
    QuantOpt,
    typer.Option(
        "--quantize", help="Feature/threshold codes: none, int16 or int8 (exactness reported)"
    ),
]
LeafArg = Annotated[
    int,
    typer.Option(
        "--leaf-bits",
        help="Integer leaves: 0 (float) or 2 .. 32 bits; error bound reported (13: probability "
        "leaves fit 12-bit add immediates, the fastest if-else code on Cortex-M)",
    ),
]


InlineArg = Annotated[
    bool,
    typer.Option(
        "--inline-leaves/--table-leaves",
        help="ifelse with --leaf-bits: leaves add constants in place (faster) or index a table "
        "(smaller)",
    ),
]
PreloadArg = Annotated[
    bool,
    typer.Option(
        "--preload/--no-preload", help="ifelse: read each feature once per sample into a local"
    ),
]


def _emit(data: dict[str, Any], fmt: Fmt, rows: list[tuple[str, str]], title: str) -> None:
    if fmt is Fmt.json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    table = Table(title=title, show_header=False)
    for k, v in rows:
        table.add_row(k, v)
    _out.print(table)


def _load(path: Path) -> Any:
    from edgeslim.trees._import import import_file

    return import_file(path)


@app.command("import")
def import_(
    model: Annotated[
        Path | None,
        typer.Argument(
            help="LightGBM .txt, XGBoost .json/.ubj, edgeslim .npz, or a pickle (--trust)"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle to write (.npz)")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help=".npz with X (or x_train), y, X_test, y_test")
    ] = None,
    trust: Annotated[bool, typer.Option("--trust", help="Allow unpickling (runs code!)")] = False,
    train: Annotated[
        str | None,
        typer.Option("--train", help="Train instead: rf, extra-trees, gb, hgb, lightgbm, xgboost"),
    ] = None,
    dataset: Annotated[str, typer.Option("--dataset", help="Bundled data for --train")] = "iris",
    n_estimators: Annotated[int | None, typer.Option("--n-estimators")] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    fmt: FormatArg = Fmt.table,
    force: ForceArg = False,
) -> None:
    """Import a trained model (or train one from a recipe) into an edgeslim tree bundle."""
    from edgeslim._core.io import ensure_writable
    from edgeslim.trees._import import import_file
    from edgeslim.trees._io import save_bundle

    check: float | None = None
    if train is not None:
        ens, arrays, check = _train_bundle(train, dataset, seed, n_estimators, max_depth)
        default_out = Path(f"{train}-{dataset}.npz")
    elif model is not None:
        bundle = import_file(model, trust=trust)
        ens, arrays = bundle.ensemble, dict(bundle.data)
        default_out = model.with_suffix(".trees.npz") if model.suffix != ".npz" else model
    else:
        raise EdgeslimError("give a MODEL file or --train KIND --dataset NAME")
    if data is not None:
        arrays.update(_read_data(data))
    target = ensure_writable(out or default_out, force)
    save_bundle(target, ens, arrays)
    result = {
        "bundle": str(target),
        "model": ens.summary(),
        "data": sorted(arrays),
        "import_check": check,
    }
    _write_json(target.with_suffix(".import.json"), result)
    _emit(
        result,
        fmt,
        [
            ("bundle", str(target)),
            *[(k, str(v)) for k, v in ens.summary().items()],
            ("data", ", ".join(sorted(arrays)) or "-"),
            ("import check (agreement, or max abs error)", "-" if check is None else f"{check}"),
        ],
        "trees import",
    )


def _train_bundle(
    kind: str, dataset: str, seed: int, n_estimators: int | None, max_depth: int | None
) -> tuple[Any, dict[str, np.ndarray], float]:
    """Train from a recipe; return the IR, its data and how well the IR reproduces the model
    on the test split (agreement for classifiers, max abs error for regressors)."""
    from edgeslim.trees import predict
    from edgeslim.trees._import import from_object
    from edgeslim.trees._train import train as train_model

    est, arrays = train_model(kind, dataset, seed, n_estimators=n_estimators, max_depth=max_depth)
    ens = from_object(est)
    ref, mine = est.predict(arrays["x_test"]), predict(ens, arrays["x_test"])
    check = float(np.mean(mine == ref)) if ens.classes else float(np.max(np.abs(mine - ref)))
    return ens, arrays, check


def _read_data(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read data ({err})") from err
    names = {
        "X": "x_train",
        "y": "y_train",
        "X_test": "x_test",
        "x_test": "x_test",
        "y_test": "y_test",
        "x_train": "x_train",
        "y_train": "y_train",
    }
    return {names[k]: v for k, v in d.items() if k in names}


def _write_json(path: Path, data: object) -> None:
    from edgeslim.codegen.trees.pipeline import write_json

    write_json(path, data)


def _config(quantize: QuantOpt, leaf_bits: int, merge: bool, batch: bool) -> Any:
    from edgeslim.codegen.trees.pipeline import ExportConfig

    bits = {"none": 0, "int16": 16, "int8": 8}[quantize.value]
    return ExportConfig(feature_bits=bits, leaf_bits=leaf_bits, merge=merge, batch=batch)


def _options(
    name: str,
    layout: LayoutOpt,
    target: Any,
    compare: str,
    accumulate: str,
    hot_first: bool,
    inline_leaves: bool = True,
    preload: bool = True,
) -> Any:
    from edgeslim.codegen.trees import Compare, CTreeOptions, Layout

    acc = accumulate if accumulate != "auto" else ("double" if target.has_double_fpu else "float")
    cmp = compare if compare != "auto" else ("float" if target.has_fpu else "int")
    if cmp not in ("float", "int"):
        raise EdgeslimError(f"--compare must be float, int or auto; got {compare!r}")
    lay = Layout.IFELSE if layout is LayoutOpt.auto else Layout(layout.value)
    return CTreeOptions(
        name=name,
        layout=lay,
        accumulate=acc,
        compare=Compare(cmp),
        hot_first=hot_first,
        inline_leaves=inline_leaves,
        preload=preload,
    )


def _test_reference(bundle: Any, data: Path | None) -> Any:
    from edgeslim.codegen.trees.pipeline import reference

    arrays = dict(bundle.data)
    if data is not None:
        arrays.update(_read_data(data))
    if "x_test" not in arrays:
        raise DataError("no test data: import with --data or --train, or pass --data")
    return reference(bundle.ensemble, arrays["x_test"], arrays.get("y_test"))


@app.command()
def export(
    bundle: BundleArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the C library")] = Path(
        "trees-c"
    ),
    name: Annotated[str, typer.Option("--name", help="C symbol prefix")] = "model",
    target: TargetArg = "host",
    layout: LayoutArg = LayoutOpt.ifelse,
    quantize: QuantArg = QuantOpt.none,
    leaf_bits: LeafArg = 0,
    compare: Annotated[str, typer.Option("--compare", help="float, int or auto")] = "auto",
    accumulate: Annotated[
        str, typer.Option("--accumulate", help="float, double or auto")
    ] = "auto",
    hot_first: Annotated[bool, typer.Option("--hot-first/--no-hot-first")] = True,
    inline_leaves: InlineArg = True,
    preload: PreloadArg = True,
    merge: Annotated[bool, typer.Option("--merge/--no-merge")] = True,
    batch: Annotated[
        bool, typer.Option("--batch/--no-batch", help="Also emit <name>_raw_batch")
    ] = False,
    fmt: FormatArg = Fmt.table,
    force: ForceArg = False,
) -> None:
    """Write a C99 library (<name>.h, <name>.c) and <name>.report.json.

    Example (fastest exact code for a Cortex-M4, then the smallest):
    edgeslim trees export rf.npz --target cortex-m4 --quantize int16 --leaf-bits 13 -o rf-c
    edgeslim trees export rf.npz --layout packed --quantize int16 --leaf-bits 16 -o rf-small
    """
    from edgeslim.codegen.trees import pipeline
    from edgeslim.targets import load_target

    tgt = load_target(target)
    b = _load(bundle)
    opts = _options(name, layout, tgt, compare, accumulate, hot_first, inline_leaves, preload)
    if (out / f"{opts.c_name}.c").exists() and not force:
        raise ExportError(
            f"{out / (opts.c_name + '.c')} already exists; pass --force to overwrite"
        )
    prep = pipeline.prepare(
        b.ensemble, _config(quantize, leaf_bits, merge, batch), b.get("x_train")
    )
    scores = None
    if layout is LayoutOpt.auto:
        choice, scores = pipeline.choose_layout(prep, opts, _test_reference(b, None), tgt)
        opts = replace(opts, layout=choice)
    art, report_path = pipeline.export(prep, opts, out, batch)
    report = json.loads(report_path.read_text())
    if scores is not None:
        report["auto_layout_scores"] = scores
        _write_json(report_path, report)
    _emit(report, fmt, _export_rows(report, art, out, report_path), "trees export")


def _export_rows(report: dict[str, Any], art: Any, out: Path, path: Path) -> list[tuple[str, str]]:
    fq = report.get("feature_quantization", {}).get("splits", "float features")
    bound = report.get("leaf_quantization", {}).get("proba_bound", "exact (float leaves)")
    return [
        ("files", ", ".join(str(out / f.name) for f in art.files)),
        ("layout", str(report["layout"])),
        ("input type", art.input_ctype),
        ("split exactness", json.dumps(fq)),
        ("leaf probability bound", str(bound)),
        ("codegen", f"{report['codegen_total_s']:.2f} s"),
        ("report", str(path)),
    ]


@app.command()
def measure(
    bundle: BundleArg,
    target: TargetArg = "host,cortex-m4",
    layout: LayoutArg = LayoutOpt.ifelse,
    quantize: QuantArg = QuantOpt.none,
    leaf_bits: LeafArg = 0,
    compare: Annotated[str, typer.Option("--compare")] = "auto",
    accumulate: Annotated[str, typer.Option("--accumulate")] = "auto",
    hot_first: Annotated[bool, typer.Option("--hot-first/--no-hot-first")] = True,
    inline_leaves: InlineArg = True,
    preload: PreloadArg = True,
    data: Annotated[Path | None, typer.Option("--data", help="Test data .npz")] = None,
    mcu_samples: Annotated[int, typer.Option("--mcu-samples")] = 300,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Result JSON")] = None,
    name: Annotated[
        str, typer.Option("--name", help="Run name in the store (default: trees-<bundle>)")
    ] = "",
    store: StoreOpt = "",
    fmt: FormatArg = Fmt.table,
) -> None:
    """Agreement, accuracy, host ns/sample, MCU instructions/sample, flash and RAM.

    Results go to the store (one run) and to a JSON file beside the bundle.

    Example: edgeslim trees measure rf.npz --target host,cortex-m4 --quantize int16
    """
    from edgeslim.api.trees import store_tree_measurement
    from edgeslim.codegen.trees import pipeline
    from edgeslim.targets import load_target

    b = _load(bundle)
    targets = [load_target(t.strip()) for t in target.split(",") if t.strip()]
    prep = pipeline.prepare(
        b.ensemble, _config(quantize, leaf_bits, True, False), b.get("x_train")
    )
    ref = _test_reference(b, data)
    layouts = [layout.value]
    if layout is LayoutOpt.auto:
        layouts = ["ifelse", "array"] + (["packed"] if prep.features is not None else [])
    results: dict[str, Any] = {"bundle": str(bundle), "prepare": prep.report, "runs": {}}
    rows: list[tuple[str, str]] = []
    measured: dict[str, Any] = {}
    for lay in layouts:
        opts = _options(
            "model",
            LayoutOpt(lay),
            targets[-1],
            compare,
            accumulate,
            hot_first,
            inline_leaves,
            preload,
        )
        art = pipeline.render(prep, opts)
        for tname, m in pipeline.measure(art, ref, targets, mcu_samples).items():
            measured[f"{lay}/{tname}"] = m
            results["runs"][f"{lay}/{tname}"] = m.to_dict()
            rows += [(f"{lay} {tname} {x.name}", _fmt_metric(x)) for x in m.metrics]
    path = out or bundle.with_suffix(".measure.json")
    _write_json(path, results)
    run_name = store_tree_measurement(
        _store_url(store),
        name or f"trees-{bundle.stem}",
        bundle,
        b.ensemble.summary(),
        measured,
        {k: v for k, v in results.items() if k != "runs"},
    )
    results["run"] = run_name
    rows += [("results", str(path)), ("stored run", run_name)]
    _emit(results, fmt, rows, "trees measure")


def _fmt_metric(m: Any) -> str:
    if m.unit == "s":
        return f"{m.value * 1e9:.1f} ns"
    if m.unit == "B":
        return f"{m.value:,.0f} B"
    return f"{m.value:.6g} {m.unit if m.unit != '1' else ''}".strip()


@app.command()
def prune(
    bundle: BundleArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Pruned bundle (.npz)")],
    trees: Annotated[int | None, typer.Option("--trees", help="Keep this many trees")] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Cap tree depth")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Validation data .npz")] = None,
    fmt: FormatArg = Fmt.table,
    force: ForceArg = False,
) -> None:
    """Drop trees (greedy, by agreement with the full model) and/or cap depth; report the
    accuracy-versus-size curve."""
    from edgeslim._core.io import ensure_writable
    from edgeslim.trees._io import save_bundle
    from edgeslim.trees._prune import cap_depth, keep_trees, pruning_curve, select_trees

    b = _load(bundle)
    ens = b.ensemble
    ref = _test_reference(b, data)
    x_val = b.get("x_train") if b.get("x_train") is not None else ref.x
    order = select_trees(ens, x_val[:2000])
    sizes = sorted({max(1, ens.n_trees * k // 10) for k in range(1, 11)} | {trees or 1})
    curve = pruning_curve(ens, order, ref.x, ref.y, sizes)
    pruned = keep_trees(ens, sorted(order[:trees])) if trees else ens
    if max_depth is not None:
        pruned = cap_depth(pruned, max_depth)
    target = ensure_writable(out, force)
    save_bundle(target, pruned, dict(b.data))
    result = {
        "bundle": str(target),
        "model": pruned.summary(),
        "order": order,
        "curve": [_point(p) for p in curve],
    }
    _write_json(target.with_suffix(".prune.json"), result)
    _emit(
        result,
        fmt,
        [
            (
                f"{p.n_trees} trees, {p.n_nodes} nodes",
                f"agreement {p.agreement:.4f}, accuracy {p.accuracy}",
            )
            for p in curve
        ]
        + [("written", str(target))],
        "trees prune",
    )


def _point(p: Any) -> dict[str, Any]:
    return {
        "n_trees": p.n_trees,
        "n_nodes": p.n_nodes,
        "accuracy": p.accuracy,
        "agreement": p.agreement,
    }
