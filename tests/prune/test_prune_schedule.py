"""Schedules: the sparsity of each step and the split of the fine-tuning budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeslim.passes.prune import Schedule


def test_agp_is_the_cubic_schedule() -> None:
    targets = Schedule("agp", 4).targets(0.8)
    assert targets == pytest.approx([0.8 * (1 - (1 - t / 4) ** 3) for t in (1, 2, 3, 4)])
    steps = [b - a for a, b in zip((0.0, *targets), targets, strict=False)]
    assert steps == sorted(steps, reverse=True)  # big cuts first


def test_iterative_keeps_the_same_fraction_of_what_is_left() -> None:
    targets = Schedule("iterative", 3).targets(0.875)
    kept = [1 - t for t in targets]
    assert kept == pytest.approx([0.5, 0.25, 0.125])


def test_one_shot_ignores_steps() -> None:
    s = Schedule("one_shot", 5, fine_tune_epochs=7)
    assert s.targets(0.5) == (0.5,)
    assert s.epochs() == (7,)


@given(
    kind=st.sampled_from(["iterative", "agp"]),
    steps=st.integers(1, 9),
    budget=st.integers(0, 40),
    final=st.floats(0.0, 0.99),
)
def test_budget_is_split_exactly_and_targets_end_at_final(
    kind: str, steps: int, budget: int, final: float
) -> None:
    s = Schedule(kind, steps, budget)
    assert sum(s.epochs()) == budget
    assert max(s.epochs()) - min(s.epochs()) <= 1
    targets = s.targets(final)
    assert targets[-1] == pytest.approx(final)
    assert list(targets) == sorted(targets)
