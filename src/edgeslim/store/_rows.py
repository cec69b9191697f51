"""Checks and conversions between the API's records and the table rows."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from pathlib import Path

from edgeslim._core.errors import StoreError
from edgeslim._core.records import Metric, Provenance
from edgeslim.store import _schema as sc

_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def check_name(name: str, what: str, max_length: int) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise StoreError(f"{what} must be a non-empty string without outer spaces; got {name!r}")
    if len(name) > max_length or not name.isprintable():
        raise StoreError(f"{what} must be printable and at most {max_length} characters")
    if name.isdigit():
        raise StoreError(f"{what} must not be all digits (those mean run ids); got {name!r}")


def check_kind(kind: str, what: str) -> None:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise StoreError(f"{what} must match {_KIND.pattern}; got {kind!r}")


def check_metric(metric: Metric) -> tuple[str, str]:
    if not isinstance(metric, Metric):
        raise TypeError(f"metrics must be edgeslim Metric records; got {type(metric).__name__}")
    if len(metric.name) > sc.NAME_LENGTH or len(metric.context) > sc.NAME_LENGTH:
        raise StoreError(f"metric {metric.key}: name and context are limited to 200 characters")
    if len(metric.unit) > 32:
        raise StoreError(f"metric {metric.key}: unit {metric.unit!r} is longer than 32 characters")
    return metric.name, metric.context


def key(name: str, context: str) -> str:
    return f"{name}[{context}]" if context else name


def metric_row(run_id: int, step: int, m: Metric) -> sc.MetricRow:
    value = m.value if not math.isnan(m.value) else None
    return sc.MetricRow(
        run_id=run_id,
        step=step,
        name=m.name,
        context=m.context,
        value=value,
        unit=m.unit,
        provenance=m.provenance.value,
    )


def to_metric(row: sc.MetricRow) -> Metric:
    value = math.nan if row.value is None else row.value
    return Metric(row.name, value, row.unit, Provenance(row.provenance), row.context)


def hash_file(file: Path, run_id: int) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    try:
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise StoreError(f"cannot read artifact {file} of run {run_id}: {exc.strerror}") from None
    return sha.hexdigest(), size


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)
