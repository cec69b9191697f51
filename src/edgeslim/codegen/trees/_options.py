"""Options of the tree C generator (a frozen record; checked in one place)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgeslim._core.errors import ExportError
from edgeslim.codegen._c import sanitize_identifier


class Layout(enum.StrEnum):
    IFELSE = "ifelse"  # nested if/else per tree, likely child first (falls through)
    ARRAY = "array"  # node arrays walked by a loop, nodes in likely-first depth-first order


class Compare(enum.StrEnum):
    FLOAT = "float"  # float32 compares
    INT = "int"  # float32 bit patterns compared as integers (finite inputs)


@dataclass(frozen=True, slots=True)
class CTreeOptions:
    """How to write the C library.

    ``name`` prefixes every exported symbol (sanitized); ``accumulate`` is the C type of the
    float sums (``float`` or ``double``; integer leaves always sum in ``int32_t``);
    ``hot_first`` orders children by branch probability (likely child first).
    """

    name: str = "model"
    layout: Layout = Layout.IFELSE
    accumulate: str = "float"
    compare: Compare = Compare.FLOAT
    hot_first: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", Layout(self.layout))
        object.__setattr__(self, "compare", Compare(self.compare))
        if self.accumulate not in ("float", "double"):
            raise ExportError(
                f"parameter accumulate of CTreeOptions must be 'float' or 'double'; "
                f"got {self.accumulate!r}"
            )
        if not self.name:
            raise ExportError("parameter name of CTreeOptions must not be empty")

    @property
    def c_name(self) -> str:
        return sanitize_identifier(self.name, prefix="m")
