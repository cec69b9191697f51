"""Plotly figures from report infos. The only module of :mod:`edgeslim.report` importing plotly."""

from __future__ import annotations

from typing import Any

from edgeslim._core.errors import EdgeslimError
from edgeslim.report._format import SI_UNITS, layer_figure_title
from edgeslim.report._format import format_value as fmt
from edgeslim.report._markdown import column_title
from edgeslim.report._records import LayerCostInfo, ScatterInfo

_HEIGHT = 440
_FRONT_COLOR = "#1f77b4"
_OTHER_COLOR = "#9aa0a6"


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise EdgeslimError(
            "the HTML report needs plotly; install it with: pip install 'edgeslim[report]'"
        ) from None
    return go


def plotly_js() -> str:
    """The plotly.js bundle, inlined once per HTML file so that it works offline."""
    _go()
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def figure_html(info: ScatterInfo | LayerCostInfo) -> str:
    """A ``<div>`` with the figure and the script drawing it; plotly.js must be on the page."""
    figure = _scatter(info) if isinstance(info, ScatterInfo) else _layer_bars(info)
    html = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        default_height=f"{_HEIGHT}px",
        config={"displaylogo": False, "responsive": True},
    )
    return str(html)


def _scatter(info: ScatterInfo) -> Any:
    go = _go()
    figure = go.Figure()
    hover = (
        f"<b>%{{text}}</b><br>{info.x.key}: %{{customdata[0]}}<br>"
        f"{info.y.key}: %{{customdata[1]}}<extra></extra>"
    )
    others = [p for p in info.points if not p.on_front]
    groups = (
        ("dominated" if info.front else "runs", others, _OTHER_COLOR, "markers+text"),
        ("Pareto front", [info.points[i] for i in info.front], _FRONT_COLOR, "lines+markers+text"),
    )
    for label, chosen, color, mode in groups:
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=[p.x for p in chosen],
                y=[p.y for p in chosen],
                text=[p.run_name for p in chosen],
                customdata=[
                    [
                        f"{fmt(p.x, info.x.unit)} ({p.x_provenance.value})",
                        f"{fmt(p.y, info.y.unit)} ({p.y_provenance.value})",
                    ]
                    for p in chosen
                ],
                mode=mode,
                textposition="top center",
                name=label,
                marker={"color": color, "size": 10},
                line={"color": color, "dash": "dot"},
                hovertemplate=hover,
            )
        )
    xs = [p.x for p in info.points]
    log_x = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 50
    x_axis = {"title": column_title(info.x), "type": "log" if log_x else "linear"}
    figure.update_layout(
        xaxis={**x_axis, **_si_ticks(info.x.unit)},
        yaxis={"title": column_title(info.y), **_si_ticks(info.y.unit)},
        title=info.title,
        template="plotly_white",
        height=_HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return figure


def _layer_bars(info: LayerCostInfo) -> Any:
    go = _go()
    total = info.total_macs or 1.0
    figure = go.Figure(
        go.Bar(
            x=[layer.name for layer in info.working_layers],
            y=[layer.macs for layer in info.working_layers],
            customdata=[
                [
                    layer.op,
                    fmt(layer.macs, "MAC"),
                    f"{100 * layer.macs / total:.1f} %",
                    "—" if layer.params is None else f"{layer.params:.0f}",
                ]
                for layer in info.working_layers
            ],
            marker={"color": _FRONT_COLOR},
            hovertemplate=(
                "<b>%{x}</b> (%{customdata[0]})<br>%{customdata[1]}, %{customdata[2]}"
                "<br>params: %{customdata[3]}<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        title=layer_figure_title(info),
        xaxis_title="layer",
        yaxis={"title": "MACs", **_si_ticks("MAC")},
        template="plotly_white",
        height=_HEIGHT,
        margin={"l": 60, "r": 20, "t": 50, "b": 80},
    )
    return figure


def _si_ticks(unit: str) -> dict[str, str]:
    """Tick labels like ``100kB`` and ``3ms`` for units printed with SI prefixes."""
    return {"exponentformat": "SI", "ticksuffix": unit} if unit in SI_UNITS else {}
