"""Fixtures shared by every test package.

``postgres_url``: a fresh, empty database on a throwaway PostgreSQL cluster that the session starts
from Debian's binaries (``/usr/lib/postgresql/<version>/bin``) and stops at the end. The server
listens on a Unix socket in a private folder only, so no TCP port can clash. Tests that use it are
skipped, with the reason, where the binaries or the psycopg driver are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeslim.data.spec import DataSpec

_PG_ROOT = Path("/usr/lib/postgresql")
_PG_USER = "edgeslim"


def _pg_bindir() -> Path | None:
    found = [p.parent for p in _PG_ROOT.glob("*/bin/initdb")]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def _pg(command: list[str], as_user: list[str], log: Path) -> None:
    done = subprocess.run(
        [*as_user, *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=log.parent,
    )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}{tail}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, str]]:
    """Start a PostgreSQL cluster for the session; yield its socket folder, port and user."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(f"PostgreSQL binaries not found ({_PG_ROOT}/*/bin/initdb)")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing to run PostgreSQL as postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Not tmp_path: the server's user must own its folder, and a socket path has ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="edgeslim-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log, port = root / "data", root / "server.log", "5432"
    options = f"-k {root} -p {port} -c listen_addresses='' -c fsync=off"
    try:
        _pg(
            [str(bindir / "initdb"), "-D", str(data), "-U", _PG_USER, "-A", "trust", "-N"],
            as_user,
            log,
        )
        _pg(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "start",
            ],
            as_user,
            log,
        )
        yield {"host": str(root), "port": port, "user": _PG_USER}
    finally:
        if (data / "postmaster.pid").exists():
            _pg(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], as_user, log
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: dict[str, str]) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    server = {**postgres_server, "dbname": "postgres"}
    with psycopg.connect(**server, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    host, port, user = server["host"], server["port"], server["user"]
    yield f"postgresql+psycopg://{user}@/{name}?host={host}&port={port}"
    with psycopg.connect(**server, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, DataSpec], Any]:
    """``(kind, spec) -> (module, onnx path)``: a seeded zoo model and its ONNX export."""
    torch = pytest.importorskip("torch")
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config

    cache: dict[tuple[str, str], tuple[Any, Path]] = {}
    folder = tmp_path_factory.mktemp("zoo")

    def get(kind: str, spec: DataSpec) -> tuple[Any, Path]:
        key = (kind, spec.name)
        if key not in cache:
            torch.manual_seed(0)
            model = build_model(default_config(kind), spec)
            path = export_torch(model, spec.input_shape, folder / f"{spec.name}-{kind}.onnx")
            cache[key] = (model, Path(path))
        return cache[key]

    return get
