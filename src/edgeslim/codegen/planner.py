"""The static memory planner: a pure function from buffer lifetimes to arena offsets.

::

    bufs = [Buffer("a", 400, 0, 1), Buffer("b", 400, 1, 2, inplace_of="a"), Buffer("c", 96, 2, 3)]
    plan = plan_memory(bufs)                  # method "auto": exact when small, else greedy
    plan.offsets["b"], plan.arena_bytes       # the arena is the peak-RAM metric and the C arena

A buffer is live from step ``first`` to step ``last`` inclusive; two buffers whose lifetimes
intersect may not overlap in the arena. ``inplace_of`` names a buffer whose last use is this
buffer's first step (an elementwise op reading it and writing this one): the two then share
memory. Sizes are rounded up to ``alignment`` (the largest alignment asked for), so every offset
is aligned.

Methods:

* ``greedy`` - greedy by size, TFLite Micro's strategy: largest first, each at the lowest offset
  that fits between the already placed buffers whose lifetimes intersect its own.
* ``exact`` - the minimum over all placement orders of first-fit, with branch and bound. Some
  optimal layout is reached this way: order an optimal layout by offset; first-fit in that
  order never puts a buffer above its optimal offset (by induction), so it is optimal too.
  Used for graphs of at most :data:`EXACT_LIMIT` merged buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeslim._core.errors import EdgeslimError

EXACT_LIMIT = 8
METHODS = ("auto", "greedy", "exact")


class PlannerError(EdgeslimError):
    """Invalid buffer lifetimes (names the buffer and the bad field)."""


@dataclass(frozen=True, slots=True)
class Buffer:
    """One buffer: bytes, first/last live step (inclusive), alignment, in-place source."""

    name: str
    size: int
    first: int
    last: int
    alignment: int = 16
    inplace_of: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Offsets of every buffer, the arena size in bytes and the method that produced it."""

    offsets: dict[str, int]
    arena_bytes: int
    method: str
    groups: tuple[tuple[str, ...], ...]  # buffers sharing memory (in-place chains)

    def to_dict(self) -> dict[str, object]:
        return {
            "offsets": dict(self.offsets),
            "arena_bytes": self.arena_bytes,
            "method": self.method,
            "groups": [list(g) for g in self.groups],
        }


@dataclass(frozen=True, slots=True)
class _Block:
    members: tuple[str, ...]
    size: int
    first: int
    last: int


def _round(n: int, a: int) -> int:
    return -(-n // a) * a


def _validate(buffers: Sequence[Buffer]) -> dict[str, Buffer]:
    by_name: dict[str, Buffer] = {}
    for b in buffers:
        if b.name in by_name:
            raise PlannerError(f"buffer {b.name!r} appears twice")
        if b.size < 0 or b.first < 0 or b.last < b.first:
            raise PlannerError(
                f"buffer {b.name!r}: need size >= 0 and 0 <= first <= last; got "
                f"size={b.size}, first={b.first}, last={b.last}"
            )
        if b.alignment < 1 or b.alignment & (b.alignment - 1):
            raise PlannerError(
                f"buffer {b.name!r}: alignment must be a power of two; got {b.alignment}"
            )
        by_name[b.name] = b
    for b in buffers:
        if b.inplace_of is not None and b.inplace_of not in by_name:
            raise PlannerError(f"buffer {b.name!r}: inplace_of names unknown {b.inplace_of!r}")
    return by_name


def _merge(buffers: Sequence[Buffer], align: int) -> list[_Block]:
    """Join in-place chains into blocks; a source gives its memory to at most one buffer."""
    by_name = {b.name: b for b in buffers}
    root: dict[str, str] = {}
    taken: set[str] = set()
    for b in sorted(buffers, key=lambda x: (x.first, x.name)):
        src = by_name.get(b.inplace_of) if b.inplace_of else None
        if src is not None and src.last == b.first and src.name not in taken and src is not b:
            taken.add(src.name)
            root[b.name] = root.get(src.name, src.name)
        else:
            root[b.name] = b.name
    groups: dict[str, list[Buffer]] = {}
    for b in buffers:
        groups.setdefault(root[b.name], []).append(b)
    return [
        _Block(
            tuple(m.name for m in ms),
            _round(max(m.size for m in ms), align),
            min(m.first for m in ms),
            max(m.last for m in ms),
        )
        for ms in groups.values()
    ]


def _overlap(a: _Block, b: _Block) -> bool:
    return a.first <= b.last and b.first <= a.last


def _first_fit(block: _Block, placed: list[tuple[_Block, int]]) -> int:
    """Lowest offset where ``block`` fits next to the placed blocks whose lifetimes intersect."""
    busy = sorted((off, off + b.size) for b, off in placed if _overlap(b, block))
    offset = 0
    for lo, hi in busy:
        if offset + block.size <= lo:
            break
        offset = max(offset, hi)
    return offset


def _greedy(blocks: list[_Block]) -> dict[int, int]:
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, blocks[i].first, i))
    placed: list[tuple[_Block, int]] = []
    offsets: dict[int, int] = {}
    for i in order:
        off = _first_fit(blocks[i], placed)
        placed.append((blocks[i], off))
        offsets[i] = off
    return offsets


def _exact(blocks: list[_Block]) -> dict[int, int]:
    greedy = _greedy(blocks)
    best_end = max((greedy[i] + b.size for i, b in enumerate(blocks)), default=0)
    best = dict(greedy)
    n = len(blocks)

    def search(placed: list[tuple[_Block, int]], idx: list[int], used: int, top: int) -> None:
        nonlocal best_end, best
        if top >= best_end:
            return
        if len(idx) == n:
            best_end, best = top, dict(zip(idx, (o for _, o in placed), strict=True))
            return
        seen: set[tuple[int, int, int]] = set()
        for i in range(n):
            if used >> i & 1:
                continue
            b = blocks[i]
            key = (b.size, b.first, b.last)  # interchangeable blocks: try one of them
            if key in seen:
                continue
            seen.add(key)
            off = _first_fit(b, placed)
            placed.append((blocks[i], off))
            idx.append(i)
            search(placed, idx, used | 1 << i, max(top, off + blocks[i].size))
            placed.pop()
            idx.pop()

    search([], [], 0, 0)
    return best


def plan_memory(buffers: Sequence[Buffer], method: str = "auto") -> Plan:
    """Offsets for ``buffers`` in one arena (see the module docstring for the methods)."""
    if method not in METHODS:
        raise PlannerError(
            f"parameter method of plan_memory must be one of {METHODS}; got {method!r}"
        )
    _validate(buffers)
    align = max((b.alignment for b in buffers), default=1)
    blocks = _merge(buffers, align)
    use = method
    if method == "auto":
        use = "exact" if len(blocks) <= EXACT_LIMIT else "greedy"
    placed = _exact(blocks) if use == "exact" else _greedy(blocks)
    offsets = {name: placed[i] for i, b in enumerate(blocks) for name in b.members}
    arena = max((placed[i] + b.size for i, b in enumerate(blocks)), default=0)
    groups = tuple(b.members for b in blocks if len(b.members) > 1)
    return Plan(offsets, arena, use, groups)


def lower_bound(buffers: Sequence[Buffer]) -> int:
    """Largest total of (aligned, in-place merged) bytes live at one step: no plan beats it."""
    align = max((b.alignment for b in buffers), default=1)
    blocks = _merge(buffers, align)
    steps = {s for b in blocks for s in (b.first, b.last)}
    return max((sum(b.size for b in blocks if b.first <= s <= b.last) for s in steps), default=0)
