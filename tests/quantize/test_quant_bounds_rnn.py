"""The certified bound for recurrent nets (GRU/LSTM), dynamic quantization, binarized nets and
integer recurrent cells: never exceeded on the test set, on random and corner inputs of the
box, and on inputs searched adversarially."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quant_helpers import run_onnx
from quant_helpers import trained as _trained

from edgeslim import ir
from edgeslim._core.errors import UnsupportedOpError
from edgeslim.measure._bounds import quantization_error_bound
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._model import float_onnx

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def digits_lstm2(digits: Any) -> Any:
    return _trained("lstm", digits, 2, hidden=8, layers=2, bidirectional=True)


def _quantized(name: str, params: dict[str, Any], model: Any, dataset: Any) -> Any:
    return create(name, params).apply(model, PassContext(dataset, seed=0)).model.proto


def _samples(dataset: Any, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(3)
    uniform = rng.uniform(lo, hi, size=(128, *lo.shape))
    corners = np.where(rng.random((32, *lo.shape)) < 0.5, lo, hi)
    return np.concatenate([dataset.x_test[:200], uniform, corners]).astype(np.float32)


def _run(proto: Any, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([run_onnx(proto, x[i : i + batch]) for i in range(0, len(x), batch)])


def _check(f: Any, q: Any, dataset: Any, batches: tuple[int, ...] = (256,)) -> Any:
    lo, hi = dataset.x_train.min(axis=0), dataset.x_train.max(axis=0)
    bound = quantization_error_bound(ir.from_onnx(q), ir.from_onnx(f), lo, hi)
    per_out = np.asarray(bound.per_output)
    x = _samples(dataset, lo, hi)
    ref = run_onnx(f, x).astype(np.float64)
    for batch in batches:  # dynamic quantization's scale depends on the batch
        dev = np.abs(_run(q, x, batch).astype(np.float64) - ref)
        assert (dev <= per_out[None, :]).all()
        assert dev.max() > 0  # the models do differ: the check can fail
    # greedy random search for a larger deviation
    rng = np.random.default_rng(0)
    dev = np.abs(run_onnx(q, x).astype(np.float64) - ref).max(axis=1)
    cur = x[np.argsort(dev)[-8:]].copy()
    best = np.sort(dev)[-8:]
    for step in range(15):
        cand = np.clip(cur + rng.normal(size=cur.shape) * 0.3 * (hi - lo) * 0.85**step, lo, hi)
        cand = cand.astype(np.float32)
        d = np.abs(run_onnx(q, cand).astype(np.float64) - run_onnx(f, cand)).max(axis=1)
        better = d > best
        cur[better], best[better] = cand[better], d[better]
    assert best.max() <= bound.max
    return bound


@pytest.mark.parametrize(
    ("name", "params"),
    [("quantize.ptq", {}), ("quantize.dynamic", {}), ("quantize.fp16", {})],
)
@pytest.mark.parametrize("fixture", ["digits_gru", "digits_lstm2"])
def test_recurrent_bound_never_exceeded(
    request: pytest.FixtureRequest, digits: Any, fixture: str, name: str, params: dict[str, Any]
) -> None:
    model = request.getfixturevalue(fixture)
    f, q = float_onnx(model, digits), _quantized(name, params, model, digits)
    bound = _check(f, q, digits)
    assert bound.method == "propagated"


def test_recurrent_bound_at_a_point_is_tight(digits: Any, digits_gru: Any) -> None:
    """At one input the intervals collapse: the bound follows the real trajectory (saturated
    gates, actual state) and is far below the bound over the box."""
    f = ir.from_onnx(float_onnx(digits_gru, digits))
    q = _quantized("quantize.fp16", {}, digits_gru, digits)
    x0 = digits.x_test[0]
    point = quantization_error_bound(ir.from_onnx(q), f, x0, x0)
    box = quantization_error_bound(
        ir.from_onnx(q), f, digits.x_train.min(0), digits.x_train.max(0)
    )
    dev = np.abs(run_onnx(q, x0[None]) - run_onnx(float_onnx(digits_gru, digits), x0[None]))
    assert dev.max() <= point.max < box.max
    assert point.max < 0.05  # float16 weights move a trained GRU's logits by far less


def test_identical_recurrent_graphs_have_a_near_zero_bound(digits: Any, digits_lstm2: Any) -> None:
    f = ir.from_onnx(float_onnx(digits_lstm2, digits))
    b = quantization_error_bound(f, f, digits.x_train.min(0), digits.x_train.max(0))
    assert b.max < 1e-2 and b.method == "propagated"


def test_dynamic_bound_holds_for_any_batch(digits: Any, digits_mlp: Any) -> None:
    f = float_onnx(digits_mlp, digits)
    q = _quantized("quantize.dynamic", {}, digits_mlp, digits)
    assert any(n.op_type == "DynamicQuantizeLinear" for n in q.graph.node)
    best = _check(f, q, digits, batches=(1, 7, 256))
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    gq, gf = ir.from_onnx(q), ir.from_onnx(f)
    plain = quantization_error_bound(gq, gf, lo, hi, method="interval")
    affine = quantization_error_bound(gq, gf, lo, hi, method="affine")
    assert best.max <= min(plain.max, affine.max) + 1e-9
    assert affine.max < plain.max  # zonotopes keep the runtime roundings' signs apart


def test_binarized_net_gets_the_range_bound(digits: Any, digits_mlp: Any) -> None:
    from edgeslim.api.pipeline import pass_context
    from edgeslim.api.recipe import RunSpec

    spec = RunSpec.model_validate(
        {"name": "b", "data": {"name": "digits"}, "model": {"kind": "mlp"}, "train": {}}
    )
    binarize = create("quantize.binarize", {"epochs": 2})
    q = binarize.apply(digits_mlp, pass_context(spec, digits, None)).model.proto
    bound = _check(float_onnx(digits_mlp, digits), q, digits)
    assert bound.method == "ranges" and "float" in bound.note


def test_integer_cells_get_the_range_bound(motions: Any) -> None:
    import onnx

    from edgeslim.ir import interp
    from edgeslim.passes.quantize._intrnn import integer_recurrent

    model = _trained("gru", motions, 1, hidden=8)
    f = float_onnx(model, motions)
    x = np.asarray(motions.x_train[:64], np.float32)
    q, _ = integer_recurrent(onnx.load_from_string(f.SerializeToString()), x, state_bits=8)
    gq = ir.from_onnx(q)
    lo, hi = motions.x_train.min(axis=0), motions.x_train.max(axis=0)
    bound = quantization_error_bound(gq, ir.from_onnx(f), lo, hi)
    assert bound.method == "ranges" and "IntGRU" in bound.note
    xs = _samples(motions, lo, hi)
    ours = interp.run(gq, {gq.inputs[0].name: xs})[gq.outputs[0].name]
    dev = np.abs(ours.astype(np.float64) - run_onnx(f, xs))
    assert (dev <= np.asarray(bound.per_output)[None, :]).all()


def test_ops_without_interval_rules_are_named(digits: Any, digits_mlp: Any) -> None:
    import onnx
    from onnx import helper

    f = float_onnx(digits_mlp, digits)
    g = onnx.load_from_string(f.SerializeToString())
    out = g.graph.output[0].name
    g.graph.node[-1].output[0] = "logits"
    g.graph.node.append(helper.make_node("Softmax", ["logits"], [out], axis=1))
    with pytest.raises(UnsupportedOpError, match="Softmax"):
        quantization_error_bound(ir.from_onnx(g), ir.from_onnx(g), 0.0, 1.0)


def test_weights_without_float_counterpart_are_not_paired(digits: Any, digits_mlp: Any) -> None:
    """A quantized weight renamed away from its float weight cannot be paired: the bound must
    not take the quantized value for the float one (that would hide the weight error)."""
    import onnx

    f = float_onnx(digits_mlp, digits)
    q = _quantized("quantize.fp16", {}, digits_mlp, digits)
    renamed = onnx.load_from_string(q.SerializeToString())
    old = renamed.graph.node[2].output[0]  # a Cast of a float16 weight
    for node in renamed.graph.node:
        node.input[:] = [f"{old}_x" if t == old else t for t in node.input]
        node.output[:] = [f"{old}_x" if t == old else t for t in node.output]
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    gf = ir.from_onnx(f)
    with pytest.raises(UnsupportedOpError, match=old):  # by name only: refused
        quantization_error_bound(ir.from_onnx(renamed), gf.initializers, lo, hi)
    # with the float graph, the weight is paired by position (n-th Gemm with n-th Gemm)
    by_position = quantization_error_bound(ir.from_onnx(renamed), gf, lo, hi)
    paired = quantization_error_bound(ir.from_onnx(q), gf, lo, hi)
    assert by_position.method == paired.method == "propagated"
    assert by_position.max == pytest.approx(paired.max)


@pytest.mark.parametrize("fixture", ["digits_gru", "digits_lstm2"])
@pytest.mark.parametrize("eps", [0.003, 0.01])
def test_recurrent_bound_on_a_small_box_holds_and_is_tight(
    request: pytest.FixtureRequest, digits: Any, fixture: str, eps: float
) -> None:
    """Zonotopes through the recurrence (float value and error as affine forms) keep a small
    box small; the bound holds on random points, corners and a greedy search in the box."""
    model = request.getfixturevalue(fixture)
    f, q = float_onnx(model, digits), _quantized("quantize.ptq", {}, model, digits)
    x0 = digits.x_test[3]
    lo, hi = x0 - eps, x0 + eps
    bound = quantization_error_bound(ir.from_onnx(q), ir.from_onnx(f), lo, hi)
    box = quantization_error_bound(
        ir.from_onnx(q), ir.from_onnx(f), digits.x_train.min(0), digits.x_train.max(0)
    )
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            rng.uniform(lo, hi, (200, *lo.shape)),
            np.where(rng.random((56, *lo.shape)) < 0.5, lo, hi),
        ]
    ).astype(np.float32)
    dev = np.abs(run_onnx(q, x).astype(np.float64) - run_onnx(f, x))
    assert (dev <= np.asarray(bound.per_output)[None, :]).all()
    cur, best = x[np.argsort(dev.max(1))[-8:]], np.sort(dev.max(1))[-8:]
    for step in range(15):
        cand = np.clip(cur + rng.normal(size=cur.shape) * eps * 0.8**step, lo, hi)
        d = np.abs(run_onnx(q, cand.astype(np.float32)) - run_onnx(f, cand.astype(np.float32)))
        better = d.max(1) > best
        cur[better], best[better] = cand[better], d.max(1)[better]
    assert best.max() <= bound.max
    assert bound.max < box.max / 5 and bound.max < 50 * dev.max()
