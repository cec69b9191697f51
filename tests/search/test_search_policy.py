"""Bit widths (int8 through quantize.ptq) and distillation (compress.distill) in the search's
compression policy: recipe checks, costs from the int8 C program, trials that record both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeslim._core.errors import RecipeError
from edgeslim.search import (
    Candidate,
    InstructionModel,
    candidate_cost,
    lower_module,
    parse_search_recipe,
    sample_candidate,
)
from edgeslim.search._study import _quality, build, compress, distills

pytestmark = pytest.mark.torch

BASE = """
name: t
data: {name: synthetic-series}
space:
  recurrent: {cell: [gru], hidden: [4], stride: [4]}
"""
TCN = {"levels": 1, "kernel": 3, "channels": 4, "stride": 4}


@pytest.mark.parametrize(
    ("compression", "fragment"),
    [
        ("{bits: [32, 16]}", "space.compression.bits"),
        ("{bits: [true]}", "space.compression.bits"),
        ("{distill: [yes-please]}", "space.compression.distill"),
        ("{distill: [true], teacher: gru-64}", "space.compression.teacher"),
    ],
)
def test_policy_errors_name_the_key(compression: str, fragment: str) -> None:
    with pytest.raises(RecipeError, match=fragment.replace(".", r"\.")):
        parse_search_recipe(BASE + f"  compression: {compression}\n", source="r.yaml")


def test_policy_defaults_and_the_rnn_cell_stays_float() -> None:
    import optuna

    r = parse_search_recipe(
        BASE.replace("[gru]", "[rnn]")
        + "  compression: {bits: [8], distill: [true], teacher: [unpruned, gru-8]}\n"
        + "baselines: {gru-8: {kind: gru, hidden: 8}}\n"
    )
    cand = sample_candidate(optuna.create_study().ask(), r)
    assert cand.policy["bits"] == 32  # quantize.ptq rejects the unrolled cell's shared weights
    assert cand.policy["distill"] is True and cand.policy["teacher"] in ("unpruned", "gru-8")
    plain = sample_candidate(optuna.create_study().ask(), parse_search_recipe(BASE))
    assert plain.policy["bits"] == 32 and plain.policy["distill"] is False


def test_int8_candidate_lowers_to_int8_kernels_and_is_scored_quantized(
    tiny_series: Any, tmp_path: Path
) -> None:
    r = parse_search_recipe(BASE)
    pol = {"bits": 8, "lr": 0.01, "epochs": 1}
    cand = Candidate("tcn", TCN, pol)
    q = compress(build(cand, r, tiny_series), cand, r, tiny_series, False)
    program, onnx_path = lower_module(q, tiny_series, tmp_path, "host")
    assert program.int8 and any(s.kernel.startswith("q") for s in program.steps)
    import onnx

    ops = {n.op_type for n in onnx.load(str(onnx_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    f = build(Candidate("tcn", TCN, dict(pol, bits=32)), r, tiny_series)
    model = InstructionModel("host", {"qconv": (1.0, 0.0, 0.0), "conv1d": (50.0, 0.0, 0.0)})
    c8 = candidate_cost(q, tiny_series, "host", model)
    c32 = candidate_cost(f, tiny_series, "host", model)
    assert c8.macs == c32.macs and c8.params == c32.params
    assert c8.instructions != c32.instructions  # the int8 kernels have their own coefficients
    score = _quality(q, tiny_series, "val")
    assert 0.0 <= score["accuracy"] <= 1.0 and score["samples"] == len(tiny_series.x_val)


def test_distillation_replaces_the_plain_fine_tune(
    tiny_series: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeslim import passes

    calls: list[tuple[str, dict[str, Any]]] = []
    real = passes.apply

    def spy(name: str, model: Any, params: dict[str, Any], ctx: Any) -> Any:
        calls.append((name, dict(params)))
        if name == "compress.distill":
            assert ctx.extras["chain_input"] is not model  # the unpruned teacher
        return real(name, model, params, ctx)

    monkeypatch.setattr(passes, "apply", spy)
    r = parse_search_recipe(BASE)
    pol = {"sparsity": 0.5, "distill": True, "fine_tune_epochs": 1, "lr": 0.01, "epochs": 1}
    cand = Candidate("tcn", TCN, pol)
    assert distills(cand)
    out = compress(build(cand, r, tiny_series), cand, r, tiny_series, True)
    assert [c[0] for c in calls] == ["prune.channel", "compress.distill"]
    assert calls[0][1]["fine_tune_epochs"] == 0 and calls[1][1]["epochs"] == 1
    assert np.isfinite(_quality(out, tiny_series, "val")["loss"])
    # nothing pruned and the unpruned teacher: the student would be its own teacher
    assert not distills(Candidate("tcn", TCN, dict(pol, sparsity=0.0)))
    assert distills(Candidate("tcn", TCN, dict(pol, sparsity=0.0, teacher="gru-8")))


def test_search_records_bits_and_distillation_per_trial(tmp_path: Path) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    recipe = tmp_path / "p.yaml"
    recipe.write_text(
        """
