"""The SQLAlchemy store: a SQLite file by default, any SQLAlchemy URL (PostgreSQL) to share."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, delete, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from edgeslim._core.errors import StoreError
from edgeslim._core.records import Metric
from edgeslim.store import _rows as rw
from edgeslim.store import _schema as sc
from edgeslim.store._base import Store
from edgeslim.store._engine import WRITE_OPTION, make_engine, show_url
from edgeslim.store._json import to_json
from edgeslim.store._records import (
    ArtifactRecord,
    RunHandle,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
)

_T = TypeVar("_T")
_RETRIES = 5


class SQLStore(Store):
    """:class:`Store` on SQLAlchemy 2. Creates the tables on open; see :func:`open_store`."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._engine = make_engine(url)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        try:
            self._retry(self._init_schema, "create the tables", (IntegrityError, ProgrammingError))
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        return show_url(self._url)

    def close(self) -> None:
        self._engine.dispose()

    # -- schema ---------------------------------------------------------------------------------

    def _init_schema(self) -> None:
        with self._errors():
            sc.Base.metadata.create_all(self._writer)
        with self._write() as s:
            row = s.get(sc.SchemaVersionRow, 1)
            if row is None:
                s.add(sc.SchemaVersionRow(id=1, version=sc.SCHEMA_VERSION))
            elif row.version != sc.SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.url} has schema version {row.version}; this edgeslim reads "
                    f"version {sc.SCHEMA_VERSION}"
                    + (" (upgrade edgeslim)" if row.version > sc.SCHEMA_VERSION else "")
                )

    # -- transactions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        with self._errors(), Session(self._writer, expire_on_commit=False) as s, s.begin():
            yield s

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._errors(), Session(self._engine) as s, s.begin():
            yield s

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:  # locked beyond the timeout, server gone, disk full
            raise StoreError(f"store {self.url}: {exc.orig}") from exc

    def _retry(
        self,
        action: Callable[[], _T],
        what: str,
        races: tuple[type[DBAPIError], ...] = (IntegrityError,),
    ) -> _T:
        """Run ``action``; run it again if it lost a race with another writer.

        On PostgreSQL two writers may both pick the same new step index or run name, or both
        create the tables; the loser's constraint error is the race, and a new try settles it.
        SQLite never gets here: its writers take the lock first (``BEGIN IMMEDIATE``).
        """
        for attempt in range(_RETRIES):
            try:
                return action()
            except races as exc:
                if attempt == _RETRIES - 1:
                    raise StoreError(f"cannot {what} in store {self.url}: {exc.orig}") from exc
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        name: str,
        *,
        recipe: Mapping[str, Any] | None = None,
        model: Mapping[str, Any] | None = None,
        notes: str = "",
    ) -> RunHandle:
        rw.check_name(name, "run name", sc.NAME_LENGTH - 8)
        recipe_json = None if recipe is None else to_json(recipe, f"recipe of run {name!r}")
        model_json = None if model is None else to_json(model, f"model of run {name!r}")

        def action() -> RunHandle:
            with self._write() as s:
                pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                taken = set(
                    s.scalars(
                        select(sc.RunRow.name).where(
                            (sc.RunRow.name == name)
                            | sc.RunRow.name.like(f"{pattern}-%", escape="\\")
                        )
                    )
                )
                chosen, k = name, 2
                while chosen in taken:
                    chosen, k = f"{name}-{k}", k + 1
                row = sc.RunRow(
                    name=chosen,
                    created_at=rw.now(),
                    status=RunStatus.RUNNING.value,
                    recipe=recipe_json,
                    model=model_json,
                    notes=notes,
                )
                s.add(row)
                s.flush()
                return RunHandle(id=row.id, name=chosen)

        return self._retry(action, f"create run {name!r}")

    def finish_run(self, run_id: int, status: RunStatus | str = RunStatus.FINISHED) -> None:
        allowed = (RunStatus.FINISHED, RunStatus.FAILED)
        if status not in allowed and status not in [a.value for a in allowed]:
            raise StoreError(
                f"status of finish_run must be 'finished' or 'failed'; got {status!r}"
            )
        status = RunStatus(status)
        with self._write() as s:
            row = self._run_row(s, run_id)
            row.status = status.value
            row.finished_at = rw.now()

    def list_runs(self) -> list[RunSummary]:
        n_steps = (
            select(func.count(sc.StepRow.id))
            .where(sc.StepRow.run_id == sc.RunRow.id)
            .scalar_subquery()
        )
        n_metrics = (
            select(func.count(sc.MetricRow.id))
            .where(sc.MetricRow.run_id == sc.RunRow.id)
            .scalar_subquery()
        )
        with self._read() as s:
            rows = s.execute(select(sc.RunRow, n_steps, n_metrics).order_by(sc.RunRow.id)).all()
            return [
                RunSummary(
                    id=run.id,
                    name=run.name,
                    status=RunStatus(run.status),
                    created_at=rw.aware(run.created_at),
                    finished_at=rw.aware_or_none(run.finished_at),
                    n_steps=int(steps),
                    n_metrics=int(metrics),
                )
                for run, steps, metrics in rows
            ]

    def get_run(self, id_or_name: int | str) -> RunRecord:
        with self._read() as s:
            run = self._find_run(s, id_or_name)
            steps = s.scalars(
                select(sc.StepRow).where(sc.StepRow.run_id == run.id).order_by(sc.StepRow.index)
            ).all()
            metric_rows = s.scalars(
                select(sc.MetricRow)
                .where(sc.MetricRow.run_id == run.id)
                .order_by(sc.MetricRow.step, sc.MetricRow.name, sc.MetricRow.context)
            ).all()
            artifacts = s.scalars(
                select(sc.ArtifactRow)
                .where(sc.ArtifactRow.run_id == run.id)
                .order_by(sc.ArtifactRow.id)
            ).all()
            return RunRecord(
                id=run.id,
                name=run.name,
                status=RunStatus(run.status),
                created_at=rw.aware(run.created_at),
                finished_at=rw.aware_or_none(run.finished_at),
                recipe=run.recipe,
                model=run.model,
                notes=run.notes,
                steps=tuple(
                    StepRecord(st.index, st.kind, st.name, st.record, rw.aware(st.created_at))
                    for st in steps
                ),
                metrics=tuple(rw.to_metric(m) for m in metric_rows),
                metric_steps=tuple(
                    None if m.step == sc.RUN_LEVEL else m.step for m in metric_rows
                ),
                artifacts=tuple(
                    ArtifactRecord(a.kind, a.path, a.sha256, a.bytes, rw.aware(a.created_at))
                    for a in artifacts
                ),
            )

    def delete_run(self, id_or_name: int | str) -> None:
        with self._write() as s:
            run = self._find_run(s, id_or_name)
            for table in (sc.MetricRow, sc.StepRow, sc.ArtifactRow):
                s.execute(delete(table).where(table.run_id == run.id))
            s.delete(run)

    # -- steps, metrics, artifacts ----------------------------------------------------------------

    def add_step(
        self, run_id: int, kind: str, name: str, record: Mapping[str, Any] | None = None
    ) -> int:
        rw.check_kind(kind, "step kind")
        rw.check_name(name, "step name", sc.NAME_LENGTH)
        doc = to_json(record or {}, f"record of step {name!r} of run {run_id}")

        def action() -> int:
            with self._write() as s:
                self._run_row(s, run_id)
                last = s.scalar(
                    select(func.max(sc.StepRow.index)).where(sc.StepRow.run_id == run_id)
                )
                index = 0 if last is None else last + 1
                s.add(
                    sc.StepRow(
                        run_id=run_id,
                        index=index,
                        kind=kind,
                        name=name,
                        record=doc,
                        created_at=rw.now(),
                    )
                )
                return index

        return self._retry(action, f"add step {name!r} to run {run_id}")

    def add_metrics(
        self,
        run_id: int,
        metrics: Iterable[Metric],
        step: int | None = None,
        *,
        replace: bool = False,
    ) -> None:
        batch = list(metrics)
        keys = [rw.check_metric(m) for m in batch]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise StoreError(f"metric {rw.key(*dup)} given twice for run {run_id}")
        wanted = set(keys)
        at_step = "" if step is None else f" step {step}"

        def action() -> None:
            with self._write() as s:
                run = self._run_row(s, run_id)
                where = f"run {run.name!r}{at_step}"
                if step is not None and not self._has_step(s, run_id, step):
                    raise StoreError(
                        f"step {step} of run {run.name!r} not found in store {self.url}"
                    )
                stored_step = sc.RUN_LEVEL if step is None else step
                same = (sc.MetricRow.run_id == run_id) & (sc.MetricRow.step == stored_step)
                existing = s.scalars(select(sc.MetricRow).where(same)).all()
                clash = [r for r in existing if (r.name, r.context) in wanted]
                if clash and not replace:
                    key = rw.key(clash[0].name, clash[0].context)
                    raise StoreError(
                        f"metric {key} of {where} is already stored; pass replace=True to "
                        "overwrite it"
                    )
                for row in clash:
                    s.delete(row)
                s.flush()
                s.add_all(rw.metric_row(run_id, stored_step, m) for m in batch)

        self._retry(action, f"add metrics to run {run_id}{at_step}")

    def add_artifact(self, run_id: int, kind: str, path: str | Path) -> ArtifactRecord:
        rw.check_kind(kind, "artifact kind")
        file = Path(path).expanduser().resolve()
        digest, size = rw.hash_file(file, run_id)
        with self._write() as s:
            self._run_row(s, run_id)
            row = sc.ArtifactRow(
                run_id=run_id,
                kind=kind,
                path=str(file),
                sha256=digest,
                bytes=size,
                created_at=rw.now(),
            )
            s.add(row)
        return ArtifactRecord(kind, str(file), digest, size, rw.aware(row.created_at))

    # -- lookups --------------------------------------------------------------------------------

    def _run_row(self, s: Session, run_id: int) -> sc.RunRow:
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            raise TypeError(f"run_id must be an int; got {run_id!r}")
        row = s.get(sc.RunRow, run_id)
        if row is None:
            raise StoreError(f"run {run_id} not found in store {self.url}")
        return row

    @staticmethod
    def _has_step(s: Session, run_id: int, step: int) -> bool:
        found = s.scalar(
            select(sc.StepRow.id).where((sc.StepRow.run_id == run_id) & (sc.StepRow.index == step))
        )
        return found is not None

    def _find_run(self, s: Session, id_or_name: int | str) -> sc.RunRow:
        row: sc.RunRow | None = None
        if isinstance(id_or_name, int) and not isinstance(id_or_name, bool):
            row = s.get(sc.RunRow, id_or_name)
        elif isinstance(id_or_name, str):
            row = s.scalar(select(sc.RunRow).where(sc.RunRow.name == id_or_name))
            if row is None and id_or_name.isdigit():
                row = s.get(sc.RunRow, int(id_or_name))
        if row is None:
            raise StoreError(f"run {id_or_name!r} not found in store {self.url}")
        return row
