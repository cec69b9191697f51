"""Options shared by every command module (imported by sub-apps without importing the app)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Format(StrEnum):
    table = "table"
    json = "json"


StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        help="Result store: a SQLite file path or any SQLAlchemy URL "
        "(postgresql+psycopg://...). Default: $EDGESLIM_STORE or ./edgeslim.db.",
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="table (rich) or json")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for artifacts.")]


def _store_url(value: str) -> str:
    return value or os.environ.get("EDGESLIM_STORE", "") or "edgeslim.db"