name: pol
seed: 0
data: {name: synthetic-series, params: {n_samples: 120, steps: 40}}
objectives: {accuracy: max, flash: min}
sampler: random
pruner: none
train: {epochs: 1, batch_size: 8, lr: 0.01}
space:
  tcn: {levels: [1], kernel: [3], channels: [4], stride: [4]}
  compression: {sparsity: [0.5], fine_tune_epochs: [1], bits: [32, 8], distill: [false, true]}
export_top: 0
"""
    )
    store = open_store(tmp_path / "s.db")
    info = s.search(recipe, target="host", store=store, trials=4, calibration_samples=0,
                    out_dir=tmp_path / "o")  # fmt: skip
    trained = [t for t in info["trials"] if t["status"] == "trained"]
    assert len(trained) == 4
    assert {t["bits"] for t in trained} == {32, 8}  # both widths sampled (seed 0)
    assert {t["distilled"] for t in trained} == {False, True}
    for t in trained:
        assert t["bits"] == t["candidate"]["policy"]["bits"]
        assert t["distilled"] == t["candidate"]["policy"]["distill"]
        assert t["params"]["compression.bits"] in (32, 8)
        import onnx

        ops = {n.op_type for n in onnx.load(t["onnx"]).graph.node}
        assert ("QuantizeLinear" in ops) == (t["bits"] == 8)


def _toolchain() -> bool:
    from edgeslim.backends.qemu import mcu_toolchain_available
    from edgeslim.targets import load_target

    return mcu_toolchain_available(load_target("cortex-m4"))


@pytest.mark.toolchain
@pytest.mark.slow
@pytest.mark.skipif(
    not _toolchain(), reason="needs arm-none-eabi-gcc, arm-none-eabi-size and qemu-system-arm"
)
def test_int8_calibration_and_front_measured_in_qemu(tmp_path: Path) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    recipe = tmp_path / "q.yaml"
    recipe.write_text(
        """
name: q8
data: {name: synthetic-series, params: {n_samples: 120, steps: 40}}
objectives: {accuracy: max, instructions: min}
pruner: none
train: {epochs: 1, batch_size: 8, lr: 0.01}
space:
  tcn: {levels: {low: 1, high: 2}, kernel: [2, 3], channels: [4, 8], stride: [2, 4]}
  compression: {bits: [8]}
export_top: 1
"""
    )
    store = open_store(tmp_path / "s.db")
    model = s.calibrate(recipe, "cortex-m4", store, samples=3)
    assert s.has_int8_kernels(model)  # int8 kernels get their own coefficients
    info = s.search(recipe, target="cortex-m4", store=store, trials=2, out_dir=tmp_path / "o")
    assert info["exports"]
    for e in info["exports"]:
        assert e["int8"] and e["bits"] == 8 and e["exact"]  # bit-exact int8 C in QEMU
        m, p = e["measured"], e["predicted"]
        assert m["flash_bytes"] == p["flash_bytes"]  # the int8 object, costed and deployed
        assert m["arena_bytes"] == p["ram_bytes"]
        assert abs(e["instructions_error"]) < 0.5


def test_distillation_on_a_regression_set_is_refused(tmp_path: Path) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    recipe = tmp_path / "f.yaml"
    recipe.write_text(
        "name: f\ndata: {name: synthetic-forecast}\nobjectives: {mae: min}\n"
        "space:\n  mlp: {depth: [1], width: [4]}\n  compression: {distill: [false, true]}\n"
    )
    with pytest.raises(RecipeError, match=r"space\.compression\.distill.*classification"):
        s.search(recipe, target="host", store=open_store(tmp_path / "s.db"), trials=1)
