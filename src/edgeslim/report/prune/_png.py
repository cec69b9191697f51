"""PNG images of the pruning report's records via matplotlib (Agg, no pyplot state): the same
records the HTML figures draw. The process figure shows every step at once (sparsity per layer
as lines over steps), since an image has no slider."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report.prune._records import (
    ChannelMapInfo,
    CurveInfo,
    HeatmapInfo,
    HistogramInfo,
    ProcessInfo,
    PruneInfo,
    SensitivityInfo,
)

_REF = "#d62728"


def _figure(size: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeslimError(
            "PNG images need matplotlib; install it with: pip install 'edgeslim[report]'"
        ) from None
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _curve(fig: Any, info: CurveInfo) -> None:
    ax = fig.add_subplot()
    for line in info.lines:
        ax.plot(line.xs, line.ys, "o-", label=line.method)
    if info.reference is not None:
        ax.axhline(info.reference[1], color=_REF, linestyle=":", label="unpruned")
        ax.plot([info.reference[0]], [info.reference[1]], "*", color=_REF, markersize=12)
    if info.log_x:
        ax.set_xscale("log")
    ax.set_xlabel(info.x_label)
    ax.set_ylabel(info.y_label)
    ax.set_title(info.title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _heatmap(fig: Any, info: HeatmapInfo) -> None:
    import numpy as np

    ax = fig.add_subplot()
    z = np.array([[np.nan if v is None else v for v in row] for row in info.values], dtype=float)
    image = ax.imshow(z, aspect="auto", vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(info.columns)), info.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(info.rows)), info.rows, fontsize=7)
    fig.colorbar(image, ax=ax, label="sparsity")
    ax.set_title(info.title)


def _channels(fig: Any, info: ChannelMapInfo) -> None:
    import numpy as np

    ax = fig.add_subplot()
    width = max((len(m) for m in info.maps), default=0)
    z = np.full((len(info.maps), width), np.nan)
    for i, m in enumerate(info.maps):
        z[i, : len(m)] = m
    ax.imshow(z, aspect="auto", vmin=0, vmax=1, cmap="coolwarm_r", interpolation="nearest")
    ax.set_yticks(range(len(info.layers)), info.layers, fontsize=7)
    ax.set_xlabel("output channel (original index); blue kept, red removed")
    ax.set_title(info.title)


def _histogram(fig: Any, info: HistogramInfo) -> None:
    n = max(1, len(info.after))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    centers = [(a + b) / 2 for a, b in zip(info.edges, info.edges[1:], strict=False)]
    width = (info.edges[1] - info.edges[0]) if len(info.edges) > 1 else 1.0
    for i, (label, counts) in enumerate(info.after or (("(none)", ()),)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.bar(centers, info.before, width=width, color="#9aa0a6", alpha=0.6, label="before")
        if counts:
            ax.bar(centers, counts, width=width, alpha=0.8, label="after")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(info.title)


def _process(fig: Any, info: ProcessInfo) -> None:
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    xs = [s.step for s in info.steps]
    for layer in info.layers:
        left.plot(xs, [dict(s.layers).get(layer) for s in info.steps], "o-", label=layer)
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("step")
    left.set_ylabel("sparsity")
    left.set_ylim(0, 1)
    left.legend(fontsize=6)
    right.plot(xs, [s.accuracy for s in info.steps], "o-", label="fine-tuned")
    right.plot(xs, [s.accuracy_pruned for s in info.steps], "o:", label="right after pruning")
    right.set_xlabel("step")
    right.set_ylabel("accuracy")
    right.legend(fontsize=7)
    fig.suptitle(info.title)


def _sensitivity(fig: Any, info: SensitivityInfo) -> None:
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for line in info.curves:
        left.plot(line.xs, line.ys, "o-", label=line.method)
    left.axhline(info.baseline, color=_REF, linestyle=":")
    left.set_xlabel("sparsity of that layer")
    left.set_ylabel("accuracy")
    left.legend(fontsize=6)
    names = [k for k, _ in info.allocation]
    right.bar(range(len(names)), [v for _, v in info.allocation], color="#4c78a8")
    right.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=6)
    right.set_ylabel("allocated sparsity")
    fig.suptitle(info.title)


_DRAW: dict[type, tuple[Callable[[Any, Any], None], tuple[float, float]]] = {
    CurveInfo: (_curve, (7.0, 4.5)),
    HeatmapInfo: (_heatmap, (9.0, 5.0)),
    ChannelMapInfo: (_channels, (9.0, 3.5)),
    HistogramInfo: (_histogram, (10.0, 6.0)),
    ProcessInfo: (_process, (10.0, 4.0)),
    SensitivityInfo: (_sensitivity, (11.0, 4.5)),
}


def render_prune_png(
    info: PruneInfo, path: str | os.PathLike[str], *, force: bool = False, dpi: int = 110
) -> Path:
    """Draw one record to a PNG file (atomically); TypeError for records without a figure."""
    entry = _DRAW.get(type(info))
    if entry is None:
        raise TypeError(f"no PNG for {type(info).__name__}")
    draw, size = entry
    target = ensure_writable(path, force)
    fig = _figure(size)
    draw(fig, info)
    fig.tight_layout()
    with atomic_write(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return target
