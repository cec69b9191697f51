"""C code generation for tree ensembles (if-else and array layouts) and its host driver."""

from __future__ import annotations

from edgeslim.codegen.trees._options import Compare, CTreeOptions, Layout
from edgeslim.codegen.trees._render import CArtifact, build_context, render_trees_c, write_artifact

__all__ = [
    "CArtifact",
    "CTreeOptions",
    "Compare",
    "Layout",
    "build_context",
    "render_trees_c",
    "write_artifact",
]
