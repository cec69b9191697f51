"""Which way each metric improves: a table by name, then by name prefix, then by unit."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from edgeslim.report._records import Direction

_H, _L = Direction.HIGHER, Direction.LOWER

#: Known metric names (or their first ``_``-separated word) and their better side.
DIRECTIONS: Mapping[str, Direction] = MappingProxyType(
    {
        "accuracy": _H,
        "agreement": _H,
        "auc": _H,
        "f1": _H,
        "precision": _H,
        "recall": _H,
        "top1": _H,
        "top5": _H,
        "throughput": _H,
        "speedup": _H,
        "compression": _H,
        "latency": _L,
        "artifact_bytes": _L,
        "flash": _L,
        "ram": _L,
        "peak_ram": _L,
        "storage": _L,
        "size": _L,
        "macs": _L,
        "flops": _L,
        "params": _L,
        "energy": _L,
        "power": _L,
        "instructions": _L,
        "cycles": _L,
        "loss": _L,
        "error": _L,
        "diff": _L,
    }
)

#: Units whose quantity is a cost when the name says nothing: time, bytes, work, energy.
LOWER_UNITS = frozenset({"s", "B", "MAC", "FLOP", "J", "W", "instr", "cycle"})


def direction_of(
    name: str, unit: str, overrides: Mapping[str, Direction] | None = None
) -> Direction | None:
    """The better side of metric ``name`` with ``unit``, or ``None`` when it has none.

    ``overrides`` (by exact name) win; then :data:`DIRECTIONS` by exact name, then by the first
    ``_``-separated word (``latency_p95`` → ``latency``), then by the last (``macro_f1`` → ``f1``);
    then costs by unit (:data:`LOWER_UNITS`). Names ending in ``_bytes`` are costs.
    """
    if overrides and name in overrides:
        return Direction(overrides[name])
    words = name.split("_")
    for candidate in (name, words[0], words[-1]):
        if candidate in DIRECTIONS:
            return DIRECTIONS[candidate]
    if name.endswith("_bytes") or unit in LOWER_UNITS:
        return Direction.LOWER
    return None
