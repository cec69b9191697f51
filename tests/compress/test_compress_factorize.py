"""Low-rank (SVD, Tucker-2, RNN input projection) and depthwise-separable conversion: exact on
weights of the matching structure, smaller exported artifacts on every zoo family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from compress_cases import ZOO, export_run, onnx_params, tiny_dataset, torch_out, zoo_model
from torch import nn

from edgeslim._core.errors import RecipeError
from edgeslim.passes import create
from edgeslim.passes.compress._lowrank import (
    factor_conv,
    factor_conv_cp,
    factor_linear,
    factor_rnn,
)
from edgeslim.passes.compress._separable import separable

pytestmark = pytest.mark.torch

P = {"rank": 0, "budget": 0.0, "energy": 0.999999, "conv": "tucker"}


def test_linear_svd_is_exact_on_a_low_rank_matrix() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(20, 30)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(30, 3) @ torch.randn(3, 20))
    new, info = factor_linear(lin, P)  # type: ignore[misc]
    assert info["rank"] == 3
    x = torch.randn(5, 20)
    torch.testing.assert_close(new(x), lin(x), atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in new.parameters()) < sum(p.numel() for p in lin.parameters())


@pytest.mark.parametrize("conv_kind", ["tucker", "svd"])
def test_conv_factorization_is_exact_on_a_tucker_weight(conv_kind: str) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 16, 3, padding=1)
    core = torch.randn(2, 2, 3, 3)
    uo, ui = torch.randn(16, 2), torch.randn(12, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("ab...,oa,ib->oi...", core, uo, ui))
    new, info = factor_conv(conv, {**P, "conv": conv_kind})  # type: ignore[misc]
    assert info["kind"] == ("tucker2" if conv_kind == "tucker" else "conv_svd")
    x = torch.randn(2, 12, 6, 6)
    torch.testing.assert_close(new(x), conv(x), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("dims", [1, 2])
def test_cp_of_a_conv_recovers_a_cp_weight(dims: int) -> None:
    torch.manual_seed(0)
    k = (3,) * dims
    conv = (nn.Conv2d if dims == 2 else nn.Conv1d)(6, 8, k, padding=1, stride=1)
    factors = [torch.randn(d, 2, dtype=torch.float64) for d in (8, 6, *k)]
    letters = "abcd"[: 2 + dims]
    w = torch.einsum(f"{','.join(c + 'r' for c in letters)}->{letters}", *factors)
    with torch.no_grad():
        conv.weight.copy_(w.float())
    new, info = factor_conv_cp(conv, {**P, "rank": 2})  # type: ignore[misc]
    assert info["kind"] == "cp" and len(new) == 2 + dims
    x = torch.randn(2, 6, *([7] * dims))
    torch.testing.assert_close(new(x), conv(x), atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM])
def test_rnn_input_projection_is_exact_on_low_rank_inputs(cell: Any) -> None:
    torch.manual_seed(0)
    rnn = cell(10, 4, num_layers=2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        basis = torch.randn(2, 10)
        for name in ("weight_ih_l0", "weight_ih_l0_reverse"):
            w = getattr(rnn, name)
            w.copy_(torch.randn(w.shape[0], 2) @ basis)
    new, info = factor_rnn(rnn, P)  # type: ignore[misc]
    assert info["rank"] == 2
    x = torch.randn(3, 7, 10)
    torch.testing.assert_close(new(x)[0], rnn(x)[0], atol=1e-4, rtol=1e-4)


def test_separable_is_exact_when_each_input_channel_has_rank_one() -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(6, 10, 5, padding=2)
    with torch.no_grad():
        conv.weight.copy_(torch.einsum("oi,ik->oik", torch.randn(10, 6), torch.randn(6, 5)))
    new, info = separable(conv, 1)  # type: ignore[misc]
    assert info["relative_error"] < 1e-10
    x = torch.randn(2, 6, 9)
    torch.testing.assert_close(new(x), conv(x), atol=1e-4, rtol=1e-4)
    assert new[0].groups == 6


@pytest.mark.parametrize(("case", "kind", "params", "spec"), ZOO, ids=[c[0] for c in ZOO])
@pytest.mark.parametrize("method", ["compress.lowrank", "compress.separable"])
def test_factorized_zoo_models_export_smaller(
    case: str,
    kind: str,
    params: dict[str, Any],
    spec: Any,
    method: str,
    tmp_path: Path,
    make_ctx: Any,
) -> None:
    data = tiny_dataset(spec)
    model = zoo_model(kind, params, spec)
    ctx = make_ctx(data)
    settings = {"energy": 0.6, "epochs": 1} if method == "compress.lowrank" else {"epochs": 1}
    if method == "compress.lowrank" and case in ("cnn", "tcn"):
        settings["conv"] = "cp" if case == "cnn" else "tucker"
    result = create(method, settings).apply(model, ctx)
    out, path = export_run(result.model, data, tmp_path / "f.onnx")
    np.testing.assert_allclose(out, torch_out(result.model, data), atol=1e-4, rtol=1e-4)
    _, ref = export_run(model, data, tmp_path / "ref.onnx")
    layers = result.record["layers"]
    if case in ("cnn", "mlp", "tcn", "lstm-bi") and method == "compress.lowrank":
        assert layers, f"nothing factorized in {case}"
    if case in ("cnn", "tcn") and method == "compress.separable":
        assert layers, f"no conv converted in {case}"
    if layers:
        assert onnx_params(path) < onnx_params(ref)
        claim = result.record["claim"]
        assert claim["params_after"] < claim["params_before"]


def test_bad_parameters_name_the_pass() -> None:
    with pytest.raises(RecipeError, match=r"energy of pass 'compress\.lowrank'"):
        create("compress.lowrank", {"energy": 2.0})
    with pytest.raises(RecipeError, match="unknown parameter 'rnak'"):
        create("compress.lowrank", {"rnak": 2})
