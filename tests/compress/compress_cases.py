"""Models and data the compression tests share (imported as ``compress_cases``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeslim.data import Dataset, dataset_from_arrays
from edgeslim.data.spec import DataSpec, Layout, Task

IMAGE = DataSpec("img", Task.CLASSIFICATION, Layout.IMAGE, (1, 8, 8), 4, 4)
SERIES = DataSpec("ser", Task.CLASSIFICATION, Layout.SERIES, (4, 12), 3, 3)
TABLE = DataSpec("tab", Task.CLASSIFICATION, Layout.TABULAR, (16,), 3, 3)

#: (id, kind, zoo parameters, data spec): the zoo families the issue names.
ZOO: tuple[tuple[str, str, dict[str, Any], DataSpec], ...] = (
    ("cnn", "cnn", {"channels": [8, 16], "hidden": 24}, IMAGE),
    ("dscnn", "dscnn", {"stem": 8, "channels": [8, 16]}, IMAGE),
    ("mlp", "mlp", {"hidden": [32, 16]}, TABLE),
    ("gru", "gru", {"hidden": 8}, IMAGE),
    ("lstm-bi", "lstm", {"hidden": 6, "layers": 2, "bidirectional": True}, IMAGE),
    ("tcn", "tcn", {"channels": [8, 8]}, SERIES),
)


def zoo_model(kind: str, params: dict[str, Any], spec: DataSpec, seed: int = 0) -> Any:
    from edgeslim.models import build_model, config_from_dict

    torch.manual_seed(seed)
    return build_model(config_from_dict({"kind": kind, **params}), spec)


def tiny_dataset(spec: DataSpec, n: int = 120, seed: int = 0) -> Dataset:
    """A learnable toy dataset of ``spec``'s shape: the class sets the mean of the inputs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % spec.num_classes
    x = rng.normal(size=(n, *spec.input_shape)).astype(np.float32)
    x += y.reshape(-1, *([1] * len(spec.input_shape))).astype(np.float32)
    return dataset_from_arrays(
        spec.name, x, y, task="classification", layout=spec.layout, seed=seed
    )


def export_run(model: Any, dataset: Dataset, path: Any) -> tuple[np.ndarray, Any]:
    """Export ``model`` as the pipeline does (or through its hook); return onnxruntime's
    outputs on the test inputs and the path."""
    import onnxruntime as ort

    from edgeslim import ir
    from edgeslim.models import with_normalization

    hook = getattr(model, "edgeslim_export", None)
    if callable(hook):
        hook(path, dataset.spec.input_shape, dataset.normalization, force=True)
    else:
        wrapped = with_normalization(model, dataset.normalization, dataset.spec.input_shape)
        ir.export_torch(wrapped, dataset.spec.input_shape, path, force=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.asarray(dataset.x_test, np.float32)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0], path


def torch_out(model: Any, dataset: Dataset) -> np.ndarray:
    x = torch.from_numpy(dataset.normalization.apply(np.asarray(dataset.x_test, np.float32)))
    with torch.no_grad():
        return model.eval()(x).numpy()  # type: ignore[no-any-return]


def onnx_params(path: Any) -> int:
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    return sum(int(numpy_helper.to_array(i).size) for i in m.graph.initializer if i.data_type == 1)
