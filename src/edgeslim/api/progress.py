"""A tiny progress protocol so long work can show rich bars without the API importing rich."""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, n: float = 1.0) -> None: ...

    def done(self) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: float | None) -> Task: ...


class _NullTask:
    def advance(self, n: float = 1.0) -> None:
        pass

    def done(self) -> None:
        pass


class NullProgress:
    """Progress that shows nothing (library use, tests, ``--format json``)."""

    def task(self, description: str, total: float | None) -> Task:
        return _NullTask()
