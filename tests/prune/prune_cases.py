"""Models and data the pruning tests share (imported as ``prune_cases``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeslim.data import Dataset, dataset_from_arrays
from edgeslim.data.spec import DataSpec, Layout, Task

IMAGE = DataSpec("img", Task.CLASSIFICATION, Layout.IMAGE, (1, 8, 8), 4, 4)
SERIES = DataSpec("ser", Task.CLASSIFICATION, Layout.SERIES, (3, 12), 3, 3)
TABLE = DataSpec("tab", Task.CLASSIFICATION, Layout.TABULAR, (10,), 3, 3)

#: (id, kind, model parameters, data spec): every zoo family, recurrent ones stacked.
ZOO_CASES: tuple[tuple[str, str, dict[str, Any], DataSpec], ...] = (
    ("cnn", "cnn", {"channels": [6, 8]}, IMAGE),
    ("cnn-hidden", "cnn", {"channels": [4, 6], "hidden": 12}, IMAGE),
    ("resnet", "resnet", {"stem": 6, "blocks": [6, 10]}, IMAGE),
    ("dscnn", "dscnn", {"stem": 6, "channels": [6, 8]}, IMAGE),
    ("mlp", "mlp", {"hidden": [12, 8]}, TABLE),
    ("gru-2", "gru", {"hidden": 8, "layers": 2}, SERIES),
    ("lstm-2-bi", "lstm", {"hidden": 8, "layers": 2, "bidirectional": True}, SERIES),
    ("gru-3-bi-image", "gru", {"hidden": 6, "layers": 3, "bidirectional": True}, IMAGE),
    ("tcn", "tcn", {"channels": [6, 6, 8]}, SERIES),
)


def zoo_model(kind: str, params: dict[str, Any], spec: DataSpec, seed: int = 0) -> Any:
    from edgeslim.models import build_model, config_from_dict

    torch.manual_seed(seed)
    model = build_model(config_from_dict({"kind": kind, **params}), spec)
    _randomize_norms(model, seed)
    return model


def _randomize_norms(model: Any, seed: int) -> None:
    """Non-trivial batch-norm statistics, so that a wrong cut shows in the outputs."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def tiny_dataset(spec: DataSpec, n: int = 90, seed: int = 0) -> Dataset:
    """A learnable toy dataset of ``spec``'s shape: the class sets the mean of the inputs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % spec.num_classes
    x = rng.normal(size=(n, *spec.input_shape)).astype(np.float32)
    x += y.reshape(-1, *([1] * len(spec.input_shape))).astype(np.float32)
    return dataset_from_arrays(
        spec.name, x, y, task="classification", layout=spec.layout, seed=seed
    )
