"""Runtime baselines: torch eager vs onnxruntime on every zoo model, in one run.

For each zoo kind on a digits-shaped image input (1, 8, 8) and a basic-motions-shaped series
input (6, 100), with random-initialized weights (timing does not need training), this measures
batch-1 latency p50 and batch-256 throughput of torch eager and of the exported ONNX artifact on
onnxruntime, both with the same thread count (1 by default), and the ratio (onnxruntime speed-up
over torch). Both runtimes are timed in the same process, one model after the other, so the
ratios hold even on a noisy shared machine; absolute numbers do not travel between machines.

Usage::

    .venv/bin/python bench/runtime_baselines.py --quick
    .venv/bin/python bench/runtime_baselines.py --threads 1 --out bench/results/baselines.md

Writes a markdown table to ``--out`` and the same rows as JSON beside it (``.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgeslim.backends import get_backend
from edgeslim.data.spec import DataSpec, Layout, Task
from edgeslim.ir import export_torch, from_onnx
from edgeslim.measure import latency_metrics, structure_metrics, throughput_metrics
from edgeslim.models import build_model, default_config, zoo_names

SPECS = (
    DataSpec("digits", Task.CLASSIFICATION, Layout.IMAGE, (1, 8, 8), 10, 10),
    DataSpec("basic-motions", Task.CLASSIFICATION, Layout.SERIES, (6, 100), 4, 4),
)


@dataclass(frozen=True)
class Row:
    data: str
    kind: str
    params: int
    macs: int
    torch_p50_s: float
    ort_p50_s: float
    torch_throughput: float
    ort_throughput: float
    max_abs_diff: float

    @property
    def latency_speedup(self) -> float:
        return self.torch_p50_s / self.ort_p50_s

    @property
    def throughput_speedup(self) -> float:
        return self.ort_throughput / self.torch_throughput


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="fewer repeats (about a minute)")
    p.add_argument("--threads", type=int, default=1, help="threads for both runtimes")
    p.add_argument("--batch", type=int, default=256, help="batch size of the throughput")
    p.add_argument("--kinds", default=",".join(zoo_names()), help="comma-separated zoo kinds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench/results/runtime_baselines.md"))
    return p.parse_args(argv)


def _value(metrics: tuple[Any, ...], name: str) -> float:
    return float(next(m.value for m in metrics if m.name == name))


def measure_one(kind: str, spec: DataSpec, folder: Path, args: argparse.Namespace) -> Row:
    import torch

    torch.manual_seed(args.seed)
    module = build_model(default_config(kind), spec)
    path = export_torch(module, spec.input_shape, folder / f"{spec.name}-{kind}.onnx")
    structure = structure_metrics(from_onnx(path))
    rng = np.random.default_rng(args.seed)
    many = rng.standard_normal((args.batch, *spec.input_shape)).astype(np.float32)
    one = many[:1].copy()
    warmup, repeats, thr_repeats = (10, 100, 10) if args.quick else (30, 500, 30)
    results: dict[str, tuple[float, float]] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, artifact in (("torch", module), ("onnxruntime", path)):
        with contextlib.closing(get_backend(name, threads=args.threads).load(artifact)) as r:
            outputs[name] = r.run(many)
            lat = latency_metrics(r, one, warmup=warmup, repeats=repeats)
            thr = throughput_metrics(r, many, warmup=2, repeats=thr_repeats)
        results[name] = (_value(lat, "latency_p50"), _value(thr, "throughput"))
    return Row(
        data=spec.name,
        kind=kind,
        params=int(_value(structure, "params")),
        macs=int(_value(structure, "macs")),
        torch_p50_s=results["torch"][0],
        ort_p50_s=results["onnxruntime"][0],
        torch_throughput=results["torch"][1],
        ort_throughput=results["onnxruntime"][1],
        max_abs_diff=float(np.max(np.abs(outputs["torch"] - outputs["onnxruntime"]))),
    )


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _cells(r: Row) -> list[str]:
    return [
        r.data,
        r.kind,
        f"{r.params:,}",
        f"{r.macs:,}",
        f"{r.torch_p50_s * 1e6:.1f}",
        f"{r.ort_p50_s * 1e6:.1f}",
        f"{r.latency_speedup:.2f}x",
        f"{r.torch_throughput:,.0f}",
        f"{r.ort_throughput:,.0f}",
        f"{r.throughput_speedup:.2f}x",
        f"{r.max_abs_diff:.1e}",
    ]


def _header() -> list[str]:
    return [
        "data",
        "model",
        "params",
        "MACs",
        "torch p50 us",
        "ort p50 us",
        "ort lat. x",
        "torch samples/s",
        "ort samples/s",
        "ort thr. x",
        "max abs diff",
    ]


def _title(args: argparse.Namespace) -> str:
    return (
        f"torch eager vs onnxruntime: p50 latency at batch 1, throughput at batch {args.batch}, "
        f"{args.threads} thread(s); x = onnxruntime speed-up over torch"
    )


def _summary(rows: list[Row]) -> str:
    lat = _geomean([r.latency_speedup for r in rows])
    thr = _geomean([r.throughput_speedup for r in rows])
    return (
        "geometric mean speed-up of onnxruntime over torch: "
        f"latency {lat:.2f}x, throughput {thr:.2f}x"
    )


def render(rows: list[Row], args: argparse.Namespace) -> Table:
    table = Table(title=_title(args), caption=_summary(rows))
    for i, h in enumerate(_header()):
        table.add_column(h, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(*_cells(r))
    return table


def to_markdown(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> str:
    head = _header()
    lines = [
        "# Runtime baselines: torch eager vs onnxruntime",
        "",
        _title(args) + ".",
        "",
        f"Environment: {json.dumps(env)}. Random-initialized zoo models, same process.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|",
        *("| " + " | ".join(_cells(r)) + " |" for r in rows),
        "",
        _summary(rows) + ".",
        "",
    ]
    return "\n".join(lines)


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "machine": platform.machine(),
        "quick": args.quick,
        "threads": args.threads,
        "batch": args.batch,
    }


def write(rows: list[Row], args: argparse.Namespace, env: dict[str, Any]) -> tuple[Path, Path]:
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    ignore = out.parent / ".gitignore"
    if out.parent.name == "results" and not ignore.exists():
        ignore.write_text("# benchmark results are not committed\n*\n")
    out.write_text(to_markdown(rows, args, env))
    data = {
        "environment": env,
        "rows": [
            {
                **asdict(r),
                "latency_speedup": r.latency_speedup,
                "throughput_speedup": r.throughput_speedup,
            }
            for r in rows
        ],
    }
    js = out.with_suffix(".json")
    js.write_text(json.dumps(data, indent=2) + "\n")
    return out, js


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    console = Console(width=None if sys.stdout.isatty() else 150)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(zoo_names()))
    if unknown:
        console.print(f"error: unknown zoo kinds {unknown}; known: {zoo_names()}")
        return 2
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="edgeslim-bench-") as tmp,
        console.status("measuring") as status,
    ):
        for spec in SPECS:
            for kind in kinds:
                status.update(f"measuring {kind} on {spec.name}-shaped input")
                rows.append(measure_one(kind, spec, Path(tmp), args))
    env = _environment(args)
    console.print(render(rows, args))
    md, js = write(rows, args, env)
    console.print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
