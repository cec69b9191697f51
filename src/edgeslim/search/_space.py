"""The search recipe and its declarative space.

.. code-block:: yaml

    name: motions-search
    seed: 0
    data: {name: basic-motions}
    objectives: {accuracy: max, instructions: min, flash: min}
    sampler: nsga2            # nsga2 | tpe | random
    pruner: median            # median | hyperband (one objective) | none
    train: {epochs: 30, batch_size: 16, lr: 0.005, monitor: val_metric, patience: 0}
    space:
      recurrent: {cell: [gru, lstm], layers: {low: 1, high: 2}, hidden: [8, 16, 32],
                  bidirectional: [false, true], stride: [1, 2, 4], window: [50, 100],
                  head: [0, 16]}
      tcn: {levels: {low: 1, high: 3}, kernel: [2, 3, 5], channels: [4, 8, 16]}
      compression: {sparsity: [0.0, 0.25, 0.5], lr: {low: 0.002, high: 0.02, log: true},
                    epochs: [10, 20]}
    baselines: {gru-32: {kind: gru, hidden: 32}, cnn: {kind: cnn, channels: [8, 16]}}

A list is a categorical choice, ``{low, high[, step][, log]}`` an integer (both ends integers)
or float range, a scalar a fixed value. Each family key under ``space`` is one searchable family
(recurrent, tcn, cnn, dscnn, mlp); ``compression`` holds the policy (``sparsity``: structured
channel pruning ratio applied through the ``prune.channel`` pass, with ``fine_tune_epochs``;
``layer_sparsity``: one ratio per prunable layer group instead, sampled as
``compression.layer.<group>`` once the candidate's groups are known; ``bits``: 32 = float,
8 = int8 post-training quantization (``quantize.ptq``) costed and deployed as int8 C kernels;
``distill``: fine-tune with knowledge distillation (``compress.distill``) from ``teacher``,
``unpruned`` (the trained candidate before pruning) or a baseline name, with
``distill_alpha`` and ``distill_temperature``; ``lr`` and ``epochs`` of training).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeslim._core.errors import RecipeError
from edgeslim.search._nets import FAMILIES

OBJECTIVE_METRICS = (
    "accuracy",
    "instructions",
    "flash",
    "ram",
    "latency",
    "macs",
    "params",
    "mae",
)
POLICY_KEYS = (
    "sparsity",
    "layer_sparsity",
    "lr",
    "epochs",
    "fine_tune_epochs",
    "importance",
    "bits",
    "distill",
    "teacher",
    "distill_alpha",
    "distill_temperature",
)
BITS = (32, 8)  # float, int8 (quantize.ptq -> int8 C kernels)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataPart(_Strict):
    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class TrainPart(_Strict):
    epochs: int = Field(default=20, ge=1)
    lr: float = Field(default=3e-3, gt=0)
    batch_size: int = Field(default=32, ge=1)
    patience: int = Field(default=0, ge=0)
    monitor: Literal["val_loss", "val_metric"] = "val_metric"


def _default_objectives() -> dict[str, Literal["max", "min"]]:
    return {"accuracy": "max", "instructions": "min", "flash": "min"}


class SearchRecipe(_Strict):
    name: str
    seed: int = Field(default=0, ge=0)
    data: DataPart
    objectives: dict[str, Literal["max", "min"]] = Field(default_factory=_default_objectives)
    sampler: Literal["nsga2", "tpe", "random"] = "nsga2"
    pruner: Literal["median", "hyperband", "none"] = "median"
    prune_warmup: int = Field(default=3, ge=0, description="epochs before a trial may be pruned")
    prune_interval: int = Field(
        default=0, ge=0, description="epochs between pruning checks (0: every prune_warmup)"
    )
    train: TrainPart = Field(default_factory=TrainPart)
    space: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    export_top: int = Field(default=3, ge=0, description="front members exported and measured")

    def families(self) -> list[str]:
        return [k for k in self.space if k != "compression"]


def parse_search_recipe(text: str, source: str = "recipe") -> SearchRecipe:
    """Validate a search recipe; errors name the key."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise RecipeError(f"{source}: a search recipe is a mapping with keys name, data, space")
    try:
        recipe = SearchRecipe.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise RecipeError(f"{source}: key {key!r}: {err['msg']}") from None
    for fam in recipe.families():
        if fam not in FAMILIES:
            raise RecipeError(
                f"{source}: key 'space.{fam}': family must be one of "
                f"{', '.join(FAMILIES)} or compression"
            )
        for k, v in recipe.space[fam].items():
            _check_param(f"space.{fam}.{k}", v, source)
    if not recipe.families():
        raise RecipeError(
            f"{source}: key 'space' needs at least one family ({', '.join(FAMILIES)})"
        )
    for k, v in recipe.space.get("compression", {}).items():
        if k not in POLICY_KEYS:
            raise RecipeError(
                f"{source}: key 'space.compression.{k}': known keys are {', '.join(POLICY_KEYS)}"
            )
        _check_param(f"space.compression.{k}", v, source)
    _check_policy(recipe, source)
    for k in recipe.objectives:
        if k not in OBJECTIVE_METRICS:
            raise RecipeError(
                f"{source}: key 'objectives.{k}': one of {', '.join(OBJECTIVE_METRICS)}"
            )
    if recipe.pruner == "hyperband" and len(recipe.objectives) > 1:
        raise RecipeError(
            f"{source}: key 'pruner': hyperband needs one objective (Optuna pruners are "
            "single-objective); use median for multi-objective searches"
        )
    return recipe


