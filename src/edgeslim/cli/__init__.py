"""Layer 6: the command line. A thin typer shell over :mod:`edgeslim.api`.

Every user error (:class:`edgeslim._core.errors.EdgeslimError`) becomes one line
``error: ...`` on stderr and exit code 2, never a traceback. Usage errors are typer's own (exit
2). Sub-command groups live in their own modules and are mounted explicitly (no discovery).
"""

from __future__ import annotations

import sys

from edgeslim._core.errors import EdgeslimError


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    from edgeslim.cli._app import app

    try:
        app(args=argv, prog_name="edgeslim")
    except EdgeslimError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
