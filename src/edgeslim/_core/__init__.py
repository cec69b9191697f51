"""Layer 0: errors, frozen records with units, registries, seeding, safe file writes."""

from __future__ import annotations

from edgeslim._core.errors import (
    DataError,
    EdgeslimError,
    ExportError,
    ModelError,
    RecipeError,
    StoreError,
    UnsupportedOpError,
)
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim._core.records import Metric, Provenance
from edgeslim._core.registry import Registry
from edgeslim._core.seeding import seed_everything

__all__ = [
    "DataError",
    "EdgeslimError",
    "ExportError",
    "Metric",
    "ModelError",
    "Provenance",
    "RecipeError",
    "Registry",
    "StoreError",
    "UnsupportedOpError",
    "atomic_write",
    "ensure_writable",
    "seed_everything",
]
