"""C99 code generation for neural-network graphs: float32, and int8 for QDQ graphs.

::

    program = lower(graph)                      # batch 1, shape math folded, arena planned
    files = render(program, RenderOptions(prefix="model", target="cortex-m4"))
    CWriter().write(files, out_dir)             # model.h, model.c, Makefile, README.md

``program.arena_bytes`` is the arena the generated code asks for and the peak-RAM metric.
"""

from __future__ import annotations

from edgeslim.codegen.nn._lower import VIEW_OPS, lower
from edgeslim.codegen.nn._ops import LOWER
from edgeslim.codegen.nn._program import Program, Step, Value
from edgeslim.codegen.nn._qlower import QOptions
from edgeslim.codegen.nn._render import RenderOptions, context, render


def supported_ops() -> list[str]:
    """ONNX ops the C generator lowers (besides folded shape arithmetic)."""
    return sorted(set(LOWER) | VIEW_OPS)


__all__ = [
    "Program",
    "QOptions",
    "RenderOptions",
    "Step",
    "Value",
    "context",
    "lower",
    "render",
    "supported_ops",
]
