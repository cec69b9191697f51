"""int8 C on an emulated Cortex-M4: bit-exact in QEMU, SIMD bit-exact with plain and fewer
instructions, ``layout="auto"`` reports both measured algorithms per layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.codegen.int8_graphs import pattern_graph, quantized_zoo

from edgeslim.api.deploy import measure_deploy
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.nn import QOptions
from edgeslim.codegen.nn._qlower import ALGOS
from edgeslim.targets import load_target

pytestmark = [
    pytest.mark.toolchain,
    pytest.mark.skipif(
        not mcu_toolchain_available(load_target("cortex-m4")),
        reason="arm-none-eabi-gcc or qemu-system-arm missing",
    ),
]


def _metrics(rep: object) -> dict[str, float]:
    return {m.name: m.value for m in rep.metrics}  # type: ignore[attr-defined]


def test_pattern_graph_in_qemu_plain_and_simd(tmp_path: Path) -> None:
    graph = pattern_graph()
    x = np.random.default_rng(3).standard_normal((4, 4, 6, 6)).astype(np.float32)
    reps = {}
    for simd in (False, True):
        reps[simd] = measure_deploy(
            graph, x, "cortex-m4", tmp_path / str(simd), qopts=QOptions("single", simd)
        )
        assert reps[simd].exact and reps[simd].max_error == 0.0
        assert reps[simd].options["simd"] is simd
    plain, simd_m = _metrics(reps[False]), _metrics(reps[True])
    assert simd_m["instructions"] < plain["instructions"]
    assert plain["flash_bytes"] > 0 and plain["arena_bytes"] > 0


def test_im2col2_bit_exact_in_qemu_plain_and_simd(tmp_path: Path) -> None:
    """The padded-copy im2col kernel: exact in QEMU, SIMD and plain give the same codes."""
    graph = pattern_graph()
    x = np.random.default_rng(5).standard_normal((3, 4, 6, 6)).astype(np.float32)
    for simd in (False, True):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / str(simd), qopts=QOptions("single", simd),
            layout="im2col2",
        )  # fmt: skip
        assert rep.exact and rep.max_error == 0.0
        assert "im2col2" in set(rep.options["algorithms"].values())


@pytest.mark.torch
def test_tcn_int8_auto_layout_in_qemu(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    graph = quantized_zoo("tcn", (3, 24), tmp_path)
    x = np.random.default_rng(4).standard_normal((2, 3, 24)).astype(np.float32)
    rep = measure_deploy(graph, x, "cortex-m4", tmp_path / "m", layout="auto")
    assert rep.exact
    assert rep.choices, "auto layout records its measured choices"
    for c in rep.choices:
        assert c["chosen"] in ALGOS
        assert c[c["chosen"]] == min(c[a] for a in ALGOS if a in c)
    assert set(rep.options["algorithms"].values()) <= set(ALGOS)
    m = _metrics(rep)
    assert m["instructions"] > 0 and m["stack_bytes"] > 0
    assert any(layer["kernel"] == "qconv" for layer in rep.layers)


@pytest.mark.torch
def test_integer_lstm_in_qemu(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.codegen.int8_graphs import integer_rnn_zoo

    graph = integer_rnn_zoo("lstm", (3, 24), tmp_path)
    x = np.random.default_rng(6).standard_normal((2, 3, 24)).astype(np.float32)
    rep = measure_deploy(graph, x, "cortex-m4", tmp_path / "m")
    assert rep.exact and rep.max_error == 0.0
    assert any(layer["kernel"] == "qrnn" and layer["instructions"] > 0 for layer in rep.layers)
