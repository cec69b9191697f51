"""Plain frozen data the report's ``get_*_info`` functions compute and its renderers draw."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgeslim._core.records import Provenance


class Direction(enum.StrEnum):
    """Which way a metric improves."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class Column:
    """One metric column of a comparison: its key (``name[context]``), unit and direction.

    ``direction`` is ``None`` for metrics with no better side (sparsity, counts of things); such
    columns get no best cell and take no part in the Pareto front.
    """

    key: str
    name: str
    context: str
    unit: str
    direction: Direction | None


@dataclass(frozen=True, slots=True)
class Cell:
    """A run's value in one column; ``value`` is ``None`` where the run lacks the metric.

    ``ratio`` is value / reference value (``None`` without a reference or a usable value).
    """

    value: float | None
    provenance: Provenance | None
    is_best: bool = False
    ratio: float | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One run of a comparison.

    ``on_front`` is ``True``/``False`` for Pareto-optimal or dominated runs over the objective
    columns, and ``None`` where the run lacks an objective's value. ``warnings`` are the texts of
    its ``warning.*`` metrics and of its steps' ``record["warnings"]``.
    """

    run_id: int
    run_name: str
    status: str
    cells: tuple[Cell, ...]
    on_front: bool | None
    is_reference: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComparisonInfo:
    """Runs × metric columns, with best cells, Pareto flags and an optional reference run."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    objectives: tuple[str, ...]  # keys of the columns the Pareto front is computed over
    reference: str | None  # name of the reference run


@dataclass(frozen=True, slots=True)
class ScatterPoint:
    run_id: int
    run_name: str
    x: float
    y: float
    x_provenance: Provenance
    y_provenance: Provenance
    on_front: bool


@dataclass(frozen=True, slots=True)
class ScatterInfo:
    """One metric against another, one point per run, with the 2-D Pareto front.

    ``front`` holds indices into ``points`` of the front, ordered by x; it is empty when an axis
    has no direction. ``skipped`` names the runs lacking a finite x or y.
    """

    x: Column
    y: Column
    points: tuple[ScatterPoint, ...]
    front: tuple[int, ...]
    skipped: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.y.key} vs {self.x.key}"


@dataclass(frozen=True, slots=True)
class LayerCost:
    name: str
    op: str
    macs: float
    params: float | None


@dataclass(frozen=True, slots=True)
class LayerCostInfo:
    """Per-layer costs of one run, from its latest ``measure`` step recording ``layers``."""

    run_id: int
    run_name: str
    step: int
    layers: tuple[LayerCost, ...]

    @property
    def title(self) -> str:
        return f"MACs per layer: {self.run_name}"

    @property
    def total_macs(self) -> float:
        return sum(layer.macs for layer in self.layers)

    @property
    def working_layers(self) -> tuple[LayerCost, ...]:
        """The layers with MACs (figures leave out reshapes, activations and the like)."""
        return tuple(layer for layer in self.layers if layer.macs > 0)


Info = ComparisonInfo | ScatterInfo | LayerCostInfo