def _check_policy(recipe: SearchRecipe, source: str) -> None:
    """``bits`` (32 float, 8 int8), ``distill`` (booleans) and ``teacher`` (``unpruned`` or a
    baseline name) hold choices the trial can carry out."""
    comp = recipe.space.get("compression", {})
    bits = comp.get("bits", 32)
    for b in bits if isinstance(bits, list) else [bits]:
        if b not in BITS or isinstance(b, bool):
            raise RecipeError(
                f"{source}: key 'space.compression.bits': bit widths are 32 (float) and 8 "
                f"(int8 through quantize.ptq, int8 C kernels); got {b!r}"
            )
    distill = comp.get("distill", False)
    if not all(isinstance(d, bool) for d in (distill if isinstance(distill, list) else [distill])):
        raise RecipeError(f"{source}: key 'space.compression.distill': true, false or a list")
    teacher = comp.get("teacher", "unpruned")
    names = ["unpruned", *recipe.baselines]
    for t in teacher if isinstance(teacher, list) else [teacher]:
        if t not in names:
            raise RecipeError(
                f"{source}: key 'space.compression.teacher': one of {', '.join(names)} (a "
                f"baseline of the recipe); got {t!r}"
            )


def _check_param(key: str, v: Any, source: str) -> None:
    if isinstance(v, list):
        if not v or not all(isinstance(c, str | int | float | bool) for c in v):
            raise RecipeError(f"{source}: key {key!r}: a choice list of plain values")
    elif isinstance(v, dict):
        if set(v) - {"low", "high", "step", "log"} or not {"low", "high"} <= set(v):
            raise RecipeError(f"{source}: key {key!r}: a range is {{low, high[, step][, log]}}")
        if v["low"] > v["high"]:
            raise RecipeError(f"{source}: key {key!r}: low must be <= high")


@dataclass(frozen=True)
class Candidate:
    """One point of the space: a family, its architecture parameters, its compression policy."""

    family: str
    arch: dict[str, Any]
    policy: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "arch": self.arch, "policy": self.policy}


def _suggest(trial: Any, name: str, v: Any) -> Any:
    if isinstance(v, list):
        return trial.suggest_categorical(name, v)
    if isinstance(v, dict):
        lo, hi, log = v["low"], v["high"], bool(v.get("log", False))
        if isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool):
            return trial.suggest_int(name, lo, hi, step=int(v.get("step", 1)), log=log)
        step = v.get("step")
        return trial.suggest_float(name, float(lo), float(hi), step=step, log=log)
    return v


def sample_candidate(trial: Any, recipe: SearchRecipe) -> Candidate:
    """Ask ``trial`` (an Optuna trial) for one candidate of the recipe's space."""
    fams = recipe.families()
    family = fams[0] if len(fams) == 1 else trial.suggest_categorical("family", fams)
    arch = {k: _suggest(trial, f"{family}.{k}", v) for k, v in recipe.space[family].items()}
    if arch.get("cell") == "rnn":
        arch["bidirectional"] = False
    comp = recipe.space.get("compression", {})
    policy = {
        k: _suggest(trial, f"compression.{k}", v) for k, v in comp.items() if k != "layer_sparsity"
    }
    policy.setdefault("lr", recipe.train.lr)
    policy.setdefault("epochs", recipe.train.epochs)
    policy.setdefault("sparsity", 0.0)
    policy.setdefault("bits", 32)
    policy.setdefault("distill", False)
    if policy["distill"]:
        policy.setdefault("teacher", "unpruned")
    if arch.get("cell") == "rnn":  # the unrolled Elman cell is not traceable for pruning,
        policy["sparsity"] = 0.0  # and quantize.ptq rejects its weights shared over the steps
        policy["bits"] = 32
    return Candidate(family, arch, policy)


def candidate_from_params(params: dict[str, Any], recipe: SearchRecipe) -> Candidate:
    """Rebuild the candidate of a stored trial from its Optuna params (no sampling)."""

    class _Replay:
        def suggest_categorical(self, name: str, choices: Any) -> Any:
            return params[name]

        def suggest_int(self, name: str, *a: Any, **k: Any) -> Any:
            return params[name]

        def suggest_float(self, name: str, *a: Any, **k: Any) -> Any:
            return params[name]

    return sample_candidate(_Replay(), recipe)
