"""Turn a user's document into plain JSON that every backend stores the same way."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from edgeslim._core.errors import StoreError


def to_json(value: object, where: str) -> Any:
    """Return ``value`` as plain JSON (dict/list/str/int/float/bool/None).

    Tuples become lists, paths strings, enums their values, numpy scalars Python numbers,
    dataclass instances and pydantic models objects, and non-finite floats ``None`` (PostgreSQL's
    JSON has no NaN). ``where`` names the document in the
    error raised for anything else, e.g. ``"recipe of run 'demo'"``.
    """
    return _convert(value, where, "")


def _convert(value: object, where: str, at: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return _convert(value.value, where, at)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StoreError(f"{where}: key {key!r} at {at or '/'} is not a string")
            out[key] = _convert(item, where, f"{at}/{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_convert(item, where, f"{at}/{i}") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _convert(fields, where, at)
    model_dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(model_dump):
        return _convert(model_dump(mode="json"), where, at)
    item_method = getattr(value, "item", None)  # numpy scalars, 0-d arrays
    if callable(item_method) and getattr(value, "ndim", None) == 0:
        return _convert(item_method(), where, at)
    raise StoreError(
        f"{where}: value at {at or '/'} of type {type(value).__name__} is not JSON-serializable"
    )
