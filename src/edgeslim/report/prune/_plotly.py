"""Plotly figures of the pruning report's records (the HTML side; :mod:`._png` draws the same
records with matplotlib). plotly is imported here only."""

from __future__ import annotations

from typing import Any

from edgeslim._core.errors import EdgeslimError
from edgeslim.report.prune._records import (
    ChannelMapInfo,
    CurveInfo,
    HeatmapInfo,
    HistogramInfo,
    ProcessInfo,
    SensitivityInfo,
)

_HEIGHT = 460
_REF = "#d62728"


def _plotly() -> tuple[Any, Any]:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise EdgeslimError(
            "the HTML report needs plotly; install it with: pip install 'edgeslim[report]'"
        ) from None
    return go, make_subplots


def _layout(fig: Any, title: str, height: int = _HEIGHT) -> Any:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


def curve(info: CurveInfo) -> Any:
    go, _ = _plotly()
    fig = go.Figure()
    for line in info.lines:
        fig.add_trace(
            go.Scatter(
                x=line.xs,
                y=line.ys,
                text=line.labels,
                mode="lines+markers",
                name=line.method,
                hovertemplate="%{text}<br>x=%{x}<br>accuracy=%{y:.4f}<extra></extra>",
            )
        )
    if info.reference is not None:
        x, y = info.reference
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                name="unpruned",
                marker={"symbol": "star", "size": 14, "color": _REF},
            )
        )
        fig.add_hline(y=y, line_dash="dot", line_color=_REF)
    fig.update_xaxes(title=info.x_label, type="log" if info.log_x else "linear")
    fig.update_yaxes(title=info.y_label)
    return _layout(fig, info.title)


def heatmap(info: HeatmapInfo) -> Any:
    go, _ = _plotly()
    fig = go.Figure(
        go.Heatmap(
            z=[list(r) for r in info.values],
            x=list(info.columns),
            y=list(info.rows),
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            colorbar={"title": "sparsity"},
            hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>",
        )
    )
    return _layout(fig, info.title, max(_HEIGHT, 24 * len(info.rows) + 160))


def channel_map(info: ChannelMapInfo) -> Any:
    go, _ = _plotly()
    width = max((len(m) for m in info.maps), default=0)
    z = [list(m) + [None] * (width - len(m)) for m in info.maps]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            y=list(info.layers),
            x=list(range(width)),
            zmin=0,
            zmax=1,
            colorscale=[[0, "#e45756"], [1, "#4c78a8"]],
            showscale=False,
            xgap=1,
            ygap=2,
            hovertemplate="%{y} channel %{x}: %{z} (1 kept, 0 removed)<extra></extra>",
        )
    )
    fig.update_xaxes(title="output channel (original index)")
    return _layout(fig, info.title, max(260, 40 * len(info.layers) + 140))


def histogram(info: HistogramInfo) -> Any:
    """Before (grey) and after; a dropdown picks the run."""
    go, _ = _plotly()
    centers = [(a + b) / 2 for a, b in zip(info.edges, info.edges[1:], strict=False)]
    fig = go.Figure(
        go.Bar(x=centers, y=list(info.before), name="before", marker_color="#9aa0a6", opacity=0.6)
    )
    for i, (label, counts) in enumerate(info.after):
        fig.add_trace(
            go.Bar(x=centers, y=list(counts), name=f"after: {label}", visible=i == 0, opacity=0.8)
        )
    buttons = [
        {
            "label": label,
            "method": "update",
            "args": [{"visible": [True] + [j == i for j in range(len(info.after))]}],
        }
        for i, (label, _) in enumerate(info.after)
    ]
    fig.update_layout(barmode="overlay", updatemenus=[{"buttons": buttons, "x": 1.0, "y": 1.15}])
    fig.update_xaxes(title="weight value")
    fig.update_yaxes(title="non-zero weights", type="log")
    return _layout(fig, info.title)


def process(info: ProcessInfo) -> Any:
    """Per-layer sparsity at a step (bars) and accuracy over steps; a slider walks the steps."""
    go, make_subplots = _plotly()
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.6, 0.4],
        subplot_titles=("sparsity per layer", "accuracy over steps"),
    )
    steps = info.steps
    xs = [s.step for s in steps]
    acc = [s.accuracy for s in steps]
    pruned = [s.accuracy_pruned for s in steps]

    def traces(t: int) -> list[Any]:
        s = steps[t]
        layers = dict(s.layers)
        return [
            go.Bar(
                x=list(info.layers),
                y=[layers.get(k) for k in info.layers],
                marker_color="#4c78a8",
                name=f"step {s.step}: {s.phase}",
            ),
            go.Scatter(x=xs[: t + 1], y=acc[: t + 1], mode="lines+markers", name="fine-tuned"),
            go.Scatter(
                x=xs[: t + 1],
                y=pruned[: t + 1],
                mode="lines+markers",
                name="right after pruning",
                line={"dash": "dot"},
            ),
        ]

    for i, tr in enumerate(traces(len(steps) - 1)):
        fig.add_trace(tr, row=1, col=1 if i == 0 else 2)
    fig.frames = [
        go.Frame(data=traces(t), name=str(t), traces=[0, 1, 2]) for t in range(len(steps))
    ]
    slider = {
        "active": len(steps) - 1,
        "currentvalue": {"prefix": "step "},
        "steps": [
            {
                "label": f"{s.step} ({s.sparsity:.2f})",
                "method": "animate",
                "args": [
                    [str(t)],
                    {"mode": "immediate", "frame": {"duration": 0, "redraw": True}},
                ],
            }
            for t, s in enumerate(steps)
        ],
    }
    fig.update_layout(sliders=[slider])
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(range=[min(xs) - 0.5, max(xs) + 0.5], title="step", row=1, col=2)
    return _layout(fig, info.title, 520)


def sensitivity(info: SensitivityInfo) -> Any:
    go, make_subplots = _plotly()
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.6, 0.4],
        subplot_titles=("accuracy with one layer pruned", "allocation"),
    )
    for line in info.curves:
        fig.add_trace(
            go.Scatter(x=line.xs, y=line.ys, mode="lines+markers", name=line.method), row=1, col=1
        )
    fig.add_hline(y=info.baseline, line_dash="dot", line_color=_REF, row=1, col=1)
    fig.add_trace(
        go.Bar(
            x=[k for k, _ in info.allocation],
            y=[v for _, v in info.allocation],
            name="allocated sparsity",
            marker_color="#4c78a8",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title="sparsity of that layer", row=1, col=1)
    return _layout(fig, info.title, 520)


def figure_div(fig: Any) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


def plotly_js() -> str:
    _plotly()
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())
