"""``edgeslim search``: hardware-aware architecture and compression-policy search (Optuna).

``edgeslim search RECIPE.yaml --target cortex-m4 --budget flash=64KB,ram=16KB --trials 60``
is ``edgeslim search run ...``; ``show NAME`` prints the Pareto front; ``export NAME`` measures
the front on the emulated target; ``report NAME`` writes search.html/.md; ``calibrate
RECIPE.yaml`` fits the instruction model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from edgeslim.cli import _ui
from edgeslim.cli._options import ForceOpt, Format, FormatOpt, OutOpt, StoreOpt, _store_url


class _RunByDefault(TyperGroup):
    """``edgeslim search RECIPE.yaml ...`` runs ``edgeslim search run RECIPE.yaml ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Hardware-aware search of architectures and compression policies under a budget. "
    "`edgeslim search RECIPE.yaml ...` is `edgeslim search run RECIPE.yaml ...`. Example: "
    "edgeslim search recipes/search-motions.yaml --target cortex-m4 --budget flash=64KB,ram=16KB "
    "--trials 60",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

TargetOpt = Annotated[
    str, typer.Option("--target", help="Device profile: cortex-m0plus, cortex-m4, cortex-m7")
]


@app.command("run")
def run(
    recipe: Annotated[Path, typer.Argument(help="Search recipe (YAML: data, space, objectives).")],
    target: TargetOpt = "cortex-m4",
    budget: Annotated[
        str, typer.Option("--budget", help="flash=64KB,ram=16KB,latency=50ms (KB = 1024 B)")
    ] = "",
    trials: Annotated[int, typer.Option("--trials", help="Finished trials the study holds.")] = 20,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a stopped or crashed study.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", help="Parallel worker processes sharing the study.")
    ] = 1,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run the workers as Ray tasks (RAY_ADDRESS or local).")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Study name (recipe name).")] = None,
    export_top: Annotated[
        int | None, typer.Option("--export-top", help="Front members measured in QEMU after.")
    ] = None,
    calibration_samples: Annotated[
        int,
        typer.Option(
            "--calibration-samples",
            help="Candidates run in QEMU to fit the instruction model when the store has none "
            "for the target (0: uncalibrated default model).",
        ),
    ] = 16,
    store: StoreOpt = "",
    out: OutOpt = Path("edgeslim-out"),
    fmt: FormatOpt = Format.table,
    force: ForceOpt = False,
) -> None:
    """Run a multi-objective search; every trial goes to the store's database.

    Example: edgeslim search recipes/search-motions.yaml --target cortex-m4
    --budget flash=64KB,ram=16KB --trials 60 --workers 2
    """
    from edgeslim import api
    from edgeslim.api import search as s

    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        info = s.search(
            recipe,
            target=target,
            store=db,
            budget=budget,
            trials=trials,
            resume=resume,
            workers=workers,
            use_ray=ray,
            out_dir=out,
            name=name,
            force=force,
            export_top=export_top,
            calibration_samples=calibration_samples,
            progress=progress,
        )
    _print(info, fmt)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    store: StoreOpt = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the Pareto front, the baselines and the measured exports of a study.

    Example: edgeslim search show motions-search
    """
    from edgeslim import api
    from edgeslim.api import search as s

    _print(s.show(name, store=api.open_store(_store_url(store))), fmt)


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Study name.")],
    top: Annotated[int, typer.Option("--top", help="Front members to measure.")] = 3,
    store: StoreOpt = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """Export the front's best trade-offs to C and measure them on the study's target (QEMU).

    Example: edgeslim search export motions-search --top 3
    """
    from edgeslim import api
    from edgeslim.api import search as s

    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        s.export_front(name, store=db, top=top, progress=progress)
    _print(s.show(name, store=db), fmt)


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Study name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for search.html/.md")] = Path(
        "edgeslim-search-report"
    ),
    store: StoreOpt = "",
    force: ForceOpt = False,
) -> None:
    """Write search.html (plot of every trial, the front and the baselines) and search.md.

    Example: edgeslim search report motions-search -o report/
    """
    from edgeslim import api
    from edgeslim.api import search as s

    for p in s.report(name, store=api.open_store(_store_url(store)), folder=out, force=force):
        _ui.console.print(f"wrote {p}")


@app.command("calibrate")
def calibrate(
    recipe: Annotated[Path, typer.Argument(help="Search recipe whose space is sampled.")],
    target: TargetOpt = "cortex-m4",
    samples: Annotated[int, typer.Option("--samples", help="Candidates run in QEMU.")] = 16,
    store: StoreOpt = "",
    fmt: FormatOpt = Format.table,
) -> None:
    """Fit the per-kernel instruction model on QEMU runs; print its leave-one-out error.

    Example: edgeslim search calibrate recipes/search-motions.yaml --target cortex-m4
    """
    from edgeslim import api
    from edgeslim.api import search as s

    db = api.open_store(_store_url(store))
    with _ui.progress_sink(fmt is Format.table) as progress:
        model = s.calibrate(recipe, target, db, samples, progress)
    if fmt is Format.json:
        _ui.print_json(model)
        return
    err = model.get("error", {})
    _ui.out.print(
        f"instruction model for {target}: {len(model['coef'])} kernels; leave-one-out error "
        f"mean {err.get('mean_rel_error', 0):.1%}, max {err.get('max_rel_error', 0):.1%}"
    )


def _kb(v: Any) -> str:
    return "-" if v is None else f"{float(v) / 1024:.1f}K"


def _print(info: dict[str, Any], fmt: Format) -> None:
    if fmt is Format.json:
        _ui.print_json(info)
        return
    from rich.table import Table

    from edgeslim.report.search import describe

    c = info["counts"]
    _ui.out.print(
        f"study {info['name']} on {info['target']}: {c['complete']} complete, {c['pruned']} "
        f"pruned, {c['fail']} failed; status {info['status']}; budget {info['budget']}"
    )
    cal = info.get("calibration") or {}
    if "uncalibrated" in cal:
        _ui.out.print(
            "instruction model: uncalibrated defaults (run `edgeslim search calibrate` for "
            "predictions that match the target)"
        )
    if "mean_rel_error" in cal:
        _ui.out.print(
            f"instruction model leave-one-out error: mean {cal['mean_rel_error']:.1%}, "
            f"max {cal['max_rel_error']:.1%}"
        )
    table = Table(
        title=f"Pareto front ({', '.join(f'{k} {d}' for k, d in info['objectives'].items())})"
    )
    q = "mae" if "mae" in info["objectives"] else "accuracy"
    for col in ("trial", "model", f"val {q}", f"test {q}", "flash", "RAM", "instr", "latency"):
        table.add_column(col, justify="right" if col != "model" else "left")
    rows = [(f"#{r['number']}", r) for r in info["front"]]
    rows += [(f"[dim]{b['name']}[/]", b) for b in info["baselines"]]
    for label, r in rows:
        cost = r["cost"]
        table.add_row(
            label,
            describe(r.get("candidate") or r.get("config") or {}) + _policy_tag(r),
            f"{r['val'].get(q, float('nan')):.3f}",
            f"{r['test'].get(q, float('nan')):.3f}",
            _kb(cost["flash_bytes"]),
            _kb(cost["ram_bytes"]),
            f"{cost['instructions'] / 1e3:.0f}k",
            f"{cost['latency_s'] * 1e3:.2f} ms",
        )
    _ui.out.print(table)
    if info.get("exports"):
        t2 = Table(title=f"measured on {info['target']} (QEMU) vs predicted")
        for col in ("model", "bits", f"test {q}", "flash", "pred flash", "arena", "instr",
                    "pred instr", "error"):  # fmt: skip
            t2.add_column(col, justify="right")
        for e in info["exports"]:
            m, p = e["measured"], e["predicted"]
            t2.add_row(
                e["label"],
                "int8" if e.get("int8") else "float",
                f"{e['test_quality']:.3f}",
                _kb(m.get("flash_bytes")),
                _kb(p["flash_bytes"]),
                _kb(m.get("arena_bytes")),
                f"{m.get('instructions', 0) / 1e3:.0f}k",
                f"{p['instructions'] / 1e3:.0f}k",
                f"{e['instructions_error']:+.1%}",
            )
        _ui.out.print(t2)


def _policy_tag(row: dict[str, Any]) -> str:
    """`` int8`` / `` kd`` for trials quantized to int8 or distilled (baselines: nothing)."""
    tags = [" int8"] if row.get("bits") == 8 else []
    return "".join(tags + ([" kd"] if row.get("distilled") else []))
