"""Frozen records that cross layers. A metric always carries its unit and provenance."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Provenance(enum.StrEnum):
    """Where a number comes from. Reports show it beside the number."""

    MEASURED = "measured"  # ran the exported artifact
    SIMULATED = "simulated"  # ran it in an emulator/simulator (QEMU, Verilator)
    ESTIMATED = "estimated"  # a model of the hardware (energy, cycles from instructions)
    COMPUTED = "computed"  # exact count from the artifact's structure (params, MACs, bytes)
    BOUND = "bound"  # a certified bound, not a measurement


@dataclass(frozen=True, slots=True)
class Metric:
    """One number with its unit and provenance.

    ``name`` is a stable identifier such as ``"latency_p50"``; ``unit`` is a short SI-style unit
    (``"s"``, ``"B"``, ``"MAC"``, ``"1"`` for ratios); ``provenance`` says how it was obtained;
    ``context`` qualifies it (backend, threads, batch size) as a short string, possibly empty.
    """

    name: str
    value: float
    unit: str
    provenance: Provenance
    context: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace(".", "").isalnum():
            raise ValueError(
                f"metric name must be alphanumeric with '_' or '.'; got {self.name!r}"
            )
        if not isinstance(self.provenance, Provenance):
            object.__setattr__(self, "provenance", Provenance(self.provenance))
        object.__setattr__(self, "value", float(self.value))

    @property
    def key(self) -> str:
        """Name qualified by context, unique within a run (``latency_p50[ort,t1,b1]``)."""
        return f"{self.name}[{self.context}]" if self.context else self.name

    def to_dict(self) -> dict[str, object]:
        value: float | None = self.value if math.isfinite(self.value) else None
        return {
            "value": value,
            "unit": self.unit,
            "provenance": self.provenance.value,
            "context": self.context,
        }
