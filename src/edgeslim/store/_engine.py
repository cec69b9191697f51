"""Turn what the user gave (nothing, a path, a URL) into a configured SQLAlchemy engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from edgeslim._core.errors import StoreError

DEFAULT_FILE = "edgeslim.db"

#: Execution option that marks a write transaction; on SQLite it begins with ``BEGIN IMMEDIATE``.
WRITE_OPTION = "edgeslim_write"

#: How long a SQLite writer waits for another process's lock before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def resolve_url(url_or_path: str | Path | None) -> URL:
    """``None`` → ``./edgeslim.db``; a path (no ``://``) → that SQLite file; else the URL.

    A bare ``postgresql://`` URL gets the psycopg (version 3) driver, the one edgeslim installs.
    """
    if url_or_path is None:
        url_or_path = Path.cwd() / DEFAULT_FILE
    if isinstance(url_or_path, Path) or "://" not in url_or_path:
        path = Path(url_or_path).expanduser()
        if not str(url_or_path).strip() or path.is_dir():
            raise StoreError(f"store path {str(url_or_path)!r} is not a file path")
        return URL.create("sqlite", database=str(path.resolve()))
    try:
        url = make_url(url_or_path)
    except ArgumentError as exc:
        raise StoreError(f"cannot parse store URL {url_or_path!r}: {exc}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def show_url(url: URL) -> str:
    """The URL as it may appear in messages and logs: password hidden."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    try:
        engine = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        extra = " (install edgeslim[postgres])" if url.get_backend_name() == "postgresql" else ""
        raise StoreError(
            f"cannot open store {show_url(url)}: its driver is not installed{extra}: {exc}"
        ) from None
    except ArgumentError as exc:
        raise StoreError(f"cannot open store {show_url(url)}: {exc}") from None
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Make one SQLite file safe for several writing processes.

    Python's sqlite3 driver (before 3.12's ``autocommit``) begins transactions lazily and only
    before DML; a transaction that reads and then writes can then fail at once with "database is
    locked" instead of waiting. So the driver's own transaction handling is switched off and
    SQLAlchemy's ``begin`` emits ``BEGIN`` for reads and ``BEGIN IMMEDIATE`` (take the write lock
    now, waiting up to the busy timeout) for writes. WAL lets readers run beside the one writer.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
