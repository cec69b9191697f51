"""A small registry keyed by name, frozen after import-time registration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edgeslim._core.errors import EdgeslimError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries. Register at import time; ``freeze()`` forbids later edits."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._entries: dict[str, T] = {}
        self._frozen = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(entry: T) -> T:
            self.add(name, entry)
            return entry

        return deco

    def add(self, name: str, entry: T) -> None:
        if self._frozen:
            raise RuntimeError(f"{self._kind} registry is frozen; cannot add {name!r}")
        if name in self._entries:
            raise RuntimeError(f"{self._kind} {name!r} registered twice")
        self._entries[name] = entry

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise EdgeslimError(f"unknown {self._kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
