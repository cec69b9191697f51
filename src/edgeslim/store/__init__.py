"""Layer 5: the result store. Runs, their steps, metrics and artifacts in SQLAlchemy tables.

Example::

    store = open_store("results.db")
    run = store.create_run("demo", recipe={"model": "mlp"})
    store.add_metrics(run.id, [Metric("accuracy", 0.93, "1", Provenance.MEASURED)])
    store.finish_run(run.id)

``open_store(None)`` uses ``edgeslim.db`` in the current folder; a path means that SQLite file; a
string with ``://`` is any SQLAlchemy URL, e.g. ``postgresql://user@host/db`` (psycopg 3).
"""

from __future__ import annotations

from pathlib import Path

from edgeslim.store._base import Store
from edgeslim.store._engine import DEFAULT_FILE, resolve_url
from edgeslim.store._records import (
    ArtifactRecord,
    RunHandle,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
)
from edgeslim.store._schema import SCHEMA_VERSION
from edgeslim.store._sql import SQLStore

__all__ = [
    "DEFAULT_FILE",
    "SCHEMA_VERSION",
    "ArtifactRecord",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "SQLStore",
    "StepRecord",
    "Store",
    "open_store",
]


def open_store(url_or_path: str | Path | None = None) -> Store:
    """Open the store at a path, a SQLAlchemy URL, or ``./edgeslim.db``; create its tables.

    Raises :class:`~edgeslim.StoreError` naming the URL when it cannot be parsed, its driver is
    missing, the database cannot be reached, or it was written by a newer edgeslim.
    """
    return SQLStore(resolve_url(url_or_path))
