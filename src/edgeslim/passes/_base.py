"""The contract every pass follows.

A pass is a small object: ``__init__`` only stores keyword parameters (scikit-learn style);
``apply(model, ctx)`` does the work and returns a :class:`PassResult` with the new model and a
JSON-able record that replays the pass (its parameters plus what it decided, e.g. the channels
it removed). Passes may mutate the model they are given only if they return it; callers must use
the returned model. Parameter errors are raised by ``validate()`` as
:class:`edgeslim._core.errors.RecipeError` naming the pass and parameter.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeslim._core.errors import RecipeError


@dataclass(frozen=True)
class PassContext:
    """What a pass may use besides the model.

    ``dataset`` is an :class:`edgeslim.data.spec.Dataset` (raw arrays + normalization);
    ``fine_tune(model, epochs) -> model`` trains with the run's training settings (the same budget
    for every method in a comparison); ``evaluate(model) -> float`` returns validation accuracy
    (or negative MAE for regression); ``progress`` is an :class:`edgeslim.api.progress.Progress`-
    like object or None; ``seed`` seeds every random choice.
    """

    dataset: Any
    seed: int = 0
    fine_tune: Callable[[Any, int], Any] | None = None
    evaluate: Callable[[Any], float] | None = None
    progress: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PassResult:
    model: Any
    record: dict[str, Any]
    steps: tuple[dict[str, Any], ...] = ()  # per-iteration records (pruning process views)


class Pass(abc.ABC):
    """Base class of passes. Subclasses declare ``name`` and ``params`` (name -> checker)."""

    name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    def validate(self) -> None:  # noqa: B027  (optional hook; the default accepts anything)
        """Check parameters; raise RecipeError naming the pass and the parameter."""

    def fail(self, param: str, rule: str, got: Any) -> RecipeError:
        return RecipeError(f"parameter {param} of pass {self.name!r} must be {rule}; got {got!r}")

    @abc.abstractmethod
    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        """Transform ``model``; return the new model and a replayable record."""
