"""Cortex-M runs under QEMU: outputs, instruction counts, flash and RAM of the model object."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from edgeslim.backends.qemu import CortexMRunner
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.trees import CTreeOptions, render_trees_c
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.codegen.trees.measure import Reference, measure_mcu
from edgeslim.targets import MCU_DIR, load_target
from edgeslim.trees import from_sklearn, predict_index, quantize_features

pytestmark = pytest.mark.toolchain("arm")

CALIBRATION = """\
#include <stdio.h>
#include "es_timer.h"
int main(void)
{
    uint64_t t0, t1;
    es_timer_start();
    t0 = es_timer_ticks();
#if defined(__ARM_ARCH_6M__) /* GCC writes Thumb-1 inline assembly in divided syntax */
    __asm volatile("mov r0, #0\\n1: add r0, #1\\ncmp r0, #250\\nbne 1b"
                   ::: "r0", "cc", "memory");
#else
    __asm volatile("movs r0, #0\\n1: adds r0, #1\\ncmp r0, #250\\nbne 1b"
                   ::: "r0", "cc", "memory");
#endif
    t1 = es_timer_ticks();
    printf("es_ticks work %lu\\n", (unsigned long)(t1 - t0));
    t0 = es_timer_ticks();
    t1 = es_timer_ticks();
    printf("es_ticks empty %lu\\n", (unsigned long)(t1 - t0));
    return 0;
}
"""


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m0plus"])
def test_instruction_count_calibrates(target: str, tmp_path: Path) -> None:
    """A loop of exactly 1 + 3 * 250 = 751 instructions is counted to within one tick."""
    prof = load_target(target)
    src = tmp_path / "cal.c"
    src.write_text(CALIBRATION)
    runner = CortexMRunner(prof, tmp_path)
    res = runner.run(runner.build([src]))
    measured = res.instructions("work") - res.instructions("empty")
    assert abs(measured - 751) <= 2 * prof.qemu.instructions_per_tick  # type: ignore[union-attr]
    assert (MCU_DIR / "startup.c").is_file()


def test_rf_on_cortex_m4_agrees_and_reports_sizes(rf_iris, iris, tmp_path: Path) -> None:
    x, _ = iris
    ens, fq = quantize_features(from_sklearn(rf_iris), x, 16)
    art = render_trees_c(ens, CTreeOptions(name="rf"), fq)
    ref = Reference(x, rf_iris.predict(x), rf_iris.predict_proba(x))
    with CompiledTrees.build(art) as c:
        x_in = c.encode(x[:40])
    m = measure_mcu(art, load_target("cortex-m4"), ref, x_in, tmp_path)
    assert m.value("agreement") == 1.0
    assert 50 < m.value("instructions_per_sample") < 2000
    assert m.value("flash") > 500 and m.value("ram") == 0
    assert (tmp_path / "rf.c").is_file()


def test_regressor_on_soft_float_m0plus(diabetes, tmp_path: Path) -> None:
    x, y = diabetes
    est = GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
    ens = from_sklearn(est)
    art = render_trees_c(ens, CTreeOptions(name="gbr", compare="int"))
    ref = Reference(x, predict_index(ens, x))
    m = measure_mcu(art, load_target("cortex-m0plus"), ref, x[:20], tmp_path)
    assert m.value("agreement") == 1.0
    assert m.value("instructions_per_sample") > 0


def test_object_size_counts_rodata_as_flash(tmp_path: Path) -> None:
    src = tmp_path / "blob.c"
    CWriter().write(
        [
            RenderedFile(
                "blob.c", "const unsigned char blob[1000] = {1};\nunsigned char ram_buf[64];\n"
            )
        ],
        tmp_path,
    )
    sizes = CortexMRunner(load_target("cortex-m4"), tmp_path).object_size(src)
    assert sizes.flash >= 1000 and sizes.ram >= 64
    assert np.isclose(sizes.text + sizes.data, sizes.flash)
