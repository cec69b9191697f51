"""The model zoo as frozen config dataclasses and one builder.

Every model accepts every data layout (tabular, image, series): convolutional models pick 1-D or
2-D convolutions from the layout, recurrent models and TCNs read an image row by row. So nothing
here is tied to one demo dataset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from edgeslim._core.errors import ModelError
from edgeslim.data.spec import DataSpec, Layout


@dataclass(frozen=True, slots=True)
class MLPConfig:
    kind: ClassVar[str] = "mlp"
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.0


@dataclass(frozen=True, slots=True)
class CNNConfig:
    kind: ClassVar[str] = "cnn"
    channels: tuple[int, ...] = (8, 16)
    kernel: int = 3
    pool: bool = True
    batchnorm: bool = True
    hidden: int = 0  # 0: no hidden dense layer before the classifier


@dataclass(frozen=True, slots=True)
class DSCNNConfig:
    kind: ClassVar[str] = "dscnn"
    stem: int = 16
    channels: tuple[int, ...] = (16, 32)
    kernel: int = 3


@dataclass(frozen=True, slots=True)
class ResNetConfig:
    kind: ClassVar[str] = "resnet"
    stem: int = 16
    blocks: tuple[int, ...] = (16, 32)  # channels per residual block; a change adds a 1x1 shortcut
    kernel: int = 3


@dataclass(frozen=True, slots=True)
class GRUConfig:
    kind: ClassVar[str] = "gru"
    hidden: int = 32
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0


@dataclass(frozen=True, slots=True)
class LSTMConfig:
    kind: ClassVar[str] = "lstm"
    hidden: int = 32
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0


@dataclass(frozen=True, slots=True)
class TCNConfig:
    kind: ClassVar[str] = "tcn"
    channels: tuple[int, ...] = (16, 16, 16)  # one residual level each, dilation 2**level
    kernel: int = 3
    dropout: float = 0.0


ModelConfig = (
    MLPConfig | CNNConfig | DSCNNConfig | ResNetConfig | GRUConfig | LSTMConfig | TCNConfig
)
_CONFIGS: dict[str, type[Any]] = {
    c.kind: c
    for c in (MLPConfig, CNNConfig, DSCNNConfig, ResNetConfig, GRUConfig, LSTMConfig, TCNConfig)
}


def zoo_names() -> list[str]:
    return sorted(_CONFIGS)


def default_config(kind: str) -> ModelConfig:
    return config_from_dict({"kind": kind})


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": config.kind}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        d[f.name] = list(v) if isinstance(v, tuple) else v
    return d


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Build a config from a plain dict with a ``kind`` key; errors name the bad key."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _CONFIGS:
        raise ModelError(f"model kind must be one of {', '.join(zoo_names())}; got {kind!r}")
    cls = _CONFIGS[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in d:
        if key not in fields:
            raise ModelError(
                f"unknown parameter {key!r} for model {kind!r}; known: {', '.join(fields)}"
            )
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        default = fields[key].default
        if isinstance(default, tuple):
            if isinstance(value, int):
                value = (value,)
            value = tuple(int(v) for v in value)
        kwargs[key] = value
    config = cls(**kwargs)
    _validate(config)
    return config  # type: ignore[no-any-return]


def _validate(config: ModelConfig) -> None:
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        name = f"parameter {f.name} of {config.kind}"
        if isinstance(v, tuple) and any(int(x) < 1 for x in v):
            raise ModelError(f"{name} must hold positive sizes; got {list(v)}")
        if f.name in {"hidden", "layers", "stem", "kernel"} and isinstance(v, int):
            lo = 0 if (f.name == "hidden" and config.kind == "cnn") else 1
            if v < lo:
                raise ModelError(f"{name} must be >= {lo}; got {v}")
        if f.name == "dropout" and not 0.0 <= float(v) < 1.0:
            raise ModelError(f"{name} must be in [0, 1); got {v}")


def build_model(config: ModelConfig, spec: DataSpec) -> Any:
    """Return a freshly initialized ``torch.nn.Module`` for ``config`` on data ``spec``."""
    from edgeslim.models import _nets

    return _nets.build(config, spec)


def sequence_shape(spec: DataSpec) -> tuple[int, int]:
    """(features per step, steps) used by recurrent nets and TCNs for this layout."""
    s = spec.input_shape
    if spec.layout is Layout.SERIES:
        return s[0], s[1]
    if spec.layout is Layout.IMAGE:
        return s[0] * s[2], s[1]  # one image row per step
    return 1, s[0]  # tabular: one feature per step


def with_normalization(model: Any, normalization: Any, input_shape: tuple[int, ...]) -> Any:
    """Wrap ``model`` so it takes raw inputs: ``model((x - mean) / std)`` inside the graph.

    ``normalization`` is a :class:`edgeslim.data.spec.Normalization` whose statistics broadcast
    along its axis of one sample of shape ``input_shape``.
    """
    import torch

    from edgeslim.models._nets import Normalized

    shape = [1] * len(input_shape)
    shape[normalization.axis] = len(normalization.mean)
    mean = torch.tensor(normalization.mean, dtype=torch.float32).reshape(1, *shape)
    inv = 1.0 / torch.tensor(normalization.std, dtype=torch.float32).reshape(1, *shape)
    wrapped = Normalized(model, mean, inv)
    wrapped.eval()
    return wrapped
