"""Layer 2: the model zoo (config dataclasses + builder), checkpoints and training."""

from __future__ import annotations

from edgeslim.models.zoo import (
    CNNConfig,
    DSCNNConfig,
    GRUConfig,
    LSTMConfig,
    MLPConfig,
    ModelConfig,
    ResNetConfig,
    TCNConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    default_config,
    with_normalization,
    zoo_names,
)

__all__ = [
    "CNNConfig",
    "DSCNNConfig",
    "GRUConfig",
    "LSTMConfig",
    "MLPConfig",
    "ModelConfig",
    "ResNetConfig",
    "TCNConfig",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "default_config",
    "with_normalization",
    "zoo_names",
]
