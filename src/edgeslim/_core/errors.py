"""One error tree. Every message names the file, the op or the parameter at fault.

The CLI catches :class:`EdgeslimError` and prints ``error: <message>`` with exit code 2, never a
traceback. Library code raises these (or subclasses) for anything caused by user input; bugs stay
ordinary exceptions so that they do show a traceback.
"""

from __future__ import annotations


class EdgeslimError(Exception):
    """Base class of every error caused by user input (a file, a parameter, a recipe, a model)."""


class DataError(EdgeslimError):
    """A dataset could not be found, loaded or matched to a model (names the file or dataset)."""


class ModelError(EdgeslimError):
    """A model file or config is missing, corrupt or inconsistent (names the file or key)."""


class RecipeError(EdgeslimError):
    """A recipe is malformed (names the key and, where known, the line)."""


class ExportError(EdgeslimError):
    """A model could not be exported or an artifact could not be written (names the file)."""


class UnsupportedOpError(ModelError):
    """An op is not supported by the IR, the interpreter or a backend (names op and node)."""

    def __init__(self, op: str, node: str, where: str = "the edgeslim IR") -> None:
        self.op = op
        self.node = node
        super().__init__(f"unsupported op {op!r} (node {node!r}) in {where}")


class StoreError(EdgeslimError):
    """The result store could not be opened or a run was not found (names the URL or run)."""
