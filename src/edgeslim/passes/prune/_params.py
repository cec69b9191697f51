"""Declared parameters of the pruning passes, checked in one place (scikit-learn style).

A pass lists its parameters as ``{name: Param(default, rule, check)}``; :func:`check_params`
rejects unknown names and bad values with one message naming the pass and the parameter, e.g.
``parameter sparsity of pass 'prune.magnitude' must be a number in [0, 1); got 1.3``.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgeslim._core.errors import RecipeError


@dataclass(frozen=True, slots=True)
class Param:
    default: Any
    rule: str
    check: Callable[[Any], bool]


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def fraction(v: Any) -> bool:
    return _is_number(v) and 0.0 <= float(v) < 1.0


def positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def natural(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def non_negative(v: Any) -> bool:
    return _is_number(v) and float(v) >= 0.0


def one_of(*choices: str) -> tuple[str, Callable[[Any], bool]]:
    return f"one of {', '.join(choices)}", lambda v: v in choices


def strings(v: Any) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)


def pair(v: Any) -> bool:
    return isinstance(v, list | tuple) and len(v) == 2 and all(positive_int(x) for x in v)


def fractions_by_name(v: Any) -> bool:
    return isinstance(v, Mapping) and all(isinstance(k, str) and fraction(x) for k, x in v.items())


SCHEDULE_PARAMS: dict[str, Param] = {
    "sparsity": Param(0.5, "a number in [0, 1)", fraction),
    "schedule": Param("one_shot", *one_of("one_shot", "iterative", "agp")),
    "steps": Param(3, "an integer >= 1", positive_int),
    "fine_tune_epochs": Param(0, "an integer >= 0", natural),
}


def check_params(
    pass_name: str, params: Mapping[str, Any], spec: Mapping[str, Param]
) -> dict[str, Any]:
    """Validated parameters with defaults filled in; RecipeError naming the first bad one."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise RecipeError(
            f"unknown parameter {unknown[0]!r} of pass {pass_name!r}; known: "
            f"{', '.join(sorted(spec))}"
        )
    out = {}
    for name, p in spec.items():
        value = params.get(name, p.default)
        if value is not None and not p.check(value):
            raise RecipeError(
                f"parameter {name} of pass {pass_name!r} must be {p.rule}; got {value!r}"
            )
        out[name] = list(value) if isinstance(value, tuple) else copy.deepcopy(value)
    return out
