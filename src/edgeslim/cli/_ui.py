"""Rich rendering shared by the commands: progress bars and the comparison table."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from edgeslim._core.records import Metric

# Not a terminal (CI logs, pipes): rich would assume 80 columns and squash the tables.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

# (column title, metric name, context prefix or None, formatter)
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("accuracy", "accuracy", None),
    ("macro F1", "macro_f1", None),
    ("MAE", "mae", None),
    ("params", "params", None),
    ("MACs", "macs", None),
    ("ONNX bytes", "artifact_bytes", None),
    ("peak act.", "peak_activation_bytes", None),
    ("torch p50", "latency_p50", "torch,t1,b1"),
    ("ort p50", "latency_p50", "onnxruntime,t1,b1"),
    ("ort p95", "latency_p95", "onnxruntime,t1,b1"),
    ("ort thr.", "throughput", "onnxruntime,t"),
)


def _fmt(m: Metric) -> str:
    v = m.value
    if m.unit == "s":
        return f"{v * 1e6:.1f} us" if v < 1e-3 else f"{v * 1e3:.2f} ms"
    if m.unit == "B":
        return f"{v / 1024:.1f} KiB" if v >= 1024 else f"{v:.0f} B"
    if m.unit in {"1", "ratio"}:
        return f"{v:.4f}"
    if m.unit == "samples/s":
        return f"{v:,.0f}/s"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:.4g}"


def find(metrics: Sequence[Metric], name: str, context: str | None) -> Metric | None:
    for m in metrics:
        if m.name == name and (context is None or m.context.startswith(context)):
            return m
    return None


def metrics_table(rows: Sequence[tuple[str, Sequence[Metric]]], title: str) -> Table:
    """A table with one row per run and the columns that any run has."""
    cols = [c for c in COLUMNS if any(find(ms, c[1], c[2]) for _, ms in rows)]
    table = Table(title=title)
    table.add_column("run", style="bold")
    for title_, _, _ in cols:
        table.add_column(title_, justify="right")
    for name, ms in rows:
        cells = []
        for _, metric, ctx in cols:
            m = find(ms, metric, ctx)
            cells.append(_fmt(m) if m else "-")
        table.add_row(name, *cells)
    return table


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


class _RichTask:
    def __init__(self, progress: RichProgress, task_id: Any) -> None:
        self._p, self._id = progress, task_id

    def advance(self, n: float = 1.0) -> None:
        self._p.advance(self._id, n)

    def done(self) -> None:
        task = self._p.tasks[self._id]
        total = task.total if task.total is not None else task.completed or 1
        self._p.update(self._id, total=total, completed=total)


class RichProgressSink:
    """Implements :class:`edgeslim.api.progress.Progress` with rich bars on stderr."""

    def __init__(self, progress: RichProgress) -> None:
        self._p = progress

    def task(self, description: str, total: float | None) -> _RichTask:
        return _RichTask(self._p, self._p.add_task(description, total=total))


@contextmanager
def progress_sink(enabled: bool = True) -> Iterator[Any]:
    if not enabled:
        from edgeslim.api.progress import NullProgress

        yield NullProgress()
        return
    with RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as p:
        yield RichProgressSink(p)
