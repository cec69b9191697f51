"""Helpers of the quantization tests: run an ONNX model on onnxruntime, its accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np


def run_onnx(proto: Any, x: np.ndarray, *, optimize: bool = False) -> np.ndarray:
    """The first output of ``proto`` on onnxruntime (one thread; optimizations off unless
    ``optimize``)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(
        proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0])


def accuracy(proto: Any, dataset: Any) -> float:
    y = run_onnx(proto, np.asarray(dataset.x_test))
    return float(np.mean(y.argmax(1) == dataset.y_test))


def trained(kind: str, dataset: Any, epochs: int, **params: Any) -> Any:
    """A zoo model trained on ``dataset`` (one torch thread, seed 0), in eval mode."""
    import torch

    from edgeslim._core.seeding import seed_everything
    from edgeslim.models import build_model, config_from_dict
    from edgeslim.models.train import TrainConfig, fit

    torch.set_num_threads(1)
    seed_everything(0)
    model = build_model(config_from_dict({"kind": kind, **params}), dataset.spec)
    fit(model, dataset, TrainConfig(epochs=epochs, seed=0))
    return model.eval()
