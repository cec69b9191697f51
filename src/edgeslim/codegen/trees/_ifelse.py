"""If-else layout: one nested if/else block per tree, likely child first.

The template receives flat :class:`Line` records (no recursion in Jinja, any depth): ``if``
opens a block testing one feature, ``else`` switches to the other child, ``end`` closes,
``leaf`` returns a value (scalar trees) or a leaf-table row (vector trees), or with inline
leaves adds its constants to the accumulators in place (``adds``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.trees._ir import Tree
from edgeslim.trees._layout import hot_left

MAX_C_NESTING = 120  # C99 guarantees 127 nested blocks


class Line(NamedTuple):
    kind: str  # "if" | "else" | "end" | "leaf"
    depth: int
    feature: int = 0
    lhs: str = "x"  # "x" (value as is) | "sbits" / "ubits" (float bits as int32 / uint32)
    op: str = "le"  # "le" | "gt" | "ge" | "lt"
    negate: bool = False
    rhs: float = 0.0  # threshold (float, integer code or bit pattern)
    leaf: float = 0.0  # leaf value (scalar trees) or table row (vector trees)
    adds: tuple[tuple[int, float], ...] = ()  # inline leaves: (accumulator, constant) pairs


def condition(
    threshold: float, first_left: bool, nan_left: bool, mode: str
) -> tuple[str, str, bool, float]:
    """(lhs, op, negate, rhs) of the test that sends a sample to the child emitted first.

    ``mode`` is ``"float"``, ``"int"`` (integer codes) or ``"bits"`` (float bit patterns).
    The IR test is ``x <= t`` with NaN going left iff ``nan_left``.
    """
    if mode == "int":
        return "x", ("le" if first_left else "gt"), False, threshold
    if mode == "bits":
        t = np.float32(threshold)
        if t >= 0:  # signed order of bit patterns equals float order against t >= +0
            bits = int(np.array(t, dtype=np.float32).view(np.int32))
            return "sbits", ("le" if first_left else "gt"), False, bits
        ubits = int(np.array(t, dtype=np.float32).view(np.uint32))
        return "ubits", ("ge" if first_left else "lt"), False, ubits
    if first_left:
        return ("x", "gt", True, threshold) if nan_left else ("x", "le", False, threshold)
    return ("x", "gt", False, threshold) if nan_left else ("x", "le", True, threshold)


def tree_lines(
    tree: Tree, mode: str, hot_first: bool, leaf_of: dict[int, int] | None
) -> list[Line]:
    """Flat lines of one tree; ``leaf_of`` maps leaf nodes to table rows (vector trees)."""
    hot = hot_left(tree) if hot_first else np.ones(tree.n_nodes, dtype=bool)
    lines: list[Line] = []
    # stack items: ("node", id, depth) or ("else"/"end", depth, second_child)
    stack: list[tuple[str, int, int]] = [("node", 0, 1)]
    while stack:
        kind, a, depth = stack.pop()
        if kind == "else":
            lines.append(Line("else", depth))
            stack.append(("node", a, depth + 1))
            continue
        if kind == "end":
            lines.append(Line("end", depth))
            continue
        n = a
        if tree.feature[n] < 0:
            value = float(leaf_of[n]) if leaf_of is not None else float(tree.value[n, 0])
            lines.append(Line("leaf", depth, leaf=value))
            continue
        if depth > MAX_C_NESTING:
            raise ExportError(f"tree deeper than {MAX_C_NESTING}; use --layout array")
        first_left = bool(hot[n])
        lhs, op, neg, rhs = condition(
            float(tree.threshold[n]), first_left, bool(tree.nan_left[n]), mode
        )
        lines.append(Line("if", depth, int(tree.feature[n]), lhs, op, neg, rhs))
        first, second = (
            (tree.left[n], tree.right[n]) if first_left else (tree.right[n], tree.left[n])
        )
        stack.append(("end", 0, depth))
        stack.append(("else", int(second), depth))
        stack.append(("node", int(first), depth + 1))
    return lines
