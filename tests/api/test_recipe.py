from __future__ import annotations

from pathlib import Path

import pytest

from edgeslim._core.errors import RecipeError
from edgeslim.api import demo_specs, load_recipe, parse_recipe

REPO = Path(__file__).resolve().parents[2]

BASE = """\
name: r1
data: {name: digits}
model:
  kind: cnn
  channels: [4, 8]
"""


def test_single_run_defaults() -> None:
    (spec,) = parse_recipe(BASE)
    assert spec.name == "r1"
    assert spec.model.kind == "cnn"
    assert spec.model.zoo_params() == {"channels": [4, 8]}
    assert spec.passes == ()
    assert spec.measure.threads == (1, 0)


def test_runs_inherit_and_override() -> None:
    text = BASE.replace("name: r1\n", "") + (
        "train: {epochs: 3, lr: 0.01}\n"
        "runs:\n"
        "  - name: a\n"
        "  - name: b\n"
        "    train: {epochs: 7}\n"
        "    model: {kind: gru, hidden: 8}\n"
    )
    a, b = parse_recipe(text)
    assert (a.train.epochs, a.train.lr) == (3, 0.01)
    assert (b.train.epochs, b.train.lr) == (7, 0.01)  # deep-merged
    assert b.model.kind == "gru" and b.model.zoo_params() == {"hidden": 8}  # model replaced


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "train:\n  epochs: -1\n", "line 7: key 'train.epochs'"),
        (BASE + "bogus: 1\n", "line 6: unknown key 'bogus'"),
        (BASE + "measure:\n  threads: [1, -2]\n", "line 7: key 'measure.threads'"),
        (BASE.replace("name: r1", "name: 'bad name'"), "line 1: key 'name'"),
        (BASE + "runs: 3\n", "'runs' must be a list"),
        ("name: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        (BASE + "measure: {backends: [tflite]}\n", "key 'measure.backends.0'"),
    ],
)
def test_errors_name_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(RecipeError, match=r"r\.yaml") as err:
        parse_recipe(text, source="r.yaml")
    assert expected in str(err.value)


def test_duplicate_run_names() -> None:
    text = BASE.replace("name: r1\n", "") + "runs:\n  - name: a\n  - name: a\n"
    with pytest.raises(RecipeError, match="unique"):
        parse_recipe(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_shipped_recipes_validate() -> None:
    paths = sorted((REPO / "recipes").glob("*.yaml"))
    assert paths, "recipes/ must hold examples"
    for p in paths:
        if p.name.startswith("search-"):  # search recipes have their own schema
            pytest.importorskip("optuna")
            from edgeslim.search._space import parse_search_recipe

            assert parse_search_recipe(p.read_text(), source=str(p)), p
        else:
            assert load_recipe(p), p


def test_demo_specs_quick_trims() -> None:
    full, quick = demo_specs(), demo_specs(quick=True)
    assert [s.name for s in full] == [s.name for s in quick]
    assert {s.data.name for s in full} == {"digits", "basic-motions"}
    assert {"cnn", "gru"} <= {s.model.kind for s in full}
    assert all(q.train.epochs == 2 for q in quick)
    assert all(f.train.epochs > 2 for f in full)
