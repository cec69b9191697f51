"""Tree-ensemble verbs that touch the store: a tree measurement becomes a stored run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeslim._core.records import Metric


def store_tree_measurement(
    store_url: str | Path | None,
    name: str,
    bundle: Path,
    model: Mapping[str, Any],
    runs: Mapping[str, Any],
    record: Mapping[str, Any],
) -> str:
    """Store one ``trees measure`` result as a run (metrics qualified by ``layout,target``).

    ``runs`` maps ``"<layout>/<target>"`` to a measurement with ``metrics``; returns the run
    name the store gave (a taken name gets a suffix).
    """
    from edgeslim.store import open_store

    metrics: list[Metric] = []
    for key, m in runs.items():
        layout, _, target = key.partition("/")
        metrics += [
            dataclasses.replace(x, context=f"{layout},{x.context or target}") for x in m.metrics
        ]
    with open_store(store_url) as store:
        run = store.create_run(name, model=dict(model))
        try:
            store.add_step(run.id, "measure", "trees", dict(record))
            store.add_metrics(run.id, metrics)
            store.add_artifact(run.id, "bundle", bundle)
        except Exception:
            store.finish_run(run.id, "failed")
            raise
        store.finish_run(run.id, "finished")
        return str(run.name)
