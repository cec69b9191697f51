"""RNN, GRU and LSTM against onnxruntime across directions, states, lengths and options."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

CheckOp = Callable[..., list[np.ndarray]]
SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 6
LENS = np.asarray([5, 2, 4], dtype=np.int32)


def _weights(seed: int, gates: int, nd: int, states: int, peepholes: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    consts: dict[str, Any] = {
        "W": r(nd, gates * HIDDEN, INPUT),
        "R": r(nd, gates * HIDDEN, HIDDEN),
        "B": r(nd, 2 * gates * HIDDEN),
    }
    consts["lens"] = None
    for name in ("h0", "c0")[:states]:
        consts[name] = None
    if peepholes:
        consts["P"] = r(nd, 3 * HIDDEN)
    return consts


def _run(
    check_op: CheckOp, op: str, gates: int, states: int, options: dict[str, Any], seed: int
) -> list[np.ndarray]:
    direction = options.get("direction", "forward")
    nd = 2 if direction == "bidirectional" else 1
    consts = _weights(seed, gates, nd, states, options.pop("peepholes", False))
    rng = np.random.default_rng(seed + 1)
    if options.pop("lens", False):
        consts["lens"] = LENS
    if options.pop("initial", False):
        for name in ("h0", "c0")[:states]:
            consts[name] = rng.standard_normal((nd, BATCH, HIDDEN)).astype(np.float32)
    x = rng.standard_normal((SEQ, BATCH, INPUT)).astype(np.float32)
    attrs = {"hidden_size": HIDDEN, "direction": direction, **options}
    order = ["x", *consts]
    return check_op(op, {"x": x}, consts, attrs, n_outputs=1 + states, order=order)


DIRECTIONS = ["forward", "reverse", "bidirectional"]
GRU_GRID = list(itertools.product(DIRECTIONS, [0, 1], [False, True], [False, True]))


@pytest.mark.parametrize(("direction", "lbr", "initial", "lens"), GRU_GRID)
def test_gru_matches_ort(
    check_op: CheckOp, direction: str, lbr: int, initial: bool, lens: bool
) -> None:
    options = {
        "direction": direction,
        "linear_before_reset": lbr,
        "initial": initial,
        "lens": lens,
    }
    y, y_h = _run(check_op, "GRU", 3, 1, options, seed=11)
    nd = 2 if direction == "bidirectional" else 1
    assert y.shape == (SEQ, nd, BATCH, HIDDEN) and y_h.shape == (nd, BATCH, HIDDEN)
    if lens:
        assert np.all(y[LENS[1] :, :, 1] == 0)  # past a sample's length the output is zero


LSTM_GRID = list(itertools.product(DIRECTIONS, [False, True], [False, True], [False, True]))


@pytest.mark.parametrize(("direction", "peepholes", "initial", "lens"), LSTM_GRID)
def test_lstm_matches_ort(
    check_op: CheckOp, direction: str, peepholes: bool, initial: bool, lens: bool
) -> None:
    options = {"direction": direction, "peepholes": peepholes, "initial": initial, "lens": lens}
    y, y_h, y_c = _run(check_op, "LSTM", 4, 2, options, seed=12)
    nd = 2 if direction == "bidirectional" else 1
    assert y.shape == (SEQ, nd, BATCH, HIDDEN) and y_c.shape == y_h.shape


@pytest.mark.parametrize(
    ("op", "gates", "states", "options"),
    [
        ("GRU", 3, 1, {"clip": 0.7}),
        ("LSTM", 4, 2, {"clip": 0.5, "direction": "bidirectional"}),
        ("LSTM", 4, 2, {"input_forget": 1}),
        (
            "GRU",
            3,
            1,
            {
                "activations": ["HardSigmoid", "Relu"],
                "activation_alpha": [0.3],
                "activation_beta": [0.4],
            },
        ),
        ("LSTM", 4, 2, {"activations": ["Sigmoid", "Tanh", "Softsign"]}),
        ("RNN", 1, 1, {}),
        ("RNN", 1, 1, {"direction": "bidirectional", "initial": True, "lens": True}),
        ("RNN", 1, 1, {"activations": ["Relu"]}),
    ],
    ids=[
        "gru-clip",
        "lstm-clip-bi",
        "lstm-input-forget",
        "gru-activations",
        "lstm-activations",
        "rnn",
        "rnn-bi",
        "rnn-relu",
    ],
)
def test_recurrent_options_match_ort(
    check_op: CheckOp, op: str, gates: int, states: int, options: dict[str, Any]
) -> None:
    outs = _run(check_op, op, gates, states, dict(options), seed=13)
    assert len(outs) == 1 + states and all(np.isfinite(o).all() for o in outs)


@pytest.mark.parametrize(("op", "gates", "states"), [("GRU", 3, 1), ("LSTM", 4, 2)])
def test_batch_first_layout_matches_onnx_reference(op: str, gates: int, states: int) -> None:
    """onnxruntime rejects layout=1, so ONNX's own reference evaluator is the oracle here."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    from edgeslim.ir import from_onnx, interp

    consts = _weights(5, gates, 2, states, peepholes=False)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((BATCH, SEQ, INPUT)).astype(np.float32)
    h0 = rng.standard_normal((BATCH, 2, HIDDEN)).astype(np.float32)
    inits = {"W": consts["W"], "R": consts["R"], "B": consts["B"], "h0": h0}
    if states == 2:
        inits["c0"] = h0 * 0.5
    names = ["x", "W", "R", "B", "", "h0", *(["c0"] if states == 2 else [])]
    outs = ["y", "y_h", "y_c"][: 1 + states]
    node = helper.make_node(
        op, names, outs, hidden_size=HIDDEN, layout=1, direction="bidirectional"
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", 1, x.shape)],
        [helper.make_tensor_value_info(o, 1, None) for o in outs],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    want = ReferenceEvaluator(model).run(None, {"x": x})
    got = interp.run(from_onnx(model), {"x": x})
    assert got["y"].shape == (BATCH, SEQ, 2, HIDDEN)
    for name, w in zip(outs, want, strict=True):
        np.testing.assert_allclose(got[name], w, atol=1e-5, rtol=1e-5)
