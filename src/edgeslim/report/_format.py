"""Numbers as people read them, shared by every renderer so that all formats agree."""

from __future__ import annotations

import math
from types import MappingProxyType

from edgeslim._core.records import Provenance
from edgeslim.report._records import Direction, LayerCostInfo

#: One-letter marks shown beside each value.
PROVENANCE_MARK = MappingProxyType(
    {
        Provenance.MEASURED: "m",
        Provenance.SIMULATED: "s",
        Provenance.ESTIMATED: "e",
        Provenance.COMPUTED: "c",
        Provenance.BOUND: "b",
    }
)

PROVENANCE_LEGEND = ", ".join(f"{mark} {p.value}" for p, mark in PROVENANCE_MARK.items())

ARROW = MappingProxyType({Direction.HIGHER: "↑", Direction.LOWER: "↓"})

#: Units printed with an SI prefix (1.2 kB, 350 µs, 4.1 MMAC).
SI_UNITS = frozenset({"B", "s", "J", "W", "Hz", "MAC", "FLOP", "instr", "cycle"})
_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def format_value(value: float | None, unit: str) -> str:
    """``1234.0, "B"`` → ``"1.23 kB"``; ``None`` → ``"—"``; ratios (unit ``"1"``) bare."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return ("∞" if value > 0 else "-∞") + (f" {unit}" if unit not in ("", "1") else "")
    if unit in ("", "1"):
        return f"{value:.4g}"
    magnitude = abs(value)
    if unit in SI_UNITS and value != 0:
        for scale, prefix in _PREFIXES:
            if magnitude >= scale * 0.9995:
                return f"{value / scale:.3g} {prefix}{unit}"
        return f"{value:.3g} {unit}"
    if magnitude >= 9999.5:  # other units: a spaced prefix, "423 k samples/s"
        scale, prefix = next((s, p) for s, p in _PREFIXES if magnitude >= s * 0.9995)
        return f"{value / scale:.3g} {prefix} {unit}"
    return f"{value:.4g} {unit}"


def format_ratio(ratio: float | None) -> str:
    """Ratio to the reference run: ``×0.25``; empty when there is none."""
    return "" if ratio is None or not math.isfinite(ratio) else f"×{ratio:.3g}"


def layer_figure_title(info: LayerCostInfo) -> str:
    """Title of a MACs-per-layer figure: the total, and how many MAC-free layers are left out."""
    hidden = len(info.layers) - len(info.working_layers)
    plural = "s" if hidden != 1 else ""
    note = f"; {hidden} layer{plural} without MACs not shown" if hidden else ""
    return f"{info.title} (total {format_value(info.total_macs, 'MAC')}{note})"
