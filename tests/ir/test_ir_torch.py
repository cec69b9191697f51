"""export_torch / import_model: atomic export, TorchScript round trip, import errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeslim._core.errors import ExportError, ModelError, UnsupportedOpError
from edgeslim.ir import Graph, export_torch, import_model, interp

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3, padding=1),
        torch.nn.BatchNorm1d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 7, 3),
    ).eval()


def _agrees_with_torch(graph: Graph, model: torch.nn.Module) -> None:
    x = np.random.default_rng(0).standard_normal((4, 2, 7)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(interp.run(graph, {"input": x})["output"], want, atol=1e-5)


def test_export_writes_a_checked_model_with_dynamic_batch(tmp_path: Path) -> None:
    path = export_torch(_net(), (2, 7), tmp_path / "sub" / "m.onnx")
    assert path == tmp_path / "sub" / "m.onnx" and path.is_file()
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert model.opset_import[0].version == 17
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["m.onnx"]  # no temp left


def test_export_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"keep me")
    with pytest.raises(ExportError, match=r"m\.onnx already exists"):
        export_torch(_net(), (2, 7), path)
    assert path.read_bytes() == b"keep me"
    export_torch(_net(), (2, 7), path, force=True)
    assert onnx.load(str(path)).graph.node


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"bad\.onnx"):
        export_torch(_net(), (3, 7), tmp_path / "bad.onnx")  # wrong channel count
    assert list(tmp_path.iterdir()) == []


def test_import_onnx_file(tmp_path: Path) -> None:
    model = _net()
    graph = import_model(export_torch(model, (2, 7), tmp_path / "m.onnx"))
    _agrees_with_torch(graph, model)


def test_torchscript_round_trip(tmp_path: Path) -> None:
    model = _net()
    scripted = torch.jit.trace(model, torch.zeros(1, 2, 7))
    ts = tmp_path / "m.pt"
    scripted.save(str(ts))
    graph = import_model(ts, input_shape=(2, 7))
    _agrees_with_torch(graph, model)
    kept = tmp_path / "m.onnx"
    again = import_model(ts, input_shape=(2, 7), onnx_path=kept)
    assert kept.is_file() and [n.op for n in again.nodes] == [n.op for n in graph.nodes]
    with pytest.raises(ExportError, match="already exists"):
        import_model(ts, input_shape=(2, 7), onnx_path=kept)


def test_torchscript_needs_input_shape(tmp_path: Path) -> None:
    ts = tmp_path / "m.pt"
    torch.jit.trace(_net(), torch.zeros(1, 2, 7)).save(str(ts))
    with pytest.raises(ModelError, match=r"m\.pt.*input_shape"):
        import_model(ts)


def test_module_import(tmp_path: Path) -> None:
    model = _net()
    _agrees_with_torch(import_model(model, input_shape=(2, 7)), model)
    with pytest.raises(ModelError, match="input_shape"):
        import_model(model)


def test_state_dict_is_not_torchscript(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(_net().state_dict(), str(path))
    with pytest.raises(ModelError, match=r"weights\.pt is not a TorchScript archive"):
        import_model(path, input_shape=(2, 7))


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nothing\.onnx"):
        import_model(tmp_path / "nothing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage\xff")
    with pytest.raises(ModelError, match=r"bad\.onnx"):
        import_model(bad)


def test_invalid_onnx_names_the_file(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["x"], ["y"], bogus=3)
    graph = helper.make_graph(
        [node],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "invalid.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match=r"invalid\.onnx is not a valid ONNX model"):
        import_model(path)


def test_unsupported_op_names_file_op_and_node(tmp_path: Path) -> None:
    node = helper.make_node("Swish", ["x"], ["y"], name="act", domain="com.example")
    graph = helper.make_graph(
        [node],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    with pytest.raises(UnsupportedOpError, match=r"custom\.onnx.*'com\.example\.Swish'.*'act'"):
        import_model(path)
