"""Layer 1: device profiles as data files (``profiles/<name>.yaml``).

``load_target("cortex-m4")`` returns a frozen :class:`TargetProfile`; ``target_names()`` lists
the bundled profiles. No code branches on a board name: callers read the profile's fields
(flash, RAM, FPU, compiler flags, emulator machine). ``mcu/`` holds the start-up code and linker
script template used to run a profile under QEMU.
"""

from __future__ import annotations

from edgeslim.targets._profile import (
    MCU_DIR,
    PROFILE_DIR,
    Energy,
    QemuSpec,
    TargetProfile,
    load_target,
    target_names,
)

__all__ = [
    "MCU_DIR",
    "PROFILE_DIR",
    "Energy",
    "QemuSpec",
    "TargetProfile",
    "load_target",
    "target_names",
]
