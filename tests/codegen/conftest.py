from __future__ import annotations

import shutil
from collections.abc import Callable

import numpy as np
import pytest

from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
from edgeslim.ir import Graph, load_graph

LAYOUTS = {Layout.IMAGE: (1, 8, 8), Layout.SERIES: (3, 24), Layout.TABULAR: (13,)}

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")


@pytest.fixture(scope="session")
def zoo_graph(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Layout], Graph]:
    """``(kind, layout) -> Graph``: a seeded zoo model with normalization, exported to ONNX."""
    torch = pytest.importorskip("torch")
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config, with_normalization

    folder = tmp_path_factory.mktemp("zoo")
    cache: dict[tuple[str, Layout], Graph] = {}

    def get(kind: str, layout: Layout) -> Graph:
        if (kind, layout) not in cache:
            torch.manual_seed(0)
            shape = LAYOUTS[layout]
            spec = DataSpec("t", Task.CLASSIFICATION, layout, shape, num_classes=4, output_dim=4)
            model = build_model(default_config(kind), spec)
            rng = np.random.default_rng(3)
            norm = Normalization(
                tuple(rng.standard_normal(shape[0]).tolist()),
                tuple((rng.random(shape[0]) + 0.5).tolist()),
                0,
            )
            path = folder / f"{kind}-{layout.value}.onnx"
            export_torch(with_normalization(model, norm, shape), shape, path)
            cache[(kind, layout)] = load_graph(path)
        return cache[(kind, layout)]

    return get


def sample_inputs(layout: Layout, n: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *LAYOUTS[layout])).astype(np.float32)
