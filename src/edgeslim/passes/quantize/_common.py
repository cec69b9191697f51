"""Parameter declarations shared by the quantization passes (checked in one place)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import Pass


@dataclass(frozen=True, slots=True)
class Param:
    default: Any
    check: Callable[[Any], bool]
    rule: str


def one_of(*values: Any) -> Param:
    return Param(values[0], lambda v: v in values, "one of " + ", ".join(map(str, values)))


def boolean(default: bool) -> Param:
    return Param(default, lambda v: isinstance(v, bool), "true or false")


def int_in(default: int, lo: int, hi: int) -> Param:
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi

    return Param(default, ok, f"an integer in [{lo}, {hi}]")


def float_in(default: float, lo: float, hi: float) -> Param:
    def ok(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and lo <= float(v) <= hi

    return Param(default, ok, f"a number in [{lo}, {hi}]")


class QuantPass(Pass):
    """A pass with declared parameters ``PARAMS``; ``self.p(name)`` reads one with its default."""

    PARAMS: ClassVar[Mapping[str, Param]] = MappingProxyType({})

    def validate(self) -> None:
        for key, value in self.params.items():
            if key not in self.PARAMS:
                known = ", ".join(sorted(self.PARAMS)) or "(none)"
                raise RecipeError(
                    f"unknown parameter {key!r} of pass {self.name!r}; known: {known}"
                )
            if not self.PARAMS[key].check(value):
                raise self.fail(key, self.PARAMS[key].rule, value)

    def p(self, key: str) -> Any:
        return self.params.get(key, self.PARAMS[key].default)

    #: whether :meth:`quantize_onnx` works (post-training methods that need no training)
    takes_onnx: ClassVar[bool] = False

    def quantize_onnx(self, proto: Any, ctx: Any) -> tuple[Any, dict[str, Any]]:
        """Quantize the float ONNX model ``proto`` (raw inputs) directly; return the quantized
        ONNX and the pass record. Only post-training passes (``takes_onnx``) implement it."""
        raise RecipeError(
            f"pass {self.name!r} needs a trainable model (a checkpoint from 'edgeslim train'), "
            "not an ONNX graph"
        )

    def resolved(self) -> dict[str, Any]:
        """Every parameter with its value (defaults filled in), for the record."""
        return {k: self.p(k) for k in self.PARAMS}
