"""C-writing helpers, target profiles, and strict compiles of the golden sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeslim._core.errors import EdgeslimError
from edgeslim.codegen._c import C_RESERVED, c_double, c_float, c_literal, sanitize_identifier
from edgeslim.targets import load_target, target_names

GOLDEN = Path(__file__).resolve().parent / "golden"


@given(st.text(max_size=20))
def test_sanitized_identifiers_are_valid_and_not_reserved(name: str) -> None:
    ident = sanitize_identifier(name)
    assert ident.replace("_", "a").isalnum() and ident.isascii()
    assert not ident[0].isdigit()
    assert ident not in C_RESERVED and not ident.startswith("__")


@pytest.mark.parametrize("word", ["int", "float", "return", "_Bool", "__x", "_Abc", "1x"])
def test_reserved_words_are_prefixed(word: str) -> None:
    assert sanitize_identifier(word) != word


@given(st.floats(allow_nan=False, width=32))
def test_float_literals_are_exact(v: float) -> None:
    lit = c_float(v)
    if "HUGE" in lit:
        assert np.isinf(v)
    else:
        assert np.float32(float.fromhex(lit.rstrip("f"))) == np.float32(v)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_literals_are_exact(v: float) -> None:
    assert float.fromhex(c_double(v)) == v


def test_int_literal_of_minimum() -> None:
    assert eval(c_literal(-(2**31), "int32_t").replace("(", "").replace(")", "")) == -(2**31)
    assert c_literal(3, "uint32_t") == "3u"


def test_every_bundled_target_loads() -> None:
    names = target_names()
    assert {"host", "cortex-m0plus", "cortex-m4", "cortex-m7"} <= set(names)
    for n in names:
        t = load_target(n)
        assert t.name == n
        assert t.energy.source
        if t.is_mcu:
            assert t.qemu is not None and t.flash_bytes and t.ram_bytes and t.clock_hz
            assert t.energy.joules_per_cycle and t.energy.joules_per_cycle > 0
    m4 = load_target("cortex-m4")
    assert m4.fpu == "sp" and m4.dsp and m4.qemu and m4.qemu.instructions_per_tick == 40.0
    assert load_target("cortex-m0plus").fpu == "none"


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(EdgeslimError, match="cortex-m4"):
        load_target("cortex-m99")


def _compile(cc: list[str], src: Path, tmp: Path) -> None:
    cmd = [
        *cc,
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-O2",
        "-c",
        str(src),
        "-o",
        str(tmp / (src.parent.name + ".o")),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.toolchain("cc")
@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_compiles_strictly_on_host(case: str, tmp_path: Path) -> None:
    _compile(["cc"], GOLDEN / case / "tiny.c", tmp_path)


@pytest.mark.toolchain("arm")
@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4", "cortex-m7"])
def test_golden_compiles_strictly_for_arm(target: str, tmp_path: Path) -> None:
    prof = load_target(target)
    for case in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        _compile([prof.cc, *prof.cflags], case / "tiny.c", tmp_path)
