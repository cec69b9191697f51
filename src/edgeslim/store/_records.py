"""Frozen records the store hands out. Nothing here touches the database."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edgeslim._core.records import Metric


class RunStatus(enum.StrEnum):
    """Life cycle of a run: ``running`` until :meth:`Store.finish_run` marks it done."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunHandle:
    """What :meth:`Store.create_run` returns: the run's id and the name it was stored under."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of a run (``kind`` such as ``train``, ``pass``, ``export``, ``measure``).

    ``record`` is the step's JSON document (a pass's replayable record, a measurement's details).
    Treat it as read-only; :meth:`Store.get_run` builds a fresh copy on every call.

    Conventions the report reads: ``record["warnings"]`` is a list of strings (or of objects with
    a ``message``) shown in the report's warnings column; a ``measure`` step's ``record["layers"]``
    is a list of ``{"name", "op", "macs", "params"}`` objects drawn as per-layer cost bars.
    """

    index: int
    kind: str
    name: str
    record: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """A file a run produced (``kind`` such as ``onnx``, ``checkpoint``, ``c-source``).

    ``path`` is absolute as resolved when the artifact was added; ``sha256`` and ``bytes`` are the
    file's digest and size at that moment, so a report needs only the store, not the file.
    """

    kind: str
    path: str
    sha256: str
    bytes: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One line of :meth:`Store.list_runs`."""

    id: int
    name: str
    status: RunStatus
    created_at: datetime
    finished_at: datetime | None
    n_steps: int
    n_metrics: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything stored about one run.

    ``metrics`` are ordered by step (run-level metrics, stored with ``step=None``, first), then
    name, then context; ``metric_steps[i]`` is the step index of ``metrics[i]`` (``None`` for
    run-level). ``recipe`` and ``model`` are the JSON documents given to ``create_run``.
    """

    id: int
    name: str
    status: RunStatus
    created_at: datetime
    finished_at: datetime | None
    recipe: dict[str, Any] | None
    model: dict[str, Any] | None
    notes: str
    steps: tuple[StepRecord, ...]
    metrics: tuple[Metric, ...]
    metric_steps: tuple[int | None, ...]
    artifacts: tuple[ArtifactRecord, ...]

    def metric(self, name: str, context: str = "") -> Metric | None:
        """The metric ``name`` with ``context``: the run-level one, else the latest step's."""
        found: Metric | None = None
        for metric, step in zip(self.metrics, self.metric_steps, strict=True):
            if metric.name == name and metric.context == context:
                if step is None:
                    return metric
                found = metric
        return found
