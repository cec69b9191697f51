"""TFLite importer: single-op flatbuffers built here, run by edgeslim and by TFLite Micro."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite", reason="needs the tflite package (pip install tflite)")

from tflite_build_fixture import Op, T, build, tflm_run

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.ir import interp, verify
from edgeslim.ir._tflite import from_tflite
from edgeslim.ir._tflite_fixed import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
)


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    g = from_tflite(model)
    verify(g)
    return interp.run(g, {g.inputs[0].name: x})[g.outputs[0].name]


def _oracle(model: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    ref = tflm_run(model, xs)
    if ref is None:
        pytest.skip("needs tflite-micro (pip install tflite-micro)")
    return ref


def test_double_rounding_differs_from_single_rounding() -> None:
    m0, shift = quantize_multiplier(0.25)
    assert (m0, shift) == (1 << 30, -1)
    x = np.array([5, -5, 6, 7, -7])
    got = multiply_by_quantized_multiplier(x, m0, shift)
    # exact 1.25: the doubling high multiply rounds 2.5 up to 3, the shift rounds 1.5 up to 2,
    # where one rounding of 1.25 gives 1 (onnxruntime's convention)
    assert got.tolist() == [2, -1, 2, 2, -2]
    assert rounding_divide_by_pot(np.array([3, -3, 2, -2]), 1).tolist() == [2, -2, 1, -1]


@pytest.mark.parametrize("sx,zx", [(0.09474028, 36), (0.02, -128), (0.0039, 0), (1.5, -3)])
def test_logistic_int8_matches_tflm_on_every_code(sx: float, zx: int) -> None:
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    m = build(
        [T("x", "int8", (1, 256), scale=(sx,), zero_point=(zx,)),
         T("y", "int8", (1, 256), scale=(1 / 256,), zero_point=(-128,))],
        [Op("LOGISTIC", (0,), (1,))], [0], [1],
    )  # fmt: skip
    got = _run(m, codes)
    (ref,) = _oracle(m, [codes])
    assert np.array_equal(got, ref)
    assert len(np.unique(got)) > 5  # the test exercises the curve, not only saturation


def _conv_model(kind: str, rng: np.random.Generator, padding: int, act: int) -> bytes:
    cin, mult = 6, (2 if kind == "DEPTHWISE_CONV_2D" else 1)
    cout = cin * mult if kind == "DEPTHWISE_CONV_2D" else 5
    wshape = (1, 3, 3, cout) if kind == "DEPTHWISE_CONV_2D" else (cout, 3, 3, cin)
    w = rng.integers(-127, 128, size=wshape).astype(np.int8)
    ws = tuple(float(s) for s in rng.uniform(0.002, 0.02, size=cout).astype(np.float32))
    sx = 0.05
    b = rng.integers(-3000, 3000, size=cout).astype(np.int32)
    bs = tuple(float(np.float32(sx) * np.float32(s)) for s in ws)
    opts: dict[str, int] = {"Padding": padding, "StrideH": 2, "StrideW": 1,
                            "DilationHFactor": 1, "DilationWFactor": 1,
                            "FusedActivationFunction": act}  # fmt: skip
    name = "Conv2DOptions"
    if kind == "DEPTHWISE_CONV_2D":
        opts["DepthMultiplier"] = mult
        name = "DepthwiseConv2DOptions"
    out_h = 4 if padding == 0 else 3
    out_w = 7 if padding == 0 else 5
    return build(
        [T("x", "int8", (1, 7, 7, cin), scale=(sx,), zero_point=(-3,)),
         T("w", "int8", wshape, w, scale=ws, zero_point=(0,) * cout,
           axis=3 if kind == "DEPTHWISE_CONV_2D" else 0),
         T("b", "int32", (cout,), b, scale=bs, zero_point=(0,) * cout),
         T("y", "int8", (1, out_h, out_w, cout), scale=(0.07,), zero_point=(4,))],
        [Op(kind, (0, 1, 2), (3,), (name, opts))], [0], [3],
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D"])
@pytest.mark.parametrize("padding,act", [(0, 0), (1, 1), (0, 3)])
def test_int8_conv_per_channel_matches_tflm(kind: str, padding: int, act: int) -> None:
    rng = np.random.default_rng(3)
    m = _conv_model(kind, rng, padding, act)
    xs = [rng.integers(-128, 128, size=(1, 7, 7, 6)).astype(np.int8) for _ in range(4)]
    refs = _oracle(m, xs)
    for x, ref in zip(xs, refs, strict=True):
        got = _run(m, x)
        assert got.shape == ref.shape
        assert np.array_equal(got, ref)
    assert len(np.unique(refs[0])) > 10


def test_int8_fully_connected_then_requantize_to_uint8_matches_tflm() -> None:
    rng = np.random.default_rng(5)
    w = rng.integers(-127, 128, size=(10, 32)).astype(np.int8)
    b = rng.integers(-500, 500, size=10).astype(np.int32)
    m = build(
        [T("x", "int8", (1, 32), scale=(0.02138215,), zero_point=(-128,)),
         T("w", "int8", (10, 32), w, scale=(0.00425252,), zero_point=(0,)),
         T("b", "int32", (10,), b, scale=(0.02138215 * 0.00425252,), zero_point=(0,)),
         T("h", "int8", (1, 10), scale=(0.09474028,), zero_point=(36,)),
         T("y", "uint8", (1, 10), scale=(0.09474028,), zero_point=(164,))],
        [Op("FULLY_CONNECTED", (0, 1, 2), (3,), ("FullyConnectedOptions", {})),
         Op("QUANTIZE", (3,), (4,))], [0], [4],
    )  # fmt: skip
    xs = [rng.integers(-128, 128, size=(1, 32)).astype(np.int8) for _ in range(8)]
    refs = _oracle(m, xs)
    for x, ref in zip(xs, refs, strict=True):
        assert np.array_equal(_run(m, x), ref)
    assert refs[0].dtype == np.uint8


def test_float_model_matches_tflm() -> None:
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(16, 4)).astype(np.float32)
    w2 = rng.normal(size=(3, 16)).astype(np.float32)
    m = build(
        [T("x", "float32", (1, 4)), T("w1", "float32", (16, 4), w1),
         T("h", "float32", (1, 16)), T("w2", "float32", (3, 16), w2),
         T("y", "float32", (1, 3)), T("p", "float32", (1, 3))],
        [Op("FULLY_CONNECTED", (0, 1, -1), (2,),
            ("FullyConnectedOptions", {"FusedActivationFunction": 1})),
         Op("FULLY_CONNECTED", (2, 3, -1), (4,), ("FullyConnectedOptions", {})),
         Op("LOGISTIC", (4,), (5,))], [0], [5],
    )  # fmt: skip
    xs = [rng.normal(size=(1, 4)).astype(np.float32) for _ in range(5)]
    refs = _oracle(m, xs)
    for x, ref in zip(xs, refs, strict=True):
        np.testing.assert_allclose(_run(m, x), ref, rtol=1e-5, atol=1e-6)


def test_unsupported_op_is_named_with_its_operator_index() -> None:
    m = build(
        [T("x", "float32", (1, 4)), T("y", "float32", (1, 4)), T("z", "float32", (1, 4))],
        [Op("LOGISTIC", (0,), (1,)), Op("TANH", (1,), (2,))], [0], [2],
    )  # fmt: skip
    with pytest.raises(UnsupportedOpError, match=r"TANH \(operator 1\)") as info:
        from_tflite(m)
    assert info.value.op == "TANH"


def test_not_a_flatbuffer_is_a_model_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.tflite"
    p.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="TFL3"):
        from_tflite(p)


def test_quantization_parameters_are_kept_exactly() -> None:
    rng = np.random.default_rng(3)
    m = _conv_model("CONV_2D", rng, 0, 0)
    g = from_tflite(m)
    w = g.tensors["w"]
    assert w.quant is not None and w.quant.axis == 0 and len(w.quant.scale) == 5
    assert all(np.float32(s) == s for s in w.quant.scale)  # float32 values, unrounded
    assert g.tensors["x"].quant is not None and g.tensors["x"].quant.zero_point == (-3,)
    assert g.tensors["y"].quant is not None and g.tensors["y"].quant.scale[0] == float(
        np.float32(0.07)
    )


def test_float_depthwise_and_conv_match_tflm() -> None:
    rng = np.random.default_rng(11)
    w1 = rng.normal(size=(1, 3, 3, 4)).astype(np.float32)
    w2 = rng.normal(size=(5, 1, 1, 4)).astype(np.float32)
    b2 = rng.normal(size=5).astype(np.float32)
    dw = {"Padding": 0, "StrideH": 1, "StrideW": 2, "DepthMultiplier": 1,
          "DilationHFactor": 1, "DilationWFactor": 1, "FusedActivationFunction": 1}  # fmt: skip
    cv = {"Padding": 1, "StrideH": 1, "StrideW": 1, "DilationHFactor": 1,
          "DilationWFactor": 1, "FusedActivationFunction": 0}  # fmt: skip
    m = build(
        [T("x", "float32", (1, 6, 6, 4)), T("w1", "float32", (1, 3, 3, 4), w1),
         T("h", "float32", (1, 6, 3, 4)), T("w2", "float32", (5, 1, 1, 4), w2),
         T("b2", "float32", (5,), b2), T("y", "float32", (1, 6, 3, 5)),
         T("b1", "float32", (4,), b2[:4])],
        [Op("DEPTHWISE_CONV_2D", (0, 1, 6), (2,), ("DepthwiseConv2DOptions", dw)),
         Op("CONV_2D", (2, 3, 4), (5,), ("Conv2DOptions", cv))], [0], [5],
    )  # fmt: skip
    xs = [rng.normal(size=(1, 6, 6, 4)).astype(np.float32) for _ in range(3)]
    refs = _oracle(m, xs)
    for x, ref in zip(xs, refs, strict=True):
        np.testing.assert_allclose(_run(m, x), ref, rtol=1e-5, atol=1e-5)
