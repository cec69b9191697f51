"""The pymicro-wakeword int8 streaming models: imported, run call after call, equal to TFLM."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite", reason="needs the tflite package (pip install tflite)")
pmw = pytest.importorskip("pymicro_wakeword", reason="needs pymicro-wakeword (its .tflite models)")

from edgeslim import ir  # noqa: E402
from edgeslim.ir import interp  # noqa: E402
from edgeslim.ir._stream import data_inputs, data_outputs, state_vars  # noqa: E402

MODELS = sorted(glob.glob(os.path.join(os.path.dirname(pmw.__file__), "models", "*.tflite")))
CALLS = 40


def _stream(n: int, seed: int) -> list[np.ndarray]:
    """Feature frames: a slowly drifting spectrum with noise bursts (varied codes, real state)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-128, 80, size=40)
    frames = []
    for k in range(n):
        x = base + rng.integers(-50, 50, size=(1, 3, 40))
        if k % 13 < 3:
            x = rng.integers(-128, 128, size=(1, 3, 40))
        frames.append(np.clip(x, -128, 127).astype(np.int8))
    return frames


def test_four_models_are_shipped() -> None:
    assert len(MODELS) == 4


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_model_imports_with_state_buffers(path: str) -> None:
    g = ir.import_model(path)
    (x,) = data_inputs(g)
    (y,) = data_outputs(g)
    assert (x.dtype, x.shape) == ("int8", (1, 3, 40))
    assert y.dtype == "uint8"
    states = state_vars(g)
    assert len(states) == 6
    for v in states:  # CALL_ONCE's init subgraph gives every state its start value
        init = g.initializers[v.init]
        assert init.shape == v.input.shape and init.dtype.name == v.input.dtype
        assert v.input.quant is not None
    convs = [n for n in g.nodes if n.op == "tflite.Conv2D"]
    assert convs and all(len(n.attrs["w_scale"]) > 1 for n in convs)  # per-channel kept


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_macs_of_tflite_ops_equal_the_c_program(path: str) -> None:
    from edgeslim.codegen.nn import QOptions
    from edgeslim.codegen.nn._lower import lower
    from edgeslim.ir._tflite_qdq import to_qdq
    from edgeslim.measure import structure_metrics

    g = ir.import_model(path)
    macs = {m.name: m.value for m in structure_metrics(g)}["macs"]
    assert macs > 20_000
    assert macs == lower(to_qdq(g, pack_state=True), "auto", QOptions("double")).macs


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_model_stream_is_bit_exact_against_tflite_micro(path: str) -> None:
    runtime = pytest.importorskip(
        "tflite_micro.python.tflite_micro.runtime", reason="needs tflite-micro"
    )
    g = ir.import_model(path)
    stream = ir.Stream(g)
    it = runtime.Interpreter.from_file(path, arena_size=64 * 1024)
    fc = next(n for n in g.nodes if n.op == "tflite.FullyConnected").outputs[0]
    logits = []
    for x in _stream(CALLS, seed=1):
        it.set_input(x, 0)
        it.invoke()
        ref = it.get_output(0)
        feeds = {g.inputs[0].name: x, **stream.state}
        logits.append(int(interp.run(g, feeds, outputs=[fc])[fc].ravel()[0]))
        assert np.array_equal(stream(x), ref)
    assert len(set(logits)) > 3  # the stream moves the classifier, so state is exercised


@pytest.mark.parametrize("path", MODELS[:1], ids=lambda p: Path(p).stem)
def test_state_carries_between_calls_and_resets(path: str) -> None:
    g = ir.import_model(path)
    stream = ir.Stream(g)
    frames = _stream(12, seed=2)
    first = [stream.run({g.inputs[0].name: f}) for f in frames]
    after = {k: v.copy() for k, v in stream.state.items()}
    stream.reset()
    assert all(np.array_equal(stream.state[v.input.name], g.initializers[v.init])
               for v in state_vars(g))  # fmt: skip
    again = [stream.run({g.inputs[0].name: f}) for f in frames]
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(first, again, strict=True) for k in a)
    assert any(not np.array_equal(after[k], g.initializers[k + ".init"]) for k in after)
