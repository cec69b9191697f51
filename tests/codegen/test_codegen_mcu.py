"""Generated C on an emulated Cortex-M: outputs == reference, sizes, instructions per layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.codegen.conftest import sample_inputs

from edgeslim.api.deploy import measure_deploy
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.data.spec import Layout
from edgeslim.ir import Graph
from edgeslim.targets import load_target

pytestmark = [
    pytest.mark.torch,
    pytest.mark.toolchain,
    pytest.mark.skipif(
        not mcu_toolchain_available(load_target("cortex-m4")),
        reason="arm-none-eabi-gcc or qemu-system-arm missing",
    ),
]


@pytest.mark.parametrize(
    ("kind", "layout", "target"),
    [
        ("cnn", Layout.IMAGE, "cortex-m4"),
        ("gru", Layout.SERIES, "cortex-m4"),
        ("tcn", Layout.SERIES, "cortex-m4"),
        ("mlp", Layout.TABULAR, "cortex-m0plus"),
    ],
)
def test_runs_on_emulated_cortex_m(
    zoo_graph: Callable[[str, Layout], Graph],
    kind: str,
    layout: Layout,
    target: str,
    tmp_path: Path,
) -> None:
    rep = measure_deploy(zoo_graph(kind, layout), sample_inputs(layout, n=2), target, tmp_path)
    assert rep.exact, f"error {rep.max_error:.3g}"
    m = {x.name: x for x in rep.metrics}
    assert m["flash_bytes"].value > 0 and m["arena_bytes"].value > 0
    assert 0 < m["stack_bytes"].value < 4096
    assert m["instructions"].provenance.value == "simulated"
    assert m["energy"].provenance.value == "estimated"
    per_layer = sum(layer["instructions"] for layer in rep.layers)
    # per-layer counts include a timer read per layer; they add up to the total within 10 %
    assert abs(per_layer - m["instructions"].value) <= 0.1 * m["instructions"].value + 2000
