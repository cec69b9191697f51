"""Layer 5: reports. Compute plain info records first (tested), then render them thinly.

* ``get_comparison_info`` → runs × metrics with units, provenance, best cells, Pareto flags;
* ``get_scatter_info`` → one metric against another with the 2-D Pareto front;
* ``get_layer_cost_info`` → MACs per layer from a ``measure`` step's ``record["layers"]``;
* ``render_markdown`` / ``render_html`` (one offline file, plotly.js inlined) / ``render_png``;
* ``build_report`` → the HTML report of a store's runs and its markdown twin.

Warnings: a run's metrics named ``warning.<what>`` and its steps' ``record["warnings"]`` (strings
or objects with a ``message``) fill the comparison's warnings column, e.g. the realized-gain check.
"""

from __future__ import annotations

from edgeslim.report._build import build_report, report_infos
from edgeslim.report._compare import get_comparison_info, get_scatter_info
from edgeslim.report._directions import DIRECTIONS, direction_of
from edgeslim.report._format import format_value
from edgeslim.report._html import render_html
from edgeslim.report._layers import get_layer_cost_info
from edgeslim.report._markdown import render_markdown
from edgeslim.report._png import render_png
from edgeslim.report._records import (
    Cell,
    Column,
    ComparisonInfo,
    Direction,
    Info,
    LayerCost,
    LayerCostInfo,
    Row,
    ScatterInfo,
    ScatterPoint,
)

__all__ = [
    "DIRECTIONS",
    "Cell",
    "Column",
    "ComparisonInfo",
    "Direction",
    "Info",
    "LayerCost",
    "LayerCostInfo",
    "Row",
    "ScatterInfo",
    "ScatterPoint",
    "build_report",
    "direction_of",
    "format_value",
    "get_comparison_info",
    "get_layer_cost_info",
    "get_scatter_info",
    "render_html",
    "render_markdown",
    "render_png",
    "report_infos",
]
