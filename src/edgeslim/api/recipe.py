"""Recipes: YAML files validated by pydantic. Errors name the key and its line in the file.

A recipe holds defaults at the top level and an optional list ``runs``; each run inherits the
top-level values and overrides them. Without ``runs`` the recipe is one run.

.. code-block:: yaml

    name: digits-cnn
    seed: 0
    data: {name: digits}
    model: {kind: cnn, channels: [8, 16]}
    train: {epochs: 15}
    passes: []
    targets: [host]
    measure: {backends: [torch, onnxruntime], threads: [1, 0]}
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeslim._core.errors import RecipeError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSection(_Strict):
    name: str = Field(description="registered dataset name, or a path to a .npz/.csv file")
    label: str | None = Field(default=None, description="label column of a .csv file")
    params: dict[str, Any] = Field(default_factory=dict)


class ModelSection(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str | None = Field(default=None, description="zoo model kind (mlp, cnn, gru, ...)")
    path: str | None = Field(default=None, description="import: .onnx, TorchScript or checkpoint")
    trust: bool = False

    def zoo_params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainSection(_Strict):
    epochs: int = Field(default=20, ge=0)
    lr: float = Field(default=3e-3, gt=0)
    batch_size: int = Field(default=64, ge=1)
    weight_decay: float = Field(default=0.0, ge=0)
    patience: int = Field(default=5, ge=0)
    max_grad_norm: float | None = Field(default=None, gt=0)
    monitor: Literal["val_loss", "val_metric"] = Field(
        default="val_loss", description="what picks the best epoch (val_metric for tiny val sets)"
    )


class PassSection(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MeasureSection(_Strict):
    backends: tuple[Literal["torch", "onnxruntime"], ...] = ("torch", "onnxruntime")
    threads: tuple[int, ...] = Field(default=(1, 0), description="0 means all cores")
    batch: int = Field(default=64, ge=1, description="batch size of the throughput metric")
    warmup: int = Field(default=10, ge=0)
    repeats: int = Field(default=100, ge=1)

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(t < 0 for t in v):
            raise ValueError("threads must be >= 0 (0 means all cores)")
        return v


class RunSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    data: DataSection
    model: ModelSection
    train: TrainSection = TrainSection()
    passes: tuple[PassSection, ...] = ()
    targets: tuple[str, ...] = ("host",)
    measure: MeasureSection = MeasureSection()


_RUN_KEYS = set(RunSpec.model_fields)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "model":
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _format_error(source: str, err: ValidationError, root: yaml.Node | None, prefix: tuple) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in (*prefix, *loc)) or "(top level)"
    line = _line_of(root, (*prefix, *loc))
    where = f"{source}, line {line}" if line else source
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{where}: key {key!r}: {first['msg']}{more}"


def parse_recipe(text: str, source: str = "<recipe>") -> tuple[RunSpec, ...]:
    """Parse and validate recipe text; return one :class:`RunSpec` per run."""
    try:
        root = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark else source
        raise RecipeError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(doc, dict):
        raise RecipeError(
            f"{source}: a recipe must be a mapping of keys; got {type(doc).__name__}"
        )
    runs = doc.pop("runs", None)
    unknown = sorted(set(doc) - _RUN_KEYS)
    if unknown:
        line = _line_of(root, (unknown[0],))
        raise RecipeError(
            f"{source}, line {line}: unknown key {unknown[0]!r}; known: "
            f"{', '.join(sorted(_RUN_KEYS | {'runs'}))}"
        )
    if runs is None:
        items: list[tuple[dict[str, Any], tuple]] = [(doc, ())]
    elif isinstance(runs, list) and runs and all(isinstance(r, dict) for r in runs):
        items = [(_merge(doc, r), ("runs", i)) for i, r in enumerate(runs)]
    else:
        raise RecipeError(f"{source}, line {_line_of(root, ('runs',))}: 'runs' must be a list")
    specs = []
    for data, prefix in items:
        try:
            specs.append(RunSpec.model_validate(data))
        except ValidationError as err:
            raise RecipeError(_format_error(source, err, root, prefix)) from None
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RecipeError(f"{source}: run names must be unique; got {names}")
    return tuple(specs)


def load_recipe(path: str | Path) -> tuple[RunSpec, ...]:
    """Read and validate a recipe file."""
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"recipe file {p} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError(f"recipe file {p} cannot be read: {err}") from None
    return parse_recipe(text, source=str(p))
