"""Layer 3: passes that transform a model (prune, quantize, distill, factorize, ...).

Passes are registered by name in :data:`PASSES` (classes deriving from :class:`Pass`) and are
applied with :func:`apply`. A recipe naming an unknown pass gets an error listing known ones.
"""

from __future__ import annotations

from typing import Any

from edgeslim._core.errors import RecipeError
from edgeslim._core.registry import Registry
from edgeslim.passes._base import Pass, PassContext, PassResult

PASSES: Registry[type[Pass]] = Registry("pass")


def create(name: str, params: dict[str, Any]) -> Pass:
    """Instantiate and validate the registered pass ``name``."""
    if name not in PASSES:
        known = ", ".join(PASSES.names()) or "(none yet)"
        raise RecipeError(f"unknown pass {name!r} in key 'passes'; known passes: {known}")
    p = PASSES.get(name)(**params)
    p.validate()
    return p


def apply(name: str, model: Any, params: dict[str, Any], ctx: PassContext) -> PassResult:
    """Apply the registered pass ``name`` to ``model``; return its result."""
    return create(name, params).apply(model, ctx)


__all__ = ["PASSES", "Pass", "PassContext", "PassResult", "apply", "create"]
from edgeslim.passes import compress as _compress  # noqa: E402,F401  (registers compression passes)
from edgeslim.passes import prune as _prune  # noqa: E402,F401  (registers the pruning passes)
from edgeslim.passes import quantize as _quantize  # noqa: E402,F401  (registers quantization passes)
