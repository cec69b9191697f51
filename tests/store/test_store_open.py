from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgeslim._core import StoreError
from edgeslim.store import DEFAULT_FILE, SCHEMA_VERSION, open_store
from edgeslim.store._engine import resolve_url


def test_none_opens_the_default_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(None) as store:
        store.create_run("here")
        assert store.url.endswith(DEFAULT_FILE)
    assert (tmp_path / DEFAULT_FILE).is_file()
    with open_store(Path(DEFAULT_FILE)) as again:  # a relative path means the same file
        assert [r.name for r in again.list_runs()] == ["here"]


def test_paths_and_urls_resolve() -> None:
    assert resolve_url("runs.db").get_backend_name() == "sqlite"
    assert resolve_url("sqlite:///x.db").database == "x.db"
    assert resolve_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert resolve_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_sqlite_file_uses_wal_and_records_the_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "steps", "metrics", "artifacts", "schema_version"} <= tables


def test_a_newer_schema_is_refused_naming_the_store(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=rf"new\.db has schema version {SCHEMA_VERSION + 1}.*"):
        open_store(db)


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("sqlite:///{tmp}/no/such/folder/x.db", r"store sqlite:///.*/no/such/folder/x\.db"),
        ("nosuchdb+nodriver://h/db", r"nosuchdb\+nodriver://h/db"),
        ("::not a url://", "cannot parse store URL '::not a url://'"),
    ],
)
def test_unopenable_stores_are_named(url: str, pattern: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=pattern):
        open_store(url.format(tmp=tmp_path))


def test_unreachable_server_error_hides_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(
        StoreError, match=r"postgresql\+psycopg://me:\*\*\*@127\.0\.0\.1:1/db"
    ) as e:
        open_store("postgresql://me:s3cret@127.0.0.1:1/db?connect_timeout=2")
    assert "s3cret" not in str(e.value)


def test_a_folder_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a file path"):
        open_store(tmp_path)
