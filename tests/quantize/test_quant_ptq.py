"""Static int8 PTQ: accuracy on digits, QDQ structure, parameters, exactness of the interpreter
against onnxruntime on the same QDQ model."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from quant_helpers import accuracy, run_onnx

from edgeslim import ir
from edgeslim._core.errors import RecipeError
from edgeslim.ir import interp
from edgeslim.passes import PASSES, PassContext, create
from edgeslim.passes.quantize import StaticQuantize

pytestmark = pytest.mark.torch


def _ptq(model: Any, dataset: Any, **params: Any) -> Any:
    p = create("quantize.ptq", params)
    return p.apply(model, PassContext(dataset, seed=0))


def test_registered() -> None:
    assert PASSES.get("quantize.ptq") is StaticQuantize


def test_minmax_per_channel_within_half_a_point(
    digits: Any, digits_cnn: Any, float_cnn_onnx: Any
) -> None:
    result = _ptq(digits_cnn, digits)
    base = accuracy(float_cnn_onnx, digits)
    assert base > 0.9
    assert accuracy(result.model.proto, digits) >= base - 0.005


@pytest.mark.parametrize("calibrator", ["percentile", "mse", "entropy"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_every_calibrator_gives_a_working_int8_model(
    digits: Any, digits_cnn: Any, float_cnn_onnx: Any, calibrator: str, per_channel: bool
) -> None:
    result = _ptq(digits_cnn, digits, calibrator=calibrator, per_channel=per_channel)
    onnx.checker.check_model(result.model.proto)
    assert accuracy(result.model.proto, digits) >= accuracy(float_cnn_onnx, digits) - 0.02
    assert result.record["params"]["calibrator"] == calibrator


def test_qdq_structure_and_record(digits: Any, digits_cnn: Any) -> None:
    result = _ptq(digits_cnn, digits, symmetric_activations=True)
    g = result.model.proto.graph
    ops = [n.op_type for n in g.node]
    assert ops.count("QuantizeLinear") == len(result.record["activations"])
    dtypes = {i.name: i.data_type for i in g.initializer}
    weights = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    for node in weights:
        assert dtypes[f"{node.input[1]}_q"] == onnx.TensorProto.INT8
        assert dtypes[f"{node.input[2]}_q"] == onnx.TensorProto.INT32
    assert all(a["zero_point"] == 0 for a in result.record["activations"].values())
    # MaxPool/Flatten outputs reuse their input's qparams
    assert any(a["shared_with"] for a in result.record["activations"].values())
    assert result.model.float_module is digits_cnn  # forward stays the float model


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"calibrator": "kl"}, "calibrator"),
        ({"per_channel": "yes"}, "per_channel"),
        ({"weight_bits": 3}, "weight_bits"),
        ({"calibration_samples": 0}, "calibration_samples"),
        ({"bogus": 1}, "unknown parameter 'bogus'"),
    ],
)
def test_bad_parameters_name_the_parameter(params: dict[str, Any], match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        create("quantize.ptq", params)


@pytest.mark.parametrize("params", [{}, {"per_channel": False, "symmetric_activations": True}])
def test_interpreter_matches_onnxruntime_bit_for_bit(
    digits: Any, digits_cnn: Any, params: dict[str, Any]
) -> None:
    """Every int8 tensor (QuantizeLinear output) of the QDQ model is the same in ir.interp and
    in onnxruntime, with graph optimizations off and on (QLinearConv fusion)."""
    proto = _ptq(digits_cnn, digits, **params).model.proto
    codes = [n.output[0] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    for name in codes:
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT8, None)
        )
    x = np.asarray(digits.x_test, np.float32)
    ours = interp.run(ir.from_onnx(proto), {"input": x}, outputs=[*codes, "output"])
    import onnxruntime as ort

    for level in (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(probe.SerializeToString(), opts)
        theirs = dict(
            zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x}), strict=True)
        )
        for name in codes:
            assert theirs[name].dtype == np.int8
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{name} at {level}")
        np.testing.assert_array_equal(ours["output"], theirs["output"])


def test_quantized_weights_are_smaller(digits: Any, digits_cnn: Any, float_cnn_onnx: Any) -> None:
    from edgeslim.measure import structure_metrics

    q = ir.from_onnx(_ptq(digits_cnn, digits).model.proto)
    f = ir.from_onnx(float_cnn_onnx)

    def weight_bytes(g: Any) -> float:
        return next(m.value for m in structure_metrics(g) if m.name == "weight_bytes")

    assert weight_bytes(q) < 0.6 * weight_bytes(f)


def test_float_module_unchanged_and_ptq_deterministic(digits: Any, digits_cnn: Any) -> None:
    a = _ptq(digits_cnn, digits, calibrator="entropy").model.proto
    b = _ptq(digits_cnn, digits, calibrator="entropy").model.proto
    assert a.SerializeToString() == b.SerializeToString()
    x = np.asarray(digits.x_test[:8], np.float32)
    np.testing.assert_array_equal(run_onnx(a, x), run_onnx(b, x))
