"""Exceptions raised by galmorph.

Every error names the file, row or column at fault and says what to do.
They subclass the built-in exception a user would expect (``ValueError`` for
bad data, ``OSError`` for I/O), so ``except ValueError`` keeps working.
"""

__all__ = ["GalmorphError", "DataError", "ParameterError", "MissingColumnError",
           "CheckpointError", "ModelShapeError", "RunDirError", "CutoutError", "NoModelError"]


class GalmorphError(Exception):
    """Base class of all galmorph errors."""


class DataError(GalmorphError, ValueError):
    """A data folder, table or image is missing, malformed or breaks the GZ2 tree."""


class ParameterError(GalmorphError, ValueError):
    """An argument has a value galmorph cannot use (the message names it and the choices)."""


class MissingColumnError(DataError, KeyError):
    """A table lacks columns galmorph needs (also a ``KeyError``, as a missing key is)."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(GalmorphError, ValueError):
    """A checkpoint is truncated, foreign or from another model or schema."""


class ModelShapeError(CheckpointError):
    """A model's output is not ``(B, 37)``: it was not built for the GZ2 schema."""


class RunDirError(GalmorphError, ValueError):
    """A run directory already holds a different run."""


class CutoutError(GalmorphError, OSError):
    """An image cutout could not be fetched from the survey service."""


class NoModelError(GalmorphError, FileNotFoundError):
    """No model was given and no default model is registered."""
