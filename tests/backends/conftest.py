from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeslim.data.spec import DataSpec


@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, DataSpec], Any]:
    """``(kind, spec) -> (module, onnx path)``: a seeded zoo model and its ONNX export."""
    torch = pytest.importorskip("torch")
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config

    cache: dict[tuple[str, str], tuple[Any, Path]] = {}
    folder = tmp_path_factory.mktemp("zoo")

    def get(kind: str, spec: DataSpec) -> tuple[Any, Path]:
        key = (kind, spec.name)
        if key not in cache:
            torch.manual_seed(0)
            model = build_model(default_config(kind), spec)
            path = export_torch(model, spec.input_shape, folder / f"{spec.name}-{kind}.onnx")
            cache[key] = (model, Path(path))
        return cache[key]

    return get
