"""The store contract. :class:`SQLStore` is the implementation; tests may add in-memory ones."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgeslim._core.records import Metric
from edgeslim.store._records import ArtifactRecord, RunHandle, RunRecord, RunStatus, RunSummary


class Store(abc.ABC):
    """Runs, their steps, metrics and artifacts, kept in one place.

    Contract:

    * **Errors.** Every error caused by the caller (a missing run, a duplicate metric, a file that
      cannot be read, a store that cannot be opened) is a :class:`~edgeslim.StoreError` whose
      message names the run, the metric key, the file or the store's URL.
    * **Atomicity.** Each method is one transaction: it happens entirely or not at all.
    * **Concurrency.** Methods are thread-safe. Several processes may write to one store at once
      (each opens its own :class:`Store`; do not share one across ``fork``).
    * **Records.** Methods return frozen records, never live database objects.
    * **Run names** are unique. :meth:`create_run` never fails on a taken name: it stores the run
      as ``name-2``, ``name-3``, ... and returns the name it used. Names may not be all digits,
      so that ``get_run("12")`` (as typed on a command line) always means run id 12.
    * **Metric keys** (name and context) are unique per run and step; adding one that exists is
      an error unless ``replace=True``.
    """

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where the store lives, with any password hidden."""

    @abc.abstractmethod
    def create_run(
        self,
        name: str,
        *,
        recipe: Mapping[str, Any] | None = None,
        model: Mapping[str, Any] | None = None,
        notes: str = "",
    ) -> RunHandle:
        """Start a run in status ``running``; ``recipe``/``model`` are JSON documents."""

    @abc.abstractmethod
    def add_step(
        self, run_id: int, kind: str, name: str, record: Mapping[str, Any] | None = None
    ) -> int:
        """Append a step to the run and return its index (0, 1, 2, ... within the run)."""

    @abc.abstractmethod
    def add_metrics(
        self,
        run_id: int,
        metrics: Iterable[Metric],
        step: int | None = None,
        *,
        replace: bool = False,
    ) -> None:
        """Store metrics of the run, of one of its steps when ``step`` is its index."""

    @abc.abstractmethod
    def add_artifact(self, run_id: int, kind: str, path: str | Path) -> ArtifactRecord:
        """Record a file of the run with its SHA-256 and size, read now; return the record."""

    @abc.abstractmethod
    def finish_run(self, run_id: int, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Mark the run ``finished`` or ``failed`` and stamp its end time."""

    @abc.abstractmethod
    def list_runs(self) -> list[RunSummary]:
        """All runs, oldest first."""

    @abc.abstractmethod
    def get_run(self, id_or_name: int | str) -> RunRecord:
        """One run by id (an int, or a string of digits) or by name."""

    @abc.abstractmethod
    def delete_run(self, id_or_name: int | str) -> None:
        """Delete the run with its steps, metrics and artifact records (not the files)."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections; the store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
