"""Per-layer costs a ``measure`` step recorded, as plain records."""

from __future__ import annotations

import math
from collections.abc import Mapping

from edgeslim._core.errors import EdgeslimError
from edgeslim.report._records import LayerCost, LayerCostInfo
from edgeslim.store import RunRecord

#: The step kind whose ``record["layers"]`` the report reads.
LAYERS_STEP_KIND = "measure"


def get_layer_cost_info(run: RunRecord) -> LayerCostInfo | None:
    """Layer costs from the run's latest ``measure`` step with a ``layers`` list, else ``None``.

    The record shape is ``{"layers": [{"name": str, "op": str, "macs": number,
    "params": number (optional)}, ...]}``, one entry per layer in execution order. A malformed
    entry is an error naming the run, the step and the entry, so that a producer's bug shows.
    """
    steps = [s for s in run.steps if s.kind == LAYERS_STEP_KIND and "layers" in s.record]
    if not steps:
        return None
    step = steps[-1]
    entries = step.record["layers"]
    where = f"run {run.name!r} step {step.index} ({step.name!r})"
    if not isinstance(entries, list):
        raise EdgeslimError(f"{where}: record 'layers' must be a list of layer objects")
    layers = tuple(_layer(entry, f"{where}: layers[{i}]") for i, entry in enumerate(entries))
    return LayerCostInfo(run.id, run.name, step.index, layers)


def _layer(entry: object, where: str) -> LayerCost:
    if not isinstance(entry, Mapping):
        raise EdgeslimError(f"{where} must be an object with name, op, macs; got {entry!r}")
    name, op = entry.get("name"), entry.get("op")
    if not isinstance(name, str) or not isinstance(op, str):
        raise EdgeslimError(f"{where} needs string 'name' and 'op'; got {entry!r}")
    macs = _number(entry.get("macs"), f"{where} 'macs'")
    params = entry.get("params")
    return LayerCost(
        name, op, macs, None if params is None else _number(params, f"{where} 'params'")
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EdgeslimError(f"{where} must be a finite number; got {value!r}")
    if value < 0:
        raise EdgeslimError(f"{where} must not be negative; got {value!r}")
    return float(value)
