"""Layer 3: passes that transform a model (prune, quantize, distill, factorize, ...).

Every pass is registered by name in :data:`PASSES` and is applied as
``apply(name, model, params) -> record``, where the record is a JSON-able dict that replays the
pass. The registry is empty until the pruning and quantization work lands; a recipe naming a pass
gets a clear error listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeslim._core.errors import RecipeError
from edgeslim._core.registry import Registry

PassFn = Callable[[Any, dict[str, Any]], dict[str, Any]]
PASSES: Registry[PassFn] = Registry("pass")


def apply(name: str, model: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Apply the registered pass ``name`` to ``model`` with ``params``; return its record."""
    if name not in PASSES:
        known = ", ".join(PASSES.names()) or "(none yet)"
        raise RecipeError(f"unknown pass {name!r} in key 'passes'; known passes: {known}")
    record = PASSES.get(name)(model, params)
    return {"name": name, **record}


__all__ = ["PASSES", "apply"]
