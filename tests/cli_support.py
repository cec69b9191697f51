"""Run the ``edgeslim`` console entry point in-process, the way a shell would see it."""

from __future__ import annotations

import pytest

from edgeslim.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code (0 when ``main`` returns), stdout and stderr of ``edgeslim ARGV``."""
    code = 0
    try:
        main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
