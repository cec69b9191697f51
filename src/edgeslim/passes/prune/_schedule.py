"""Schedules: how a final sparsity is reached, and the loop that records the pruning process.

* ``one_shot``: prune to the final sparsity, then fine-tune with the whole budget;
* ``iterative``: ``steps`` rounds of prune + fine-tune, sparsity ``1 - (1 - s)^(t/steps)``
  (the same fraction of what is left each round);
* ``agp``: gradual pruning with the cubic schedule of Zhu & Gupta (2017),
  ``s_t = s (1 - (1 - t/steps)^3)``: large cuts early, small ones late.

The fine-tuning budget (``fine_tune_epochs``) is the total over all steps, split evenly, so
methods compared with one budget really get the same training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

SCHEDULES = ("one_shot", "iterative", "agp")


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str = "one_shot"
    steps: int = 1
    fine_tune_epochs: int = 0

    @property
    def n_steps(self) -> int:
        return 1 if self.kind == "one_shot" else max(1, self.steps)

    def targets(self, final: float) -> tuple[float, ...]:
        n = self.n_steps
        if self.kind == "iterative":
            return tuple(1.0 - (1.0 - final) ** ((t + 1) / n) for t in range(n))
        if self.kind == "agp":
            return tuple(final * (1.0 - (1.0 - (t + 1) / n) ** 3) for t in range(n))
        return (final,)

    def epochs(self) -> tuple[int, ...]:
        n, total = self.n_steps, self.fine_tune_epochs
        return tuple(total // n + (1 if t >= n - total % n else 0) for t in range(n))


class Pruner(Protocol):
    """One pruning method driven by :func:`run_schedule`."""

    def step(self, model: Any, target: float) -> Any:
        """Prune ``model`` to ``target`` (fraction of the original prunable weights); return
        the model (possibly a new object)."""

    def training(self, model: Any) -> contextlib.AbstractContextManager[None]:
        """Context active while fine-tuning (masks kept at zero, scores accumulated)."""

    def describe(self, model: Any) -> dict[str, Any]:
        """``{"sparsity": float, "layers": {name: sparsity}}`` of the current model."""


def run_schedule(
    model: Any,
    pruner: Pruner,
    schedule: Schedule,
    final: float,
    *,
    fine_tune: Callable[[Any, int], Any] | None,
    evaluate: Callable[[Any], float] | None,
    progress: Any = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Run the schedule; return the pruned, fine-tuned model and one record per step."""
    steps: list[dict[str, Any]] = []
    if evaluate is not None:
        steps.append(
            {
                "step": 0,
                "target": 0.0,
                "epochs": 0,
                **pruner.describe(model),
                "accuracy_pruned": evaluate(model),
                "accuracy": evaluate(model),
            }
        )
    task = progress.task("prune", total=schedule.n_steps) if progress is not None else None
    for t, (target, epochs) in enumerate(
        zip(schedule.targets(final), schedule.epochs(), strict=True), start=1
    ):
        model = pruner.step(model, target)
        record: dict[str, Any] = {"step": t, "target": target, "epochs": epochs}
        record["accuracy_pruned"] = evaluate(model) if evaluate is not None else None
        if fine_tune is not None and epochs > 0:
            with pruner.training(model):
                model = fine_tune(model, epochs)
        record.update(pruner.describe(model))
        record["accuracy"] = evaluate(model) if evaluate is not None else None
        steps.append(record)
        if task is not None:
            task.advance(1)
    if task is not None:
        task.done()
    return model, steps


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
