"""Options of the tree C generator (a frozen record; checked in one place)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgeslim._core.errors import ExportError
from edgeslim.codegen._c import sanitize_identifier


class Layout(enum.StrEnum):
    IFELSE = "ifelse"  # nested if/else per tree, likely child first (falls through)
    ARRAY = "array"  # node arrays walked by a loop, nodes in likely-first depth-first order
    PACKED = "packed"  # one 32-bit word per split (threshold, feature, child flags), smallest


class Compare(enum.StrEnum):
    FLOAT = "float"  # float32 compares
    INT = "int"  # float32 bit patterns compared as integers (finite inputs)


@dataclass(frozen=True, slots=True)
class CTreeOptions:
    """How to write the C library.

    ``name`` prefixes every exported symbol (sanitized); ``accumulate`` is the C type of the
    float sums (``float`` or ``double``; integer leaves always sum in ``int32_t``);
    ``hot_first`` orders children by branch probability (likely child first; if-else and
    array layouts: the packed layout always stores the left child first, as its words have no
    bit to spare for the direction).
    ``inline_leaves`` (if-else layout, integer leaves): each leaf adds its constants to the
    accumulators in place instead of returning a leaf-table row (faster, more code);
    ``preload`` (if-else layout): the features are read once per sample into locals that
    every tree shares (fewer loads) instead of at each split.
    """

    name: str = "model"
    layout: Layout = Layout.IFELSE
    accumulate: str = "float"
    compare: Compare = Compare.FLOAT
    hot_first: bool = True
    inline_leaves: bool = True
    preload: bool = True

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
