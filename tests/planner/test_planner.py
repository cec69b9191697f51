"""The memory planner: validity, optimality of the exact search (brute force), in-place, greedy."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeslim.codegen.planner import Buffer, PlannerError, lower_bound, plan_memory


def _valid(bufs: list[Buffer], offsets: dict[str, int], arena: int) -> bool:
    groups = {}
    for b in bufs:
        if offsets[b.name] % b.alignment or offsets[b.name] + b.size > arena:
            return False
    for a, b in itertools.combinations(bufs, 2):
        if b.inplace_of == a.name or a.inplace_of == b.name:
            groups[(a.name, b.name)] = True
            continue
        live = a.first <= b.last and b.first <= a.last
        space = (
            offsets[a.name] < offsets[b.name] + b.size
            and offsets[b.name] < offsets[a.name] + a.size
        )
        if live and space and a.size and b.size:
            return False
    return True


def _brute_force(bufs: list[Buffer]) -> int:
    """Smallest arena over every assignment of offsets (alignment 1, no in-place)."""
    total = sum(b.size for b in bufs)
    best = total
    for offs in itertools.product(range(total), repeat=len(bufs)):
        top = max(o + b.size for o, b in zip(offs, bufs, strict=True))
        if top >= best:
            continue
        if _valid(bufs, {b.name: o for b, o in zip(bufs, offs, strict=True)}, top):
            best = top
    return best


_buf = st.tuples(st.integers(1, 3), st.integers(0, 4), st.integers(0, 3))


@settings(max_examples=40, deadline=None)
@given(st.lists(_buf, min_size=1, max_size=4))
def test_exact_matches_brute_force(raw: list[tuple[int, int, int]]) -> None:
    bufs = [Buffer(f"b{i}", s, f, f + d, alignment=1) for i, (s, f, d) in enumerate(raw)]
    plan = plan_memory(bufs, method="exact")
    assert _valid(bufs, plan.offsets, plan.arena_bytes)
    assert plan.arena_bytes == _brute_force(bufs)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 500), st.integers(0, 12), st.integers(0, 6)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([1, 4, 16]),
)
def test_greedy_is_valid_and_bounded(raw: list[tuple[int, int, int]], align: int) -> None:
    bufs = [Buffer(f"b{i}", s, f, f + d, alignment=align) for i, (s, f, d) in enumerate(raw)]
    plan = plan_memory(bufs, method="greedy")
    assert _valid(bufs, plan.offsets, plan.arena_bytes)
    assert lower_bound(bufs) <= plan.arena_bytes <= sum(-(-b.size // align) * align for b in bufs)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 64), st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=7
    )
)
def test_exact_never_worse_than_greedy(raw: list[tuple[int, int, int]]) -> None:
    bufs = [Buffer(f"b{i}", s, f, f + d, alignment=4) for i, (s, f, d) in enumerate(raw)]
    exact, greedy = plan_memory(bufs, "exact"), plan_memory(bufs, "greedy")
    assert _valid(bufs, exact.offsets, exact.arena_bytes)
    assert lower_bound(bufs) <= exact.arena_bytes <= greedy.arena_bytes


def test_greedy_can_be_beaten_by_exact() -> None:
    # found by random search: greedy-by-size needs 10 bytes, the optimum is 9
    bufs = [
        Buffer("a", 3, 3, 5, 1),
        Buffer("b", 3, 1, 1, 1),
        Buffer("c", 4, 1, 2, 1),
        Buffer("d", 4, 2, 4, 1),
        Buffer("e", 2, 3, 5, 1),
    ]
    exact, greedy = plan_memory(bufs, "exact"), plan_memory(bufs, "greedy")
    assert exact.arena_bytes == _brute_force(bufs) == 9
    assert greedy.arena_bytes == 10


def test_inplace_chain_shares_memory() -> None:
    bufs = [
        Buffer("x", 400, 0, 1),
        Buffer("y", 400, 1, 2, inplace_of="x"),
        Buffer("z", 400, 2, 3, inplace_of="y"),
    ]
    plan = plan_memory(bufs)
    assert plan.offsets["x"] == plan.offsets["y"] == plan.offsets["z"]
    assert plan.arena_bytes == 400
    assert plan.groups == (("x", "y", "z"),)
    without = plan_memory([Buffer(b.name, b.size, b.first, b.last) for b in bufs])
    assert without.arena_bytes == 800


def test_inplace_refused_when_source_lives_on() -> None:
    bufs = [Buffer("x", 64, 0, 3), Buffer("y", 64, 1, 2, inplace_of="x")]
    plan = plan_memory(bufs)
    assert plan.offsets["x"] != plan.offsets["y"]
    assert plan.arena_bytes == 128


def test_alignment_rounds_offsets() -> None:
    bufs = [Buffer("a", 5, 0, 1, alignment=8), Buffer("b", 3, 0, 1, alignment=8)]
    plan = plan_memory(bufs)
    assert all(o % 8 == 0 for o in plan.offsets.values())
    assert plan.arena_bytes == 16


@pytest.mark.parametrize(
    ("bufs", "needle"),
    [
        ([Buffer("a", 1, 2, 1)], "first <= last"),
        ([Buffer("a", 1, 0, 1), Buffer("a", 1, 0, 1)], "twice"),
        ([Buffer("a", 1, 0, 1, alignment=3)], "power of two"),
        ([Buffer("a", 1, 0, 1, inplace_of="q")], "unknown 'q'"),
    ],
)
def test_invalid_lifetimes_name_the_buffer(bufs: list[Buffer], needle: str) -> None:
    with pytest.raises(PlannerError, match=needle):
        plan_memory(bufs)


def test_unknown_method() -> None:
    with pytest.raises(PlannerError, match="method"):
        plan_memory([Buffer("a", 1, 0, 0)], method="best")


def test_empty_plan() -> None:
    assert plan_memory([]).arena_bytes == 0
