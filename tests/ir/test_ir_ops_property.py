"""Property tests: single ops on small random shapes, interpreter vs onnxruntime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CheckOp = Callable[..., list[np.ndarray]]

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _rand(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@st.composite
def conv_cases(draw: st.DrawFn) -> dict[str, Any]:
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(dims)]
    dil = [draw(st.integers(1, 2)) for _ in range(dims)]
    strides = [draw(st.integers(1, 3)) for _ in range(dims)]
    pads = [draw(st.integers(0, 2)) for _ in range(2 * dims)]
    spatial = [draw(st.integers((k - 1) * d + 1, 9)) for k, d in zip(kernel, dil, strict=True)]
    return {
        "x": (draw(st.integers(1, 2)), cin, *spatial),
        "w": (cout, cin // groups, *kernel),
        "bias": draw(st.booleans()),
        "attrs": {
            "group": groups,
            "dilations": dil,
            "strides": strides,
            "pads": pads,
            "kernel_shape": kernel,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


@SETTINGS
@given(case=conv_cases())
def test_conv_matches_ort(check_op: CheckOp, case: dict[str, Any]) -> None:
    s = case["seed"]
    consts = {"w": _rand(s + 1, *case["w"])}
    if case["bias"]:
        consts["b"] = _rand(s + 2, case["w"][0])
    (y,) = check_op("Conv", {"x": _rand(s, *case["x"])}, consts, case["attrs"])
    assert y.shape[:2] == (case["x"][0], case["w"][0])


@SETTINGS
@given(
    dims=st.sampled_from([1, 2]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 1),
    ceil=st.booleans(),
    size=st.integers(3, 9),
    seed=st.integers(0, 2**16),
)
def test_max_pool_matches_ort(
    check_op: CheckOp,
    dims: int,
    kernel: int,
    stride: int,
    pad: int,
    ceil: bool,
    size: int,
    seed: int,
) -> None:
    pad = min(pad, kernel // 2)  # ONNX requires pads smaller than the kernel
    attrs = {
        "kernel_shape": [kernel] * dims,
        "strides": [stride] * dims,
        "pads": [pad] * (2 * dims),
        "ceil_mode": int(ceil),
    }
    x = _rand(seed, 2, 3, *([size] * dims))
    (y,) = check_op("MaxPool", {"x": x}, None, attrs)
    assert y.shape[:2] == (2, 3)


@SETTINGS
@given(
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 1),
    include_pad=st.booleans(),
    ceil=st.booleans(),
    size=st.integers(3, 8),
    seed=st.integers(0, 2**16),
)
def test_average_pool_matches_ort(
    check_op: CheckOp,
    kernel: int,
    stride: int,
    pad: int,
    include_pad: bool,
    ceil: bool,
    size: int,
    seed: int,
) -> None:
    pad = min(pad, kernel // 2)
    attrs = {
        "kernel_shape": [kernel, kernel],
        "strides": [stride, stride],
        "pads": [pad] * 4,
        "count_include_pad": int(include_pad),
        "ceil_mode": int(ceil),
    }
    (y,) = check_op("AveragePool", {"x": _rand(seed, 1, 2, size, size + 1)}, None, attrs)
    assert np.isfinite(y).all()


@SETTINGS
@given(
    m=st.integers(1, 5),
    k=st.integers(1, 6),
    n=st.integers(1, 5),
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    c_shape=st.sampled_from(["none", "scalar", "row", "full"]),
    alpha=st.floats(0.25, 2.0),
    beta=st.floats(0.25, 2.0),
    seed=st.integers(0, 2**16),
)
def test_gemm_matches_ort(
    check_op: CheckOp,
    m: int,
    k: int,
    n: int,
    trans_a: bool,
    trans_b: bool,
    c_shape: str,
    alpha: float,
    beta: float,
    seed: int,
) -> None:
    a = _rand(seed, *((k, m) if trans_a else (m, k)))
    b = _rand(seed + 1, *((n, k) if trans_b else (k, n)))
    c = {"none": None, "scalar": (1,), "row": (n,), "full": (m, n)}[c_shape]
    consts = {"b": b, "c": None if c is None else _rand(seed + 2, *c)}
    attrs = {"transA": int(trans_a), "transB": int(trans_b), "alpha": alpha, "beta": beta}
    (y,) = check_op("Gemm", {"a": a}, consts, attrs)
    assert y.shape == (m, n)


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    axis_seed=st.integers(0, 100),
    opset=st.sampled_from([11, 13, 17]),
    scale=st.floats(0.1, 30.0),
    seed=st.integers(0, 2**16),
)
def test_softmax_matches_ort(
    check_op: CheckOp, shape: list[int], axis_seed: int, opset: int, scale: float, seed: int
) -> None:
    axis = axis_seed % (2 * len(shape)) - len(shape)
    x = _rand(seed, *shape) * np.float32(scale)
    (y,) = check_op("Softmax", {"x": x}, None, {"axis": axis}, opset=opset)
    assert np.all(y >= 0) and np.all(y <= 1)


@st.composite
def quant_cases(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    per_axis = draw(st.booleans())
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis] if per_axis else 1
    dtype = draw(st.sampled_from(["int8", "uint8"]))
    info = np.iinfo(dtype)
    zp = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n))
    scale = draw(st.lists(st.floats(1e-3, 2.0, allow_subnormal=False), min_size=n, max_size=n))
    return {
        "shape": shape,
        "axis": axis,
        "dtype": dtype,
        "scale": np.asarray(scale, np.float32).reshape(n if per_axis else ()),
        "zp": np.asarray(zp, dtype).reshape(n if per_axis else ()),
        "seed": draw(st.integers(0, 2**16)),
        "spread": draw(st.floats(0.1, 300.0)),
    }


def _with_ties(x: np.ndarray, scale: np.ndarray, axis: int, seed: int) -> np.ndarray:
    """Put some values exactly on a rounding tie (k + 0.5) * scale."""
    s = (
        scale
        if scale.ndim == 0
        else np.moveaxis(np.broadcast_to(scale, np.moveaxis(x, axis, -1).shape), -1, axis)
    )
    ties = (np.round(x / s) + np.float32(0.5)) * s
    mask = np.random.default_rng(seed).random(x.shape) < 0.3
    return np.where(mask, ties, x).astype(np.float32)


@SETTINGS
@given(case=quant_cases())
def test_quantize_linear_is_exact(check_op: CheckOp, case: dict[str, Any]) -> None:
    x = _rand(case["seed"], *case["shape"]) * np.float32(case["spread"])
    x = _with_ties(x, case["scale"], case["axis"], case["seed"])
    consts = {"scale": case["scale"], "zp": case["zp"]}
    (q,) = check_op("QuantizeLinear", {"x": x}, consts, {"axis": case["axis"]}, exact=True)
    assert q.dtype == np.dtype(case["dtype"])


@SETTINGS
@given(case=quant_cases())
def test_dequantize_linear_is_exact(check_op: CheckOp, case: dict[str, Any]) -> None:
    info = np.iinfo(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    q = rng.integers(info.min, int(info.max) + 1, size=case["shape"]).astype(case["dtype"])
    consts = {"scale": case["scale"], "zp": case["zp"]}
    (y,) = check_op("DequantizeLinear", {"q": q}, consts, {"axis": case["axis"]}, exact=True)
    assert y.dtype == np.float32
