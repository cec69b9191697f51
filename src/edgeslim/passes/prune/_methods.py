"""Named pruning methods for comparisons: a short name, the pass it runs and its parameters.

``edgeslim prune compare --methods magnitude,channel-l2,...`` and the ``compare.methods`` key of a
recipe name these. A recipe may also define its own: ``{name: mine, pass: prune.channel,
importance: l1, allocation: global}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from edgeslim._core.errors import RecipeError


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    pass_name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    structured: bool = False
    regularized: bool = False  # half of the fine-tuning budget trains with the regularizer
    description: str = ""

    def pass_params(self, sparsity: float, fine_tune_epochs: int) -> dict[str, Any]:
        """Parameters of the pass at ``sparsity`` with the whole ``fine_tune_epochs`` budget."""
        out = {**self.params, "sparsity": sparsity, "fine_tune_epochs": fine_tune_epochs}
        if self.regularized:
            out["reg_epochs"] = fine_tune_epochs // 2
        return out


def _m(name: str, pass_name: str, description: str, **params: Any) -> Method:
    structured = pass_name == "prune.channel"
    regularized = params.get("regularizer", "none") != "none"
    return Method(name, pass_name, MappingProxyType(params), structured, regularized, description)


METHODS: Mapping[str, Method] = MappingProxyType(
    {
        m.name: m
        for m in (
            _m("magnitude", "prune.magnitude", "smallest |w| per layer"),
            _m(
                "global-magnitude",
                "prune.magnitude",
                "smallest |w| over all layers",
                allocation="global",
            ),
            _m(
                "magnitude-agp",
                "prune.magnitude",
                "smallest |w|, gradual cubic schedule",
                schedule="agp",
                steps=4,
            ),
            _m(
                "magnitude-sensitivity",
                "prune.magnitude",
                "smallest |w|, per-layer sparsity from sensitivity",
                allocation="sensitivity",
            ),
            _m("random", "prune.random", "random weights (baseline)"),
            _m("taylor", "prune.taylor", "least (w * dL/dw)^2"),
            _m(
                "movement",
                "prune.movement",
                "weights moving towards zero, gradual",
                schedule="agp",
                steps=3,
            ),
            _m("nm", "prune.nm", "N:M pattern nearest the sparsity (2:4 at 0.5)"),
            _m("block", "prune.block", "4x4 blocks of least mean |w|"),
            _m("channel-l1", "prune.channel", "channels of least L1 norm", importance="l1"),
            _m("channel-l2", "prune.channel", "channels of least L2 norm", importance="l2"),
            _m(
                "channel-global",
                "prune.channel",
                "channels of least normalized L2, global",
                importance="l2",
                allocation="global",
            ),
            _m(
                "channel-iterative",
                "prune.channel",
                "channels of least L2, 3 prune+fine-tune rounds",
                importance="l2",
                schedule="iterative",
                steps=3,
            ),
            _m(
                "bn-scale",
                "prune.channel",
                "channels of least batch-norm scale",
                importance="bn_scale",
            ),
            _m(
                "channel-taylor",
                "prune.channel",
                "channels of least Taylor saliency",
                importance="taylor",
            ),
            _m(
                "channel-random",
                "prune.channel",
                "random channels (baseline)",
                importance="random",
            ),
            _m(
                "slimming",
                "prune.channel",
                "L1 on batch-norm scales while training, then cut",
                importance="bn_scale",
                regularizer="l1",
                reg_strength=1e-3,
            ),
            _m(
                "group-lasso",
                "prune.channel",
                "group lasso while training, then cut",
                importance="l2",
                regularizer="group_lasso",
                reg_strength=1e-3,
            ),
            _m(
                "channel-sensitivity",
                "prune.channel",
                "channels, per-group ratios from sensitivity",
                importance="l2",
                allocation="sensitivity",
            ),
        )
    }
)

DEFAULT_METHODS = ("magnitude", "global-magnitude", "random", "nm", "channel-l2", "bn-scale")


def resolve_method(entry: str | Mapping[str, Any]) -> Method:
    """A method by short name, or from a recipe mapping ``{name, pass, **params}``."""
    if isinstance(entry, str):
        if entry not in METHODS:
            raise RecipeError(
                f"unknown pruning method {entry!r}; known: {', '.join(sorted(METHODS))}"
            )
        return METHODS[entry]
    d = dict(entry)
    name, pass_name = d.pop("name", None), d.pop("pass", None)
    if not isinstance(name, str) or not isinstance(pass_name, str):
        raise RecipeError(f"a custom pruning method needs keys 'name' and 'pass'; got {entry!r}")
    return _m(name, pass_name, "custom", **d)
